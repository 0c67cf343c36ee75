"""The team provider against a local server that follows Concourse's team API contract, and the Teams wiring.

The server mirrors atc/api/teamserver and skymarshal: the OAuth2 password grant at /sky/issuer/token (fly's client,
local users only), bearer tokens on /api/v1, PUT 201 created / 200 updated / 400 on an invalid auth body, GET 200 or
404, DELETE 204 or 404, 401 without a valid token; PUT answers {"team": {...}}, GET the team {"id", "name", "auth"}.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs

import pulumi
import pytest

from components import config
from components.teams import Backoff, TeamApiError, TeamProvider, Teams, team_auth
from tests.conftest import stack_config
from tools import offline

ADMIN, PASSWORD, TOKEN = "admin", "s3cret-admin", "token-abc"
GROUP = "0b7e4d2c-8a15-4f3e-b6d9-2c1a7e5f9d04"
OTHER_GROUP = "9d3f6b1a-2e4c-4a8b-8f7d-1c5e9a3b7d62"


class FakeConcourse(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.teams: dict[str, dict[str, Any]] = {"main": {"id": 1, "name": "main", "auth": {}}}
        self.faults: list[str] = []  # "502" or "drop" (or "PUT:502": only for that method), one per request
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    @property
    def fake(self) -> FakeConcourse:
        return cast(FakeConcourse, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_one(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.fake.lock:
            self.fake.requests.append((method, self.path))
            faults = self.fake.faults
            fault = (
                faults.pop(0).rpartition(":")[2] if faults and faults[0].rpartition(":")[0] in ("", method) else None
            )
        if fault == "drop":
            self.close_connection = True
            self.connection.close()  # no response at all, as a load balancer cutting the connection
            return
        if fault == "502":
            return self.reply(502)
        if self.path == "/sky/issuer/token" and method == "POST":
            return self.token(body)
        if not self.path.startswith("/api/v1/teams/"):
            return self.reply(404)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.reply(401)
        name = self.path.removeprefix("/api/v1/teams/")
        with self.fake.lock:
            self.team(method, name, body)

    def token(self, body: bytes) -> None:
        client = base64.b64encode(b"fly:Zmx5").decode()
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        if self.headers.get("Authorization") != f"Basic {client}":
            return self.reply(401, {"error": "invalid_client"})
        if form.get("grant_type") != "password" or "openid" not in form.get("scope", ""):
            return self.reply(400, {"error": "invalid_request"})
        if (form.get("username"), form.get("password")) != (ADMIN, PASSWORD):
            return self.reply(401, {"error": "access_denied", "error_description": "Invalid username or password"})
        self.reply(200, {"access_token": TOKEN, "token_type": "bearer", "expires_in": 86399})

    def team(self, method: str, name: str, body: bytes) -> None:
        teams = self.fake.teams
        if method == "GET":
            return self.reply(200, teams[name]) if name in teams else self.reply(404)
        if method == "DELETE":
            if name not in teams:
                return self.reply(404)
            del teams[name]
            return self.reply(204)
        try:
            auth = json.loads(body)["auth"]
        except (ValueError, KeyError):
            return self.reply(400)
        if not auth or any(not (role.get("users") or role.get("groups")) for role in auth.values()):
            return self.reply(400)
        created = name not in teams
        if created:
            teams[name] = {"id": len(teams) + 1, "name": name}
        teams[name]["auth"] = auth
        self.reply(201 if created else 200, {"team": teams[name]})

    def do_GET(self) -> None:
        self.handle_one("GET")

    def do_PUT(self) -> None:
        self.handle_one("PUT")

    def do_POST(self) -> None:
        self.handle_one("POST")

    def do_DELETE(self) -> None:
        self.handle_one("DELETE")


@pytest.fixture
def concourse() -> Iterator[FakeConcourse]:
    server = FakeConcourse()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def provider(sleeps: Sleeps) -> TeamProvider:
    return TeamProvider(Backoff(attempts=4, first_delay=1.0, max_delay=3.0, sleep=sleeps), timeout=(2.0, 2.0))


def props(server: FakeConcourse, name: str = "payments", groups: list[str] | None = None, **over: Any):
    auth = {"owner": {"users": ["local:payments-bot"], "groups": [f"oidc:{g}" for g in (groups or [GROUP])]}}
    return {"teamName": name, "auth": auth, "url": server.url, "adminUser": ADMIN, "adminPassword": PASSWORD, **over}


def test_create_read_update_delete(concourse: FakeConcourse, provider: TeamProvider, sleeps: Sleeps):
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
    assert sleeps == []


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


def test_transient_failures_are_retried_with_backoff(concourse: FakeConcourse, provider: TeamProvider, sleeps: Sleeps):
    concourse.faults = ["502", "drop"]  # token request: a 502, then a dropped connection, then success
    created = provider.create(props(concourse))
    assert created.id == "payments"
    assert "payments" in concourse.teams
    assert sleeps == [1.0, 2.0]
    concourse.faults = ["PUT:drop", "PUT:502"]  # the PUT: dropped, then a 502, then success
    sleeps.clear()
    assert created.outs is not None
    provider.update("payments", created.outs, props(concourse, groups=[OTHER_GROUP]))
    assert concourse.teams["payments"]["auth"]["owner"]["groups"] == [f"oidc:{OTHER_GROUP}"]
    assert sleeps == [1.0, 2.0]
    assert concourse.requests.count(("PUT", "/api/v1/teams/payments")) == 4


def test_retries_are_bounded(concourse: FakeConcourse, provider: TeamProvider, sleeps: Sleeps):
    concourse.faults = ["502"] * 10
    with pytest.raises(TeamApiError, match=r"still failing after 4 attempts \(502 Bad Gateway\)"):
        provider.create(props(concourse))
    assert sleeps == [1.0, 2.0, 3.0]
    assert "payments" not in concourse.teams


def test_client_errors_fail_at_once_and_name_the_team(concourse: FakeConcourse, provider: TeamProvider, sleeps: Sleeps):
    with pytest.raises(TeamApiError, match=r"log in to Concourse as local user 'admin': 401 Unauthorized"):
        provider.create(props(concourse, adminPassword="wrong"))
    bad = props(concourse)
    bad["auth"] = {"owner": {"users": [], "groups": []}}
    with pytest.raises(TeamApiError, match=r"set team 'payments': 400 Bad Request \(Concourse refused the team"):
        provider.create(bad)
    assert "payments" not in concourse.teams
    assert sleeps == []


def test_check_refuses_what_concourse_would_refuse(provider: TeamProvider):
    result = provider.check({}, {"teamName": "payments", "auth": {"owner": {"users": [], "groups": []}}})
    assert [failure.property for failure in result.failures] == ["auth"]
    assert "payments" in result.failures[0].reason
    assert provider.check({}, {"teamName": "payments", "auth": offline.UNKNOWN}).failures == []


def test_team_auth_maps_roles_to_groups_and_the_service_user():
    team = config.TeamConfig.model_validate(
        {"name": "payments", "serviceUser": "payments-bot", "roles": {"owner": ["rel"], "pipelineOperator": ["dev"]}}
    )
    assert team_auth(team, {"rel": OTHER_GROUP, "dev": GROUP}) == {
        "owner": {"users": ["local:payments-bot"], "groups": [f"oidc:{OTHER_GROUP}"]},
        "pipeline-operator": {"users": [], "groups": [f"oidc:{GROUP}"]},
    }


def test_teams_under_the_mock_engine():
    """Every team but main, after Concourse, with the admin password secret in inputs and outputs."""

    def program() -> None:
        cfg = config.load()
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
    assert plan.get("kubernetes:helm.sh/v3:Release", "concourse").urn in team.dependencies
    assert not [r for r in plan.registrations if r.inputs.get("teamName") == "main"]
