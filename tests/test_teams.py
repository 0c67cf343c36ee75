"""The team provider's ordinary life against the fake Concourse API (tests/fake_concourse.py), and the Teams wiring.

Faults (resets, 5xx, stalls, malformed replies, tokens, DNS, certificates, late commits) are in test_teams_faults.py.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from components.concourse.team_api import TeamApiError, retry_after
from components.concourse.teams import ConcourseTeam, TeamProvider, Teams, team_auth
from components.config import loader, schema
from components.config.loader import ConfigError
from tests.conftest import stack_config
from tests.fake_concourse import GROUP, OTHER_GROUP, FakeConcourse, VirtualClock, running
from tests.fake_concourse import props as fake_props
from tools import offline


@pytest.fixture
def concourse() -> Iterator[FakeConcourse]:
    with running() as server:
        yield server


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def provider(clock: VirtualClock) -> TeamProvider:
    return TeamProvider(clock, {"connect_timeout": 0.5, "read_timeout": 0.5, "first_wait": 0.05, "max_wait": 0.2})


def props(server: FakeConcourse, name: str = "payments", groups: list[str] | None = None, **over: Any):
    return fake_props(server, name, tuple(groups or ()), **over)


def test_create_read_update_delete(concourse: FakeConcourse, provider: TeamProvider, clock: VirtualClock):
    created = provider.create(props(concourse))
    assert created.id == "payments"
    assert concourse.teams["payments"]["auth"] == props(concourse)["auth"]
    assert created.outs is not None
    assert created.outs["teamId"] == 2
    assert ("POST", "/sky/issuer/token") in concourse.requests

    read = provider.read("payments", created.outs)
    assert read.id == "payments"
    assert read.outs is not None
    assert read.outs["auth"] == props(concourse)["auth"]

    changed = props(concourse, groups=[GROUP, OTHER_GROUP])
    diff = provider.diff("payments", created.outs, changed)
    assert diff.changes is True
    assert not diff.replaces
    updated = provider.update("payments", created.outs, changed)
    assert updated.outs is not None
    assert concourse.teams["payments"]["auth"]["owner"]["groups"] == [f"oidc:{GROUP}", f"oidc:{OTHER_GROUP}"]
    assert concourse.teams["payments"]["id"] == 2  # updated in place, not recreated

    provider.delete("payments", updated.outs)
    assert "payments" not in concourse.teams
    gone = provider.read("payments", updated.outs)
    assert gone.id == ""
    provider.delete("payments", updated.outs)  # already gone counts as deleted
    assert clock.sleeps == []


def test_unchanged_team_is_no_change_and_renamed_team_is_replaced(concourse: FakeConcourse, provider: TeamProvider):
    outs = provider.create(props(concourse)).outs
    assert outs is not None
    reordered = props(concourse)
    reordered["auth"] = {"owner": {"groups": [f"oidc:{GROUP}"], "users": ["local:payments-bot"]}}
    assert provider.diff("payments", outs, reordered).changes is False
    assert concourse.requests.count(("PUT", "/api/v1/teams/payments")) == 1

    renamed = provider.diff("payments", outs, props(concourse, name="billing"))
    assert renamed.changes is True
    assert renamed.replaces == ["teamName"]

    rotated = provider.diff("payments", outs, props(concourse, adminPassword="new-admin-password"))
    assert rotated.changes is True  # later calls, delete included, need the new password
    assert not rotated.replaces


def test_client_errors_fail_at_once_and_name_the_team(concourse: FakeConcourse, provider: TeamProvider, clock):
    with pytest.raises(TeamApiError, match=r"team 'payments': POST .*/sky/issuer/token: log in as local user 'admin'"):
        provider.create(props(concourse, adminPassword="wrong"))
    bad = props(concourse)
    bad["auth"] = {"owner": {"users": [], "groups": []}}
    with pytest.raises(TeamApiError, match=r"team 'payments': PUT .*/payments: 400 Bad Request \(Concourse refused"):
        provider.create(bad)
    assert "payments" not in concourse.teams
    assert clock.sleeps == []


def test_check_refuses_what_concourse_would_refuse(provider: TeamProvider):
    result = provider.check({}, {"teamName": "payments", "auth": {"owner": {"users": [], "groups": []}}})
    assert [failure.property for failure in result.failures] == ["auth"]
    assert "payments" in result.failures[0].reason
    assert provider.check({}, {"teamName": "payments", "auth": offline.UNKNOWN}).failures == []


def test_team_auth_maps_roles_to_groups_and_the_service_user():
    team = schema.TeamConfig.model_validate(
        {"name": "payments", "serviceUser": "payments-bot", "roles": {"owner": ["rel"], "pipelineOperator": ["dev"]}}
    )
    assert team_auth(team, {"rel": OTHER_GROUP, "dev": GROUP}) == {
        "owner": {"users": ["local:payments-bot"], "groups": [f"oidc:{OTHER_GROUP}"]},
        "pipeline-operator": {"users": [], "groups": [f"oidc:{GROUP}"]},
    }


def test_teams_under_the_mock_engine():
    """Every team but main, after Concourse, with the admin password secret in inputs and outputs."""

    def program() -> None:
        cfg = loader.load()
        release = pulumi.CustomResource("kubernetes:helm.sh/v3:Release", "concourse", {})
        ids = {key: pulumi.Output.from_input(group.object_id or "") for key, group in cfg.identity.groups.items()}
        Teams("teams", cfg, pulumi.Output.secret("pw"), ids, concourse_ready=[release])

    flat, secret_keys = offline.flatten_config(stack_config("prod"))
    plan = offline.run("prod", flat, secret_keys, program=program)
    team = plan.get("pulumi-python:dynamic/concourse:Team", "team-payments")
    assert team.inputs["teamName"] == "payments"
    assert team.inputs["url"] == "https://ci.cd.contoso.com"
    assert team.inputs["adminUser"] == "admin"
    assert team.inputs["adminPassword"] == offline.SECRET
    assert team.inputs["__provider"] == offline.SECRET
    assert "adminPassword" in team.additional_secret_outputs
    assert team.inputs["auth"] == {
        "owner": {"users": ["local:payments-bot"], "groups": ["oidc:9d3f6b1a-2e4c-4a8b-8f7d-1c5e9a3b7d62"]},
        "member": {"users": [], "groups": ["oidc:0b7e4d2c-8a15-4f3e-b6d9-2c1a7e5f9d04"]},
    }
    assert team.inputs["budgetSeconds"] == 150
    ready = plan.get("pulumi-python:dynamic/concourse:ApiReady", "concourse-api-ready")
    assert ready.inputs["url"] == "https://ci.cd.contoso.com"
    assert ready.inputs["waitSeconds"] == 900
    # Every team waits for the API's certificate, which waits for the Concourse release.
    assert ready.urn in team.dependencies
    assert plan.get("kubernetes:helm.sh/v3:Release", "concourse").urn in ready.dependencies
    assert not [r for r in plan.registrations if r.inputs.get("teamName") == "main"]


def teams_not_waiting_for_the_api(plan: Any) -> list[str]:
    """Teams that could be written before Concourse's host answers with its certificate (issue 10 item 11)."""
    ready = {r.urn for r in plan.registrations if r.type == "pulumi-python:dynamic/concourse:ApiReady"}
    teams = [r for r in plan.registrations if r.type == "pulumi-python:dynamic/concourse:Team"]
    return [r.name for r in teams if not ready & set(r.dependencies)]


