"""Concourse teams as code: each team's local service user, its credentials in Vault, and the team itself.

Two components, because Concourse sits between them: `TeamUsers` generates the service users' passwords (the
Concourse web Secret's `local-users` needs them) and writes each user's login to Vault under its team's path, so the
team's pipelines can log in with fly and set pipelines from git; `Teams` then creates every team except main (the
chart configures main) through Concourse's team API, once Concourse runs, as the main team's admin local user.

The team resource is a Pulumi dynamic provider (`TeamProvider`) over Concourse's API, as atc/api/teamserver serves it:
`PUT /api/v1/teams/<team>` with `{"auth": {<role>: {"users": [...], "groups": [...]}}}` creates (201) or updates
(200) in one write; `GET` reads (200, 404); `DELETE` deletes (204, 404). The bearer token comes from the OAuth2
password grant at `/sky/issuer/token` with fly's client id. Load-balancer 5xx and TLS handshake timeouts on Azure are
retried with bounded exponential backoff; any other 4xx stops at once with the team and status in the message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic
import pulumi_random as random
import pulumi_vault as vault
import requests

from components.config import StackConfig, TeamConfig
from components.vault_access import VaultAccess

ROLES = {"owner": "owner", "member": "member", "pipeline_operator": "pipeline-operator", "viewer": "viewer"}
"""Concourse's role names by the field of cdstack:teams[].roles."""

SERVICE_USER_SECRET = "service-user"
"""Name of the Vault secret under <prefix>/<team>/: pipelines read ((service-user.username)) and so on."""

# fly's OAuth2 client, built into every Concourse web (atc/atccmd); only local users can use the password grant.
FLY_CLIENT = ("fly", "Zmx5")
TOKEN_SCOPE = "openid profile email federated:id groups"


# ---------------------------------------------------------------------------------------------------------------------
# Pure data


def team_auth(team: TeamConfig, group_object_ids: Mapping[str, str]) -> dict[str, dict[str, list[str]]]:
    """The team's auth as Concourse's API takes it: the service user owns it; roles without members are left out
    (Concourse refuses a role with neither users nor groups)."""
    auth: dict[str, dict[str, list[str]]] = {}
    for field, role in ROLES.items():
        users = [f"local:{team.service_user}"] if role == "owner" else []
        groups = sorted(f"oidc:{group_object_ids[key]}" for key in getattr(team.roles, field))
        if users or groups:
            auth[role] = {"users": users, "groups": groups}
    return auth


def normalized_auth(auth: Any) -> dict[str, dict[str, list[str]]] | None:
    """Auth in a canonical form for comparison (sorted members, empty roles dropped); None when not a mapping."""
    if not isinstance(auth, Mapping):
        return None
    result: dict[str, dict[str, list[str]]] = {}
    for role, members in auth.items():
        if not isinstance(members, Mapping):
            return None
        users = sorted(members.get("users") or [])
        groups = sorted(members.get("groups") or [])
        if users or groups:
            result[str(role)] = {"users": users, "groups": groups}
    return result


def auth_problem(auth: Any) -> str | None:
    """Why Concourse would refuse this auth with 400 (atc.TeamAuth.Validate), or None."""
    normal = normalized_auth(auth)
    if normal is None:
        return "auth must map each role to {users: [...], groups: [...]}"
    if not normal:
        return "auth must give at least one role a user or a group"
    if len(normal) != len(auth):
        return "every role in auth needs at least one user or group"
    return None


# ---------------------------------------------------------------------------------------------------------------------
# Concourse's team API


class TeamApiError(Exception):
    """A team API call failed for good: a 4xx, or transient failures beyond the retry bound."""


@dataclass(frozen=True)
class Backoff:
    """Bounded exponential backoff: `attempts` tries in all, waits first_delay, 2x, 4x ... capped at max_delay."""

    attempts: int = 6
    first_delay: float = 1.0
    max_delay: float = 20.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, retry: int) -> float:
        return min(self.max_delay, self.first_delay * 2**retry)


TRANSIENT_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout)
"""Dropped connections, TLS handshake timeouts (SSLError is a ConnectionError) and read timeouts."""


