"""What a production stack (`production: true`) must be: highly available, on paid tiers, closed to the internet,
with trusted certificates and two weeks of backups that survive the loss of a region. Environments differ only in
configuration, so these are rules on the configuration, never a branch on the stack's name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic.alias_generators import to_snake

from components.config.schema import StackConfig
from components.problem import Problem

MIN_BACKUP_DAYS = 14
"""The shortest history a production backup may keep (database point-in-time window, Vault snapshots, soft delete)."""


@dataclass(frozen=True)
class Requirement:
    path: str
    """The setting's key path (camelCase, as in the stack file)."""
    met: Callable[[Any], bool]
    """Whether the setting's value is fit for production."""
    allowed: str


def _true(value: Any) -> bool:
    return value is True


def _two_weeks(days: int) -> bool:
    return days >= MIN_BACKUP_DAYS


TWO_WEEKS = f"must be {MIN_BACKUP_DAYS} or more in production"


REQUIREMENTS = (
    Requirement("database.highAvailability", _true, "must be true in production"),
    Requirement("concourse.webReplicas", lambda replicas: replicas >= 2, "must be 2 or more in production"),
    Requirement("cluster.skuTier", lambda tier: tier != "Free", "must be Standard or Premium in production"),
    Requirement("cluster.disableLocalAccounts", _true, "must be true in production"),
    Requirement("cluster.apiAuthorizedRanges", bool, "must list at least one range in production"),
    # AKS's own security features (issue 24): switched on by default, and not to be switched off in production.
    Requirement("cluster.imageCleaner.enabled", _true, "must be true in production"),
    Requirement(
        "cluster.nodeResourceGroupRestriction", lambda level: level == "ReadOnly", "must be ReadOnly in production"
    ),
    Requirement("cluster.encryptionAtHost", _true, "must be true in production"),
    Requirement("cluster.defender", _true, "must be true in production"),
    Requirement("cluster.auditLog.enabled", _true, "must be true in production"),
    Requirement("observability.elasticsearchNodes", lambda nodes: nodes >= 3, "must be 3 or more in production"),
    Requirement("tls.acmeEnvironment", lambda env: env == "production", "must be production in production"),
    # Backups (issue 12): prod survives the loss of a region and keeps two weeks of history.
    Requirement("database.geoRedundantBackup", _true, "must be true in production"),
    Requirement("database.backupRetentionDays", _two_weeks, TWO_WEEKS),
    Requirement("backup.vaultRetentionDays", _two_weeks, TWO_WEEKS),
    Requirement("backup.elasticsearchRetentionDays", _two_weeks, TWO_WEEKS),
    Requirement("backup.blobSoftDeleteDays", _two_weeks, TWO_WEEKS),
)


def value_at(cfg: StackConfig, path: str) -> Any:
    """The value of a camelCase key path such as `database.highAvailability`."""
    node: Any = cfg
    for part in path.split("."):
        node = getattr(node, to_snake(part))
    return node


def requirement_problems(cfg: StackConfig) -> list[Problem]:
    """Every requirement a production stack does not meet; nothing for any other stack."""
    if not cfg.production:
        return []
    return [Problem.at(r.path, value, r.allowed) for r in REQUIREMENTS if not r.met(value := value_at(cfg, r.path))]


LEAN_ALLOWED = (
    "must be true in production: a production stack runs every part (logs, build metrics, charts); only a stack "
    "such as infra or a demo is lean"
)


def part_problems(cfg: StackConfig) -> list[Problem]:
    """Production keeps every optional part on (config.PartsConfig): each part off is one problem, at its key."""
    if not cfg.production:
        return []
    return [Problem.at(f"parts.{part}", False, LEAN_ALLOWED) for part in cfg.parts.off()]
