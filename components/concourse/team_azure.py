"""Teams' pipelines act in Azure without a secret: per team with `azure`, one user-assigned identity that trusts
exactly the listed pipelines' Concourse idtokens, the role assignments the team asked for, and the identity's ids in
Vault at the team's path. The pure values and the rules are here; components/azure/team_identities.py wires them.

A pipeline declares the idtoken var source `VAR_SOURCE` (docs/teams.md) and exchanges `((azure:token))`
for an Entra ID access token as client `((azure-identity.client_id))` in tenant `((azure-identity.tenant_id))`.
Entra ID matches a federated credential on issuer, subject and audience exactly (workload-identity-federation
considerations), so each is computed here from what Concourse writes (components/concourse/idtoken.py), never typed
twice.

Limits, verified: Entra ID takes at most 20 federated credentials per user-assigned identity, issuer and subject at
most 600 characters each, and a credential's name 3-120 characters of letters, digits, `-` and `_` starting with a
letter or digit. Concourse (v8.1.1, atc/configwarning.go ValidateIdentifier) warns about a pipeline name that is not
a lower-case letter (any script) or an ASCII digit followed by those, `-`, `_` or `.`, or that is digits only; `fly`
refuses a `/`. Only names it takes without a warning are accepted here.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

from components.concourse import idtoken
from components.config.schema import StackConfig, TeamConfig
from components.problem import Problem

VAR_SOURCE_NAME = "azure"
SUBJECT_SCOPE = "pipeline"
VAR_SOURCE: dict[str, Any] = {
    "name": VAR_SOURCE_NAME,
    "type": "idtoken",
    "config": {"audience": [idtoken.AZURE_AUDIENCE], "subject_scope": SUBJECT_SCOPE},
}
"""The var source a team's pipeline declares: one token per pipeline (`sub` = `<team>/<pipeline>`)."""

VAULT_SECRET = "azure-identity"
"""Under `<prefix>/<team>/`: `client_id` and `tenant_id` of the team's identity (ids, not secrets)."""

MAX_SUBJECT_LENGTH = 600

ROLE_IDS = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
}
"""Built-in role definition ids (the same in every tenant) of the role names cdstack:teams[].azure.roles takes."""

PRIVILEGED_ROLES = ("Owner", "User Access Administrator")
"""Roles that can grant access to others: a pipeline holding one can give itself or anyone anything in scope."""

_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_SCOPE = re.compile(
    r"^(?:/providers/Microsoft\.Management/managementGroups/[^/\s]+"
    rf"|/subscriptions/(?P<subscription>{_GUID})"
    r"(?:/resourceGroups/[-\w.()]{0,89}[-\w()]"
    r"(?:/providers/[a-z][a-z0-9]*(?:\.[a-z][a-z0-9]*)+(?:/[^/\s]+/[^/\s]+)+)?)?)$",
    re.IGNORECASE,
)
SCOPE_FORMS = (
    "/subscriptions/<id>, /subscriptions/<id>/resourceGroups/<name>, "
    "/subscriptions/<id>/resourceGroups/<name>/providers/<Namespace>/<type>/<name>[/<type>/<name>...] or "
    "/providers/Microsoft.Management/managementGroups/<id>"
)


# ---------------------------------------------------------------------------------------------------------------------
# Pure values


def role_guid(role: str) -> str:
    return ROLE_IDS.get(role, role).lower()


def is_privileged(role: str) -> bool:
    return role_guid(role) in {ROLE_IDS[name] for name in PRIVILEGED_ROLES}


def role_definition_id(scope: str, role: str) -> str:
    """The role definition id Azure takes for an assignment on `scope`: in the scope's subscription, or the tenant's
    form for a management group."""
    match = _SCOPE.match(scope)
    subscription = match.group("subscription") if match else None
    prefix = f"/subscriptions/{subscription}" if subscription else ""
    return f"{prefix}/providers/Microsoft.Authorization/roleDefinitions/{role_guid(role)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def federation_name(pipeline: str) -> str:
    """A credential name Entra ID takes, readable and unique per pipeline (a pipeline name may hold `.` or any
    script's letters, which a credential name may not)."""
    slug = re.sub(r"[^A-Za-z0-9_-]", "-", pipeline)[:100]
    return f"pipeline-{slug}-{_digest(pipeline)}"


def identity_purpose(team: str) -> str:
    """naming.identity's purpose for the team's identity: `id-<name>-<stack>-team-<team>`."""
    return f"team-{team}"


def federations(team: TeamConfig, issuer: str) -> list[dict[str, Any]]:
    """One federated credential per listed pipeline, as Concourse's token for it reads."""
    assert team.azure is not None
    return [
        {
            "name": federation_name(pipeline),
            "issuer": issuer,
            "subject": idtoken.subject(team.name, pipeline, SUBJECT_SCOPE),
            "audiences": [idtoken.AZURE_AUDIENCE],
        }
        for pipeline in team.azure.pipelines
    ]


