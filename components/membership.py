"""Who may do what: the Entra ID groups a stack references or creates, the admin group that owns Concourse's main
team, and the teams with their roles and local service users; and the rules that keep those references whole.

Teams and the admin group name groups by a short key (identity.groups); a key that names no group would give a role
to nobody, silently, so it is an error here rather than an empty role in Concourse.
"""

from __future__ import annotations

from components.config.schema import StackConfig
from components.naming import SMOKE_SERVICE_USER, SMOKE_TEAM
from components.problem import Problem

ROLES = {"owner": "owner", "member": "member", "pipelineOperator": "pipeline_operator", "viewer": "viewer"}
"""Concourse's team roles, by their key in the stack file."""


def group_problems(cfg: StackConfig) -> list[Problem]:
    """Each group is either referenced (objectId) or created, and the admin group is one of them."""
    groups = cfg.identity.groups
    found = [
        Problem.at(
            f"identity.groups.{key}", group.model_dump(by_alias=True), "set exactly one of objectId or create: true"
        )
        for key, group in groups.items()
        if (group.object_id is None) == (not group.create)
    ]
    if cfg.identity.admin_group not in groups:
        found.append(
            Problem.at(
                "identity.adminGroup", cfg.identity.admin_group, f"must be one of the group keys {sorted(groups)}"
            )
        )
    return found


def team_problems(cfg: StackConfig) -> list[Problem]:
    """Teams other than main and the stack's own smoke team, each named once, each with a service user of its own."""
    found = []
    names: set[str] = set()
    smoke = f"the stack's own {SMOKE_TEAM} team (its canary and smoke test)"
    if cfg.concourse.admin_user == SMOKE_SERVICE_USER:
        found.append(Problem.at("concourse.adminUser", cfg.concourse.admin_user, f"already used by {smoke}"))
    users = {SMOKE_SERVICE_USER: smoke, cfg.concourse.admin_user: "concourse.adminUser"}
    for i, team in enumerate(cfg.teams):
        if team.name == "main":
            found.append(
                Problem.at(
                    f"teams[{i}].name", team.name, "main is configured by identity.adminGroup and concourse.adminUser"
                )
            )
        if team.name == SMOKE_TEAM:
            found.append(Problem.at(f"teams[{i}].name", team.name, f"{SMOKE_TEAM} is {smoke}, created by every stack"))
        if team.name in names:
            found.append(Problem.at(f"teams[{i}].name", team.name, "team names must be unique"))
        names.add(team.name)
        if team.service_user in users:
            found.append(
                Problem.at(f"teams[{i}].serviceUser", team.service_user, f"already used by {users[team.service_user]}")
            )
        users[team.service_user] = f"teams[{i}]"
    return found


def role_problems(cfg: StackConfig) -> list[Problem]:
    """Every group key a team's role names is a key of identity.groups."""
    groups = cfg.identity.groups
    return [
        Problem.at(f"teams[{i}].roles.{role}[{j}]", ref, f"must be one of the group keys {sorted(groups)}")
        for i, team in enumerate(cfg.teams)
        for role, field in ROLES.items()
        for j, ref in enumerate(getattr(team.roles, field))
        if ref not in groups
    ]