def test_every_team_waits_for_the_api_and_a_team_wired_only_after_the_release_is_caught(shared_plan):
    assert teams_not_waiting_for_the_api(shared_plan("prod")) == []

    def planted() -> None:
        """The old wiring: the team waits for the Concourse release only, racing the certificate."""
        release = pulumi.CustomResource("kubernetes:helm.sh/v3:Release", "concourse", {})
        ConcourseTeam(
            "team-payments",
            team_name="payments",
            auth={"owner": {"users": ["local:payments-bot"], "groups": []}},
            url="https://ci.cd.contoso.com",
            admin_user="admin",
            admin_password="pw",
            budget_seconds=150,
            opts=pulumi.ResourceOptions(depends_on=[release]),
        )

    flat, secret_keys = offline.flatten_config(stack_config("prod"))
    assert teams_not_waiting_for_the_api(offline.run("prod", flat, secret_keys, program=planted)) == ["team-payments"]


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("teamApiBudgetSeconds", 5, "greater than or equal to 30"),
        ("teamApiBudgetSeconds", 3600, "less than or equal to 600"),
        ("certificateWaitSeconds", 30, "greater than or equal to 120"),
        ("teamApiBudgetSeconds", "2m", "valid integer"),
    ],
)
def test_team_api_budgets_are_validated_before_any_resource(shared_plan, key: str, value: Any, allowed: str):
    raw = copy.deepcopy(stack_config("staging"))
    raw.setdefault("cdstack:concourse", {})[key] = value
    with pytest.raises(ConfigError) as caught:
        shared_plan("staging", raw)
    message = str(caught.value)
    assert message.startswith("Pulumi.staging.yaml: invalid configuration")
    line = next(line for line in message.splitlines() if f"cdstack:concourse.{key}:" in line)
    assert f"got {value!r}" in line or f"got {value}" in line
    assert allowed in line, line


def test_retry_after_takes_seconds_or_an_http_date():
    now = datetime.datetime(2015, 10, 21, 7, 27, 30, tzinfo=datetime.UTC)
    assert retry_after("120") == 120.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 30.0
    assert retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now=now) == 0.0  # already past: no wait
    assert retry_after("soon") is None
    assert retry_after(None) is None


def test_every_stack_creates_its_smoke_team_even_with_no_team_of_its_own(plan_of):
    """The smoke team (naming.SMOKE_TEAM) is created like an operator's team: a generated password, its login in Vault
    under the team's path, the team owned by its service user alone, after the API answers."""
    raw = stack_config("staging")
    raw.pop("cdstack:teams", None)
    plan = plan_of("staging", raw)
    team = plan.get("pulumi-python:dynamic/concourse:Team", "team-cdstack-smoke")
    assert team.inputs["auth"] == {"owner": {"users": ["local:cdstack-smoke"], "groups": []}}
    assert plan.get("pulumi-python:dynamic/concourse:ApiReady", "concourse-api-ready").urn in team.dependencies
    assert plan.get("random:index/randomPassword:RandomPassword", "cdstack-smoke-password")
    login = plan.get("vault:kv/secretV2:SecretV2", "cdstack-smoke-service-user")
    assert login.inputs["name"] == "cdstack-smoke/service-user"
    assert [r.name for r in plan.registrations if r.type == "pulumi-python:dynamic/concourse:Team"] == [
        "team-cdstack-smoke"
    ]
