"""Concourse teams as code: each team's local service user, its credentials in Vault, and the team itself.

Two components, because Concourse sits between them: `TeamUsers` generates the service users' passwords (the
Concourse web Secret's `local-users` needs them) and writes each user's login to Vault under its team's path, so the
team's pipelines can log in with fly and set pipelines from git; `Teams` then creates every team except main (the
chart configures main) through Concourse's team API, once Concourse answers, as the main team's admin local user.
Both cover the operator's teams and the stack's own smoke team (`stack_teams`).

The team resource is a Pulumi dynamic provider (`TeamProvider`) over Concourse's API; `components.team_api` is the
client (one time budget per operation, jittered backoff, the API's shapes and where they come from). Before any team,
`ConcourseApiReady` waits, on the first `up` only, until Concourse's host answers with its Let's Encrypt certificate:
the certificate is issued (HTTP-01, minutes) in parallel with the Concourse release, and a team call that met
Traefik's placeholder certificate would otherwise fail for good.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi.dynamic
import pulumi_random as random
import pulumi_vault as vault

from components import naming
from components.concourse.team_api import Budget, Clock, ConcourseApi, RealClock, normalized_auth, wait_for_api
from components.config.schema import StackConfig, TeamConfig
from components.vault.access import VaultAccess

ROLES = {"owner": "owner", "member": "member", "pipeline_operator": "pipeline-operator", "viewer": "viewer"}
"""Concourse's role names by the field of cdstack:teams[].roles."""

SERVICE_USER_SECRET = "service-user"
"""Name of the Vault secret under <prefix>/<team>/: pipelines read ((service-user.username)) and so on."""


# ---------------------------------------------------------------------------------------------------------------------
# Pure data

SMOKE_TEAM = TeamConfig(name=naming.SMOKE_TEAM, service_user=naming.SMOKE_SERVICE_USER)
"""The stack's own team: its service user alone owns it (no group role: Concourse's admins, the main team's owners,
see every team's builds). Implicit, not in cdstack:teams, so no stack can forget or misconfigure it; the config rules
refuse an operator team or user of its name."""


def stack_teams(cfg: StackConfig) -> list[TeamConfig]:
    """Every team the stack creates besides main: the operator's, then the smoke team."""
    return [*cfg.teams, SMOKE_TEAM]


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
# The dynamic providers

API_INPUTS = ("url", "adminUser", "adminPassword", "budgetSeconds")
"""The inputs ApiProvider builds its client from, which every resource over Concourse's API carries (api_inputs)."""
INPUTS = ("teamName", "auth", *API_INPUTS)


class ApiProvider(pulumi.dynamic.ResourceProvider):
    """What every dynamic provider over Concourse's API shares. It holds no credential: the admin password and the time
    budget arrive with each call's inputs. `clock` is for tests; `pulumi up` uses real time."""

    def __init__(self, clock: Clock | None = None, attempt_bounds: Mapping[str, float] | None = None):
        super().__init__()
        self.clock = clock or RealClock()
        self.attempt_bounds = dict(attempt_bounds or {})
        """Tests shrink the per-attempt connect/read bounds and backoff with the budget (Budget's fields)."""

    def budget(self, seconds: Any) -> Budget:
        return Budget(seconds=float(seconds), clock=self.clock, **self.attempt_bounds)

    def _api(self, props: Mapping[str, Any]) -> ConcourseApi:
        """The client, as the admin the inputs name, within the inputs' budget."""
        return ConcourseApi(
            props["url"], props["adminUser"], props["adminPassword"], self.budget(props["budgetSeconds"])
        )


def api_inputs(url: str, admin_user: str, admin_password: pulumi.Input[str], budget_seconds: int) -> dict[str, Any]:
    """API_INPUTS of a resource over Concourse's API: where and as whom its provider logs in, within what budget. The
    password is a secret input; secret_password keeps it secret in the outputs too."""
    return {
        "url": url,
        "adminUser": admin_user,
        "adminPassword": pulumi.Output.secret(admin_password),
        "budgetSeconds": budget_seconds,
    }


def secret_password(opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """`opts` with the admin password a secret output (a dynamic provider returns its inputs as outputs)."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["adminPassword"]))


class TeamProvider(ApiProvider):
    """CRUD of one Concourse team."""

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
        # A new admin password, URL or budget changes no team, but later calls (delete included) use the state's
        # inputs and provider. State from before budgets were inputs has none: that update also stores the provider
        # that reads it.
        watched = ("url", "adminUser", "adminPassword", "budgetSeconds")
        changed = changed or any(olds.get(key) != news.get(key) for key in watched)
        return pulumi.dynamic.DiffResult(changes=changed, replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        """Create the team, or adopt one of that name whose auth is already this one; any other refuses
        (ConcourseApi.create_team says why and what to do)."""
        api = self._api(props)
        try:
            team = api.create_team(props["teamName"], props["auth"])
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


class ApiReadyProvider(ApiProvider):
    """Waits, when created, until Concourse's URL answers with a verified certificate (team_api.wait_for_api). Created
    once per URL, so only the first `up` (or a new host) waits; later runs cost nothing."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        info = wait_for_api(props["url"], self.budget(props["waitSeconds"]))
        return pulumi.dynamic.CreateResult(props["url"], {**props, "version": info.get("version")})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        replaces = ["url"] if olds.get("url") != news.get("url") else []
        return pulumi.dynamic.DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)


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
        budget_seconds: int,
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            "teamName": team_name,
            "auth": auth,
            **api_inputs(url, admin_user, admin_password, budget_seconds),
            "teamId": None,
        }
        super().__init__(TeamProvider(), resource_name, props, secret_password(opts))


class ConcourseApiReady(pulumi.dynamic.Resource, module="concourse", name="ApiReady"):
    """Concourse's API answering at `url` with a certificate that verifies; what every team waits for."""

    def __init__(self, resource_name: str, url: str, wait_seconds: int, opts: pulumi.ResourceOptions | None = None):
        props = {"url": url, "waitSeconds": wait_seconds, "version": None}
        super().__init__(ApiReadyProvider(), resource_name, props, opts)


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
        for team in stack_teams(cfg):
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
    api_ready: ConcourseApiReady
    """What every team (and pipeline) waits for."""

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
        url = f"https://{cfg.dns.host('concourse')}"
        self.teams = {}
        self.api_ready = ready = ConcourseApiReady(
            "concourse-api-ready",
            url,
            cfg.concourse.certificate_wait_seconds,
            # The API answers only once Concourse web runs; the certificate is issued meanwhile, in parallel.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(concourse_ready)),
        )
        for team in stack_teams(cfg):
            keys = sorted({key for field in ROLES for key in getattr(team.roles, field)})
            ids = pulumi.Output.all(*(group_object_ids[key] for key in keys)).apply(
                lambda values, keys=keys: dict(zip(keys, values, strict=True))
            )
            self.teams[team.name] = ConcourseTeam(
                f"team-{team.name}",
                team_name=team.name,
                auth=ids.apply(lambda resolved, team=team: team_auth(team, resolved)),
                url=url,
                admin_user=cfg.concourse.admin_user,
                admin_password=admin_password,
                budget_seconds=cfg.concourse.team_api_budget_seconds,
                # The URL is a plain string and the password Output comes from a random resource, so neither orders
                # the team after the API is ready.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[ready]),
            )
        self.register_outputs({})
