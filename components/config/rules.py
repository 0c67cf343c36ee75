"""The registry of the rules across fields: which the loader runs, in this order.

Each rule lives beside the concern it guards and imports only the schema, so it can be read alone; this module
imports them all, and only the loader (above it) imports this module. A new rule: write `<what>_problems(cfg)`
beside its concern, list it here, and plant a failing case in tests/test_config_rules.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from components import (
    addressing,
    capacity,
    clock,
    cluster_support,
    database_compute,
    deployers,
    membership,
    naming,
    production,
    releases,
    schedules,
    upgrades,
)
from components.concourse import idtoken, team_azure
from components.concourse import limits as concourse_limits
from components.config.schema import StackConfig
from components.problem import Problem
from components.vault import settings as vault_settings
from components.vault import storage as vault_storage

Rule = Callable[[StackConfig], Sequence[tuple[str, Any, str]]]
"""A rule: the problems of one concern in a valid StackConfig (Problem values; any (key, value, allowed) fits)."""
DatedRule = Callable[[StackConfig, date], Sequence[tuple[str, Any, str]]]
"""A rule that judges a time-bound fact (a support window) on the day of the run."""


def name_problems(cfg: StackConfig) -> list[Problem]:
    """The stack's names are names Azure accepts: checked at config time, not by a failed deployment.

    The one rule kept here rather than beside its concern: naming.py sits below the schema (StackConfig.naming builds
    its Naming), so it cannot import StackConfig."""
    try:
        cfg.naming.check()
    except naming.NamingError as error:
        return [Problem.at("name", cfg.name, str(error))]
    return []


RULES: tuple[Rule, ...] = (
    addressing.cidr_problems,
    addressing.subnet_problems,
    addressing.overlay_problems,
    addressing.dns_service_ip_problems,
    addressing.api_range_problems,
    addressing.host_problems,
    capacity.worker_pool_problems,
    capacity.system_pool_problems,
    capacity.os_disk_problems,
    membership.group_problems,
    membership.team_problems,
    membership.role_problems,
    team_azure.federation_limit_problems,
    team_azure.pipeline_name_problems,
    team_azure.scope_problems,
    team_azure.privileged_role_problems,
    vault_settings.path_problems,
    vault_settings.token_problems,
    vault_settings.address_problems,
    vault_settings.recovery_problems,
    vault_settings.team_secret_problems,
    vault_storage.replica_problems,
    vault_storage.migration_problems,
    schedules.cron_problems,
    concourse_limits.retention_problems,
    concourse_limits.rollout_problems,
    concourse_limits.connection_problems,
    releases.override_problems,
    database_compute.tier_problems,
    database_compute.sku_problems,
    name_problems,
    cluster_support.long_term_support_problems,
    upgrades.problems,
    idtoken.token_lifetime_problems,
    deployers.deployer_problems,
    production.requirement_problems,
    production.part_problems,
)
DATED_RULES: tuple[DatedRule, ...] = (cluster_support.version_problems,)


def check_rules(cfg: StackConfig, today: date | None = None) -> list[Problem]:
    """Every registered rule's problems, in registry order. `today` judges the AKS support window (default:
    clock.today())."""
    when = today or clock.today()
    found = [rule(cfg) for rule in RULES] + [rule(cfg, when) for rule in DATED_RULES]
    return [Problem(*problem) for problems in found for problem in problems]
