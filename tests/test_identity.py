"""The Concourse login app registration and team groups under the mock engine; the rotation schedule as data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pulumi
import pytest

from components.config import loader
from components.identity import GRAPH_USER_READ, MICROSOFT_GRAPH, secret_window
from components.stack import CdStack
from tests.conftest import stack_config
from tools import offline

STACKS = ["staging", "prod"]
APP = "azuread:index/application:Application"
PASSWORD = "azuread:index/applicationPassword:ApplicationPassword"


def login_program() -> None:
    stack = CdStack(loader.load())
    login = stack.login.login
    pulumi.export("issuerUrl", login.issuer_url)
    pulumi.export("clientId", login.client_id)
    pulumi.export("clientSecret", login.client_secret)
    for key, object_id in login.group_object_ids.items():
        pulumi.export(f"group.{key}", object_id)


@pytest.fixture(scope="module")
def plans() -> dict[str, offline.Plan]:
    result = {}
    for stack in STACKS:
        flat, secret_keys = offline.flatten_config(stack_config(stack))
        result[stack] = offline.run(stack, flat, secret_keys, program=login_program)
    return result


@pytest.mark.parametrize("stack", STACKS)
def test_app_registration_lets_this_tenant_log_in_to_concourse(plans: dict[str, offline.Plan], stack: str):
    app = plans[stack].get(APP, "concourse-app").inputs
    host = "ci.staging.cd.contoso.com" if stack == "staging" else "ci.cd.contoso.com"
    assert app["displayName"] == f"contoso-{stack}-concourse"
    assert app["signInAudience"] == "AzureADMyOrg"
    assert app["web"]["redirectUris"] == [f"https://{host}/sky/issuer/callback"]
    assert app["groupMembershipClaims"] == ["ApplicationGroup"]
    assert app["requiredResourceAccesses"] == [
        {"resourceAppId": MICROSOFT_GRAPH, "resourceAccesses": [{"id": GRAPH_USER_READ, "type": "Scope"}]}
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_service_principal_and_rotating_secret_belong_to_the_app(plans: dict[str, offline.Plan], stack: str):
    plan = plans[stack]
    app = plan.get(APP, "concourse-app")
    sp = plan.get("azuread:index/servicePrincipal:ServicePrincipal", "concourse-sp")
    assert sp.inputs["clientId"] == app.state["clientId"]
    password = plan.get(PASSWORD, "concourse-secret")
    assert password.inputs["applicationId"] == "/offline/azuread/index/application/Application/concourse-app"
    days = 90  # both stacks: the default, and prod sets it explicitly
    window = secret_window(datetime.now(UTC).date(), days)
    assert password.inputs["rotateWhenChanged"] == {"rotation": window.starts.isoformat()}
    assert password.inputs["endDate"] == window.end_date


@pytest.mark.parametrize("stack", STACKS)
def test_login_outputs_issuer_client_id_and_a_secret(plans: dict[str, offline.Plan], stack: str):
    out = plans[stack].outputs
    assert out["issuerUrl"] == f"https://login.microsoftonline.com/{offline.TENANT_ID}/v2.0"
    assert out["clientId"] == plans[stack].get(APP, "concourse-app").state["clientId"]
    assert out["clientSecret"] == offline.SECRET


def test_groups_are_created_only_where_config_asks_and_otherwise_looked_up(plans: dict[str, offline.Plan]):
    staging, prod = plans["staging"], plans["prod"]
    [created] = staging.by_type("azuread:index/group:Group")
    assert created.name == "group-qa-viewers"
    assert created.inputs["displayName"] == "contoso-staging-qa-viewers"
    assert created.inputs["securityEnabled"] is True
    assert created.inputs["description"] == "Read-only access to staging pipelines for QA."
    assert staging.outputs["group.qa-viewers"] == created.state["objectId"]
    assert staging.outputs["group.platform-admins"] == "6f1c2a9e-3b7d-4c11-9e2a-5d8b0f4a7c31"
    assert staging.outputs["group.payments-devs"] == "0b7e4d2c-8a15-4f3e-b6d9-2c1a7e5f9d04"
    assert prod.by_type("azuread:index/group:Group") == []
    assert prod.outputs["group.payments-release"] == "9d3f6b1a-2e4c-4a8b-8f7d-1c5e9a3b7d62"


# ---------------------------------------------------------------------------------------------------------------------
# Rotation schedule


def test_every_day_of_one_period_computes_the_same_window():
    first = secret_window(date(2026, 9, 4), 90)
    assert first.starts == date(2026, 9, 4)
    for offset in range(90):
        assert secret_window(first.starts + timedelta(days=offset), 90) == first


def test_the_first_day_of_the_next_period_rotates():
    before = secret_window(date(2026, 12, 2), 90)
    after = secret_window(date(2026, 12, 3), 90)
    assert (before.starts, after.starts) == (date(2026, 9, 4), date(2026, 12, 3))


@pytest.mark.parametrize("days", [7, 90, 730])
@pytest.mark.parametrize("today", [date(2026, 1, 1), date(2027, 6, 30), date(2031, 2, 28)])
def test_a_secret_outlives_its_successors_due_date_by_a_whole_period(days: int, today: date):
    window = secret_window(today, days)
    next_rotation = window.starts + timedelta(days=days)
    expiry = date.fromisoformat(window.end_date.removesuffix("T00:00:00Z"))
    assert window.starts <= today < next_rotation
    assert expiry - next_rotation == timedelta(days=days)
    assert window.end_date.endswith("T00:00:00Z")