class ConcourseApi:
    """One operation's session with Concourse's API, logged in as a local user of the main team."""

    def __init__(
        self, url: str, user: str, password: str, backoff: Backoff, timeout: tuple[float, float] = (10.0, 30.0)
    ):
        self.url = url.rstrip("/")
        self.user = user
        self.password = password
        self.backoff = backoff
        self.timeout = timeout
        self.session = requests.Session()
        self._token: str | None = None

    def close(self) -> None:
        self.session.close()

    def _send(self, what: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send, retrying transient failures (connection, TLS, timeout, 5xx); return any other response."""
        problem = ""
        for attempt in range(self.backoff.attempts):
            if attempt:
                self.backoff.sleep(self.backoff.delay(attempt - 1))
            try:
                response = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
            except TRANSIENT_ERRORS as error:
                problem = f"{type(error).__name__}: {error}"
                continue
            if response.status_code < 500:
                return response
            problem = f"{response.status_code} {response.reason}"
        raise TeamApiError(
            f"{what}: {method} {self.url}{path} still failing after {self.backoff.attempts} attempts ({problem})"
        )

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            self._token = self._login()
        return {"Authorization": f"Bearer {self._token}"}

    def _login(self) -> str:
        what = f"log in to Concourse as local user {self.user!r}"
        response = self._send(
            what,
            "POST",
            "/sky/issuer/token",
            auth=FLY_CLIENT,
            data={"grant_type": "password", "username": self.user, "password": self.password, "scope": TOKEN_SCOPE},
        )
        if response.status_code != 200:
            raise TeamApiError(f"{what}: {_status(response)} (is the admin password in the web Secret current?)")
        token = response.json().get("access_token")
        if not token:
            raise TeamApiError(f"{what}: the token response carries no access_token")
        return token

    def get_team(self, team: str) -> dict[str, Any] | None:
        response = self._send(f"read team {team!r}", "GET", f"/api/v1/teams/{team}", headers=self._headers())
        if response.status_code == 404:
            return None
        _expect(response, (200,), f"read team {team!r}")
        return response.json()

    def set_team(self, team: str, auth: Mapping[str, Any]) -> dict[str, Any]:
        """Create or update the team in one write (PUT sets the whole auth, so a retry cannot half-write it)."""
        what = f"set team {team!r}"
        response = self._send(what, "PUT", f"/api/v1/teams/{team}", headers=self._headers(), json={"auth": auth})
        _expect(response, (200, 201), what)
        body = response.json()
        if body.get("errors"):
            raise TeamApiError(f"{what}: Concourse reported {'; '.join(body['errors'])}")
        return body["team"]

    def delete_team(self, team: str) -> None:
        """Delete the team; one that is already gone (404, for example a retried delete) counts as deleted."""
        what = f"delete team {team!r}"
        response = self._send(what, "DELETE", f"/api/v1/teams/{team}", headers=self._headers())
        if response.status_code != 404:
            _expect(response, (200, 204), what)


def _status(response: requests.Response) -> str:
    body = response.text.strip()
    return f"{response.status_code} {response.reason}" + (f": {body[:300]}" if body else "")


def _expect(response: requests.Response, ok: tuple[int, ...], what: str) -> None:
    if response.status_code not in ok:
        hint = {
            400: " (Concourse refused the team definition)",
            401: " (Concourse refused the token)",
            403: " (the user is not an admin of the main team)",
        }.get(response.status_code, "")
        raise TeamApiError(f"{what}: {_status(response)}{hint}")


# ---------------------------------------------------------------------------------------------------------------------
# The dynamic provider

INPUTS = ("teamName", "auth", "url", "adminUser", "adminPassword")


class TeamProvider(pulumi.dynamic.ResourceProvider):
    """CRUD of one Concourse team. Holds no credential: the admin password arrives with each call's inputs."""

    def __init__(self, backoff: Backoff | None = None, timeout: tuple[float, float] = (10.0, 30.0)):
        super().__init__()
        self.backoff = backoff or Backoff()
        self.timeout = timeout

    def _api(self, props: Mapping[str, Any]) -> ConcourseApi:
        return ConcourseApi(props["url"], props["adminUser"], props["adminPassword"], self.backoff, self.timeout)

    def _outs(self, props: Mapping[str, Any], team: Mapping[str, Any]) -> dict[str, Any]:
        outs = {key: props[key] for key in INPUTS}
        outs["auth"] = team.get("auth", props["auth"])
        outs["teamId"] = team.get("id")
        return outs

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        """Refuse what Concourse would refuse with 400 before any call; auth not yet known is checked when it is."""
        failures = []
        auth = news.get("auth")
        problem = auth_problem(auth) if isinstance(auth, Mapping) else None
        if problem:
            failures.append(pulumi.dynamic.CheckFailure("auth", f"team {news.get('teamName')!r}: {problem}"))
        return pulumi.dynamic.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        replaces = ["teamName"] if olds.get("teamName") != news.get("teamName") else []
        changed = bool(replaces) or normalized_auth(olds.get("auth")) != normalized_auth(news.get("auth"))
        # A new admin password or URL changes no team, but later calls (delete included) must use the new ones.
        changed = changed or any(olds.get(key) != news.get(key) for key in ("url", "adminUser", "adminPassword"))
        return pulumi.dynamic.DiffResult(changes=changed, replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        api = self._api(props)
        try:
            team = api.set_team(props["teamName"], props["auth"])
        finally:
            api.close()
        return pulumi.dynamic.CreateResult(props["teamName"], self._outs(props, team))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        api = self._api(props)
        try:
            team = api.get_team(id_)
        finally:
            api.close()
        if team is None:
            return pulumi.dynamic.ReadResult("", {})
        return pulumi.dynamic.ReadResult(id_, self._outs({**props, "teamName": team.get("name", id_)}, team))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        api = self._api(news)
        try:
            team = api.set_team(news["teamName"], news["auth"])
        finally:
            api.close()
        return pulumi.dynamic.UpdateResult(self._outs(news, team))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        api = self._api(props)
        try:
            api.delete_team(props["teamName"])
        finally:
            api.close()


class ConcourseTeam(pulumi.dynamic.Resource, module="concourse", name="Team"):
    """One Concourse team through the team API. The admin password is a secret input and a secret output."""

    def __init__(
        self,
        resource_name: str,
        team_name: str,
        auth: pulumi.Input[Mapping[str, Any]],
        url: str,
        admin_user: str,
        admin_password: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            "teamName": team_name,
            "auth": auth,
            "url": url,
            "adminUser": admin_user,
            "adminPassword": pulumi.Output.secret(admin_password),
            "teamId": None,
        }
        secret_outputs = pulumi.ResourceOptions(additional_secret_outputs=["adminPassword"])
        super().__init__(TeamProvider(), resource_name, props, pulumi.ResourceOptions.merge(opts, secret_outputs))


# ---------------------------------------------------------------------------------------------------------------------
# Components


class TeamUsers(pulumi.ComponentResource):
    """Each team's local service user: a generated password, and its login in Vault under <prefix>/<team>/."""

    passwords: dict[str, pulumi.Output[str]]
    """Service user -> password (secret), for the Concourse web Secret's local-users."""

    def __init__(self, name: str, cfg: StackConfig, vault_access: VaultAccess, opts: pulumi.ResourceOptions | None):
        super().__init__("cdstack:concourse:TeamUsers", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.passwords = {}
        for team in cfg.teams:
            password = random.RandomPassword(
                f"{team.service_user}-password",
                length=32,
                # local-users is "user:password,user:password": no separators in a password.
                special=False,
                opts=child,
            )
            self.passwords[team.service_user] = pulumi.Output.secret(password.result)
            if vault_access.mount is not None:
                vault.kv.SecretV2(
                    f"{team.name}-service-user",
                    mount=vault_access.mount.path,
                    name=f"{team.name}/{SERVICE_USER_SECRET}",
                    # A removed team's login must not linger in the mount's version history.
                    delete_all_versions=True,
                    data_json=pulumi.Output.secret(
                        password.result.apply(
                            lambda secret, team=team: json.dumps(
                                {
                                    "url": f"https://{cfg.dns.host('concourse')}",
                                    "team": team.name,
                                    "username": team.service_user,
                                    "password": secret,
                                }
                            )
                        )
                    ),
                    opts=pulumi.ResourceOptions(parent=self, provider=vault_access.provider),
                )
        self.register_outputs({})


class Teams(pulumi.ComponentResource):
    """Every team except main, through Concourse's team API as the main team's admin local user."""

    teams: dict[str, ConcourseTeam]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        admin_password: pulumi.Input[str],
        group_object_ids: Mapping[str, pulumi.Output[str]],
        concourse_ready: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:concourse:Teams", name, None, opts)
        self.teams = {}
        for team in cfg.teams:
            keys = sorted({key for field in ROLES for key in getattr(team.roles, field)})
            ids = pulumi.Output.all(*(group_object_ids[key] for key in keys)).apply(
                lambda values, keys=keys: dict(zip(keys, values, strict=True))
            )
            self.teams[team.name] = ConcourseTeam(
                f"team-{team.name}",
                team_name=team.name,
                auth=ids.apply(lambda resolved, team=team: team_auth(team, resolved)),
                url=f"https://{cfg.dns.host('concourse')}",
                admin_user=cfg.concourse.admin_user,
                admin_password=admin_password,
                # The team API answers only once Concourse web runs; the URL is a plain string and the password
                # Output comes from a random resource, so neither orders the team after the Concourse release.
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(concourse_ready)),
            )
        self.register_outputs({})
