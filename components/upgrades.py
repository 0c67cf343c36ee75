"""How AKS upgrades the node pools, and the rules that keep its upgrades compatible with Concourse's workers.

AKS upgrades a pool (a Kubernetes version, or the weekly node image of the node-OS channel) by adding surge nodes,
then draining and reimaging the old ones one batch at a time. A drain that takes longer than the pool's
`drainTimeoutInMinutes` fails the upgrade (AgentPoolUpgradeSettings, AKS API reference; default 30 minutes). A
Concourse worker takes up to `concourse.workerDrainSeconds` to retire (its termination grace period), so the worker
pool's drain timeout is derived from it, and the maintenance window must be long enough to drain one node of each
pool, or the node-OS channel never gets a node done inside its window.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from components.config.schema import PoolUpgradeConfig, StackConfig
from components.problem import Problem

if TYPE_CHECKING:
    from pulumi_azure_native.containerservice import AgentPoolUpgradeSettingsArgsDict

Pool = Literal["system", "workers"]

DRAIN_MARGIN_MINUTES = 10
"""On top of the workers' grace period: eviction, the pre-stop hook starting, and the pod's own shutdown."""
MAX_DRAIN_TIMEOUT_MINUTES = 1440
"""The largest drainTimeoutInMinutes AKS accepts."""
REIMAGE_MINUTES = 15
"""About how long AKS takes to reimage a drained node and see it Ready (an estimate; the window needs headroom)."""


def surge_nodes(max_surge: str, pool_size: int) -> int:
    """Nodes AKS adds during an upgrade: a count, or a share of the pool rounded up (as AKS rounds it)."""
    if max_surge.endswith("%"):
        return math.ceil(pool_size * int(max_surge[:-1]) / 100)
    return int(max_surge)


def drain_timeout_minutes(cfg: StackConfig, pool: Pool) -> int:
    if pool == "system":
        return cfg.cluster.system_pool.drain_timeout_minutes
    return math.ceil(cfg.concourse.worker_drain_seconds / 60) + DRAIN_MARGIN_MINUTES


def pool_upgrade(cfg: StackConfig, pool: Pool) -> PoolUpgradeConfig:
    pools = cfg.cluster
    return pools.system_pool.upgrade if pool == "system" else pools.worker_pool.upgrade


def upgrade_settings(cfg: StackConfig, pool: Pool) -> AgentPoolUpgradeSettingsArgsDict:
    """AgentPoolUpgradeSettings of a pool, as the SDK's plain-dict form."""
    upgrade = pool_upgrade(cfg, pool)
    return {
        "drain_timeout_in_minutes": drain_timeout_minutes(cfg, pool),
        "max_surge": upgrade.max_surge,
        "node_soak_duration_in_minutes": upgrade.node_soak_minutes,
        "undrainable_node_behavior": upgrade.undrainable_node_behavior,
    }


def problems(cfg: StackConfig) -> list[Problem]:
    """The worker pool's drain timeout stays within what AKS accepts, and the maintenance window holds one node's
    drain, soak and reimage for each pool."""
    found: list[Problem] = []
    workers = drain_timeout_minutes(cfg, "workers")
    longest_drain = (MAX_DRAIN_TIMEOUT_MINUTES - DRAIN_MARGIN_MINUTES) * 60
    if workers > MAX_DRAIN_TIMEOUT_MINUTES:
        found.append(
            Problem.at(
                "concourse.workerDrainSeconds",
                cfg.concourse.worker_drain_seconds,
                f"makes the worker pool's drain timeout {workers} minutes; AKS allows at most "
                f"{MAX_DRAIN_TIMEOUT_MINUTES} (workerDrainSeconds <= {longest_drain})",
            )
        )
    window = cfg.cluster.maintenance_window.duration_hours * 60
    for pool in ("system", "workers"):
        need = drain_timeout_minutes(cfg, pool) + pool_upgrade(cfg, pool).node_soak_minutes + REIMAGE_MINUTES
        if need > window:
            found.append(
                Problem.at(
                    "cluster.maintenanceWindow.durationHours",
                    cfg.cluster.maintenance_window.duration_hours,
                    f"must hold one {pool} node's drain, soak and reimage ({need} minutes); lengthen the window or "
                    "shorten the drain",
                )
            )
    return found
