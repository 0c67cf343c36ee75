"""Rules among Vault's settings: the paths Concourse reads credentials from, the TTLs of its tokens, where Vault
runs, and its recovery keys. The components that apply them are vault/access.py (mount, policy, approle) and
services/secrets.py (the in-cluster Vault)."""

from __future__ import annotations

import re

from components.config.schema import StackConfig
from components.durations import go_duration_seconds
from components.naming import SMOKE_TEAM
from components.problem import Problem

ADDRESS = re.compile(r"^https://[a-z0-9.-]+(:[0-9]+)?/?$")
"""An external Vault's address: https only, since Concourse sends its approle secret id there."""


def path_problems(cfg: StackConfig) -> list[Problem]:
    """Concourse looks a team's credentials up under <prefix>/<team>/ and shared ones under <prefix>/<sharedPath>/:
    a team named like the shared path would read and write every team's shared secrets."""
    shared = cfg.vault.shared_path
    found = [
        Problem.at(f"teams[{i}].name", team.name, "must differ from vault.sharedPath")
        for i, team in enumerate(cfg.teams)
        if team.name == shared
    ]
    owners = {"main": "the main team's path", SMOKE_TEAM: "the path of the stack's own smoke team"}
    if shared in owners:
        found.append(Problem.at("vault.sharedPath", shared, f"must differ from {shared} ({owners[shared]})"))
    return found


def token_problems(cfg: StackConfig) -> list[Problem]:
    """Vault's approle takes TTLs in whole seconds; a TTL above the maximum, or of zero seconds, is refused."""
    v = cfg.vault
    found = []
    if go_duration_seconds(v.token_ttl) > go_duration_seconds(v.token_max_ttl):
        found.append(Problem.at("vault.tokenTtl", v.token_ttl, f"must be <= tokenMaxTtl ({v.token_max_ttl})"))
    if go_duration_seconds(v.token_ttl) < 1:
        found.append(Problem.at("vault.tokenTtl", v.token_ttl, "must be at least 1s"))
    return found


def address_problems(cfg: StackConfig) -> list[Problem]:
    """An external Vault needs its https address; the in-cluster one has its own, so an address there is a
    leftover that would be ignored."""
    v = cfg.vault
    found = []
    if v.mode == "external" and not v.address:
        found.append(Problem.at("vault.address", None, "required when vault.mode is external (an https:// URL)"))
    if v.address is not None and not ADDRESS.match(v.address):
        found.append(Problem.at("vault.address", v.address, "must be an https:// URL of a Vault server"))
    if v.mode == "in-cluster" and v.address is not None:
        found.append(Problem.at("vault.address", v.address, "only allowed when vault.mode is external"))
    return found


def recovery_problems(cfg: StackConfig) -> list[Problem]:
    """The break-glass threshold can be met by the shares initialisation creates."""
    v = cfg.vault
    if v.recovery_threshold > v.recovery_shares:
        return [
            Problem.at(
                "vault.recoveryThreshold", v.recovery_threshold, f"must be <= recoveryShares ({v.recovery_shares})"
            )
        ]
    return []


TEAM_SECRETS_ADMIN_ROLE = "admins"
"""The OIDC role of the admin group (components/vault/teams.py); each team's role is named like the team."""


def team_secret_problems(cfg: StackConfig) -> list[Problem]:
    """The teams' OIDC login (vault.teamSecrets): its token TTLs in order, and no team named like the admin group's
    role, whose policy covers every team's secrets."""
    t = cfg.vault.team_secrets
    found = []
    if go_duration_seconds(t.token_ttl) > go_duration_seconds(t.token_max_ttl):
        found.append(
            Problem.at(
                "vault.teamSecrets.tokenTtl", t.token_ttl, f"must be <= teamSecrets.tokenMaxTtl ({t.token_max_ttl})"
            )
        )
    if go_duration_seconds(t.token_ttl) < 1:
        found.append(Problem.at("vault.teamSecrets.tokenTtl", t.token_ttl, "must be at least 1s"))
    if t.enabled:
        found += [
            Problem.at(
                f"teams[{i}].name",
                team.name,
                f"must differ from {TEAM_SECRETS_ADMIN_ROLE} (the admin group's Vault login role) while "
                "vault.teamSecrets.enabled is true",
            )
            for i, team in enumerate(cfg.teams)
            if team.name == TEAM_SECRETS_ADMIN_ROLE
        ]
    return found
