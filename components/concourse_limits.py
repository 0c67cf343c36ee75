"""What Concourse's settings may ask of the rest of the stack: how long a deploy waits for its workers to roll, how
many PostgreSQL connections its web instances hold, and the build-log retention bounds; with the rules that keep
each within what the other side accepts. services/concourse.py releases Concourse with these numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from components import catalog
from components.problem import Problem

if TYPE_CHECKING:
    from components.config import StackConfig

MAX_RELEASE_WAIT_SECONDS = 12 * 3600
"""The longest a `pulumi up` may wait for Concourse's rollout: beyond half a day nobody is watching the deploy, and
the credentials it runs with (Vault token, Azure tokens) are not meant to live that long."""

CONNECTIONS_OUTSIDE_POOLS = 2
"""Per web instance, besides its API and backend pools: the lock connection and the notification listener."""


def release_timeout_seconds(cfg: StackConfig) -> int:
    """Helm's wait for the Concourse release: a first install (catalog), plus an upgrade's rolling update of the
    worker StatefulSet, which replaces one worker at a time and waits for each to retire: up to workerDrainSeconds
    (its termination grace period) per worker. A shorter wait times out mid-rollout and the atomic rollback restarts
    the workers again."""
    c = cfg.concourse
    return catalog.CHARTS["concourse"].timeout_seconds + c.worker_replicas * c.worker_drain_seconds


def rollout_problems(cfg: StackConfig) -> list[Problem]:
    """The worker rollout must fit in MAX_RELEASE_WAIT_SECONDS."""
    c = cfg.concourse
    if release_timeout_seconds(cfg) <= MAX_RELEASE_WAIT_SECONDS:
        return []
    return [
        Problem.at(
            "concourse.workerDrainSeconds",
            c.worker_drain_seconds,
            f"workerReplicas ({c.worker_replicas}) x workerDrainSeconds plus the install "
            f"({catalog.CHARTS['concourse'].timeout_seconds} s) must fit in {MAX_RELEASE_WAIT_SECONDS} s, the longest "
            "a deploy waits for the rolling update of the workers; lower workerDrainSeconds",
        )
    ]


def database_connections(cfg: StackConfig) -> int:
    """Connections Concourse may hold at most: every web instance, plus the one a rolling update surges, each with
    full pools."""
    c = cfg.concourse
    per_web = c.api_max_connections + c.backend_max_connections + CONNECTIONS_OUTSIDE_POOLS
    return (c.web_replicas + 1) * per_web


def connection_problems(cfg: StackConfig) -> list[Problem]:
    """Concourse's pools must fit in what the PostgreSQL SKU accepts, or web fails under load with 'too many
    clients'. An unknown SKU is a config error of its own."""
    sku = catalog.POSTGRES_SKUS.get(cfg.database.sku_name)
    if sku is None:
        return []
    used, limit = database_connections(cfg), catalog.postgres_user_connections(sku)
    if used <= limit:
        return []
    c = cfg.concourse
    return [
        Problem.at(
            "concourse.backendMaxConnections",
            c.backend_max_connections,
            f"(webReplicas {c.web_replicas} + 1 during a rollout) x (apiMaxConnections {c.api_max_connections} + "
            f"backendMaxConnections + {CONNECTIONS_OUTSIDE_POOLS}) = {used} connections, more than the {limit} "
            f"{cfg.database.sku_name} accepts; lower the pools or choose a larger database.skuName",
        )
    ]


def retention_problems(cfg: StackConfig) -> list[Problem]:
    """A default build-log retention above its maximum would be cut to the maximum by Concourse, unannounced."""
    c = cfg.concourse
    found = []
    if c.default_build_logs_to_retain > c.max_build_logs_to_retain:
        found.append(
            Problem.at(
                "concourse.defaultBuildLogsToRetain",
                c.default_build_logs_to_retain,
                f"must be <= maxBuildLogsToRetain ({c.max_build_logs_to_retain})",
            )
        )
    if c.default_days_to_retain_build_logs > c.max_days_to_retain_build_logs:
        found.append(
            Problem.at(
                "concourse.defaultDaysToRetainBuildLogs",
                c.default_days_to_retain_build_logs,
                f"must be <= maxDaysToRetainBuildLogs ({c.max_days_to_retain_build_logs})",
            )
        )
    return found