def assignments(team: TeamConfig) -> list[dict[str, str]]:
    """The team's role assignments: a Pulumi name that survives reordering the list, the scope, the role's id."""
    assert team.azure is not None
    return [
        {
            "name": f"{team.name}-azure-role-{_digest(f'{entry.scope.lower()}|{role_guid(entry.role)}')}",
            "scope": entry.scope,
            "roleDefinitionId": role_definition_id(entry.scope, entry.role),
        }
        for entry in team.azure.roles
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Rules


def _azure_teams(cfg: StackConfig) -> list[tuple[int, TeamConfig]]:
    return [(i, team) for i, team in enumerate(cfg.teams) if team.azure is not None]


def federation_limit_problems(cfg: StackConfig) -> list[Problem]:
    """Entra ID refuses a 21st federated credential on one identity, after the first 20 were created."""
    return [
        Problem.at(
            f"teams[{i}].azure.pipelines",
            team.azure.pipelines,
            f"at most {idtoken.MAX_FEDERATED_CREDENTIALS} pipelines per team (Entra ID's limit of federated "
            f"credentials per identity); got {len(team.azure.pipelines)}",
        )
        for i, team in _azure_teams(cfg)
        if team.azure is not None and len(team.azure.pipelines) > idtoken.MAX_FEDERATED_CREDENTIALS
    ]


def concourse_pipeline_name_problem(name: str) -> str | None:
    """Why Concourse would warn about (or fly refuse) this pipeline name, or None."""
    if not name:
        return "a pipeline name cannot be empty"
    if name.isascii() and name.isdigit():
        return "a pipeline name cannot be digits only"
    for position, char in enumerate(name):
        letter = unicodedata.category(char) in ("Ll", "Lt", "Lm", "Lo") or char in "0123456789"
        if not (letter or (position > 0 and char in "-_.")):
            return (
                f"character {char!r} at {position}: start with a lower-case letter or a digit, then only those, "
                "'-', '_' or '.'"
            )
    return None


def pipeline_name_problems(cfg: StackConfig) -> list[Problem]:
    """Each listed pipeline is a name Concourse takes as is (its token's `sub` holds it), once per team, and its
    subject fits Entra ID's 600 characters."""
    found = []
    for i, team in _azure_teams(cfg):
        assert team.azure is not None
        seen: set[str] = set()
        for j, pipeline in enumerate(team.azure.pipelines):
            key = f"teams[{i}].azure.pipelines[{j}]"
            reason = concourse_pipeline_name_problem(pipeline)
            if reason:
                found.append(Problem.at(key, pipeline, f"a pipeline name Concourse accepts: {reason}"))
            elif pipeline in seen:
                found.append(Problem.at(key, pipeline, "each pipeline once per team (one federated credential each)"))
            elif len(idtoken.subject(team.name, pipeline, SUBJECT_SCOPE)) > MAX_SUBJECT_LENGTH:
                found.append(
                    Problem.at(key, pipeline, f"'<team>/<pipeline>' of at most {MAX_SUBJECT_LENGTH} characters")
                )
            seen.add(pipeline)
    return found


def scope_problems(cfg: StackConfig) -> list[Problem]:
    """Every role assignment's scope is an Azure resource id (Azure would refuse it only during `up`)."""
    return [
        Problem.at(f"teams[{i}].azure.roles[{j}].scope", entry.scope, f"an Azure resource id: {SCOPE_FORMS}")
        for i, team in _azure_teams(cfg)
        if team.azure is not None
        for j, entry in enumerate(team.azure.roles)
        if not _SCOPE.match(entry.scope)
    ]


def privileged_role_problems(cfg: StackConfig) -> list[Problem]:
    """Owner and User Access Administrator only where the team entry says allowPrivilegedRoles, and on a
    production stack only where the stack also says allowTeamPrivilegedRoles."""
    found = []
    for i, team in _azure_teams(cfg):
        assert team.azure is not None
        for j, entry in enumerate(team.azure.roles):
            if not is_privileged(entry.role):
                continue
            key = f"teams[{i}].azure.roles[{j}].role"
            if not team.azure.allow_privileged_roles:
                found.append(
                    Problem.at(
                        key,
                        entry.role,
                        f"no {' or '.join(PRIVILEGED_ROLES)} (they grant access to others) unless "
                        f"teams[{i}].azure.allowPrivilegedRoles is true",
                    )
                )
            elif cfg.production and not cfg.allow_team_privileged_roles:
                found.append(
                    Problem.at(
                        key,
                        entry.role,
                        f"a production stack refuses {' and '.join(PRIVILEGED_ROLES)} for teams unless "
                        "cdstack:allowTeamPrivilegedRoles is true",
                    )
                )
    return found
