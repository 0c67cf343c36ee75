"""What Concourse's settings may ask of the rest of the stack: how long a deploy waits for a new worker generation,
how many worker nodes an upgrade surges, how many PostgreSQL connections its web instances hold, and the build-log
retention bounds; with the rules that keep each within what the other side accepts. services/concourse.py releases
Concourse with these numbers."""

from __future__ import annotations

from components import catalog
from components.config.schema import StackConfig
from components.problem import Problem

MAX_RELEASE_WAIT_SECONDS = 12 * 3600
"""The longest a `pulumi up` may wait for Concourse: beyond half a day nobody is watching the deploy, and the
credentials it runs with (Vault token, Azure tokens) are not meant to live that long. An upgrade's wait no longer
grows with the fleet or the drain (upgrade_wait_seconds); tests/test_first_up.py holds it under this cap."""

CONNECTIONS_OUTSIDE_POOLS = 2
"""Per web instance, besides its API and backend pools: the lock connection and the notification listener."""

AKS_MAX_POOL_NODES = 1000
"""The largest maxCount AKS accepts for an autoscaled node pool (Microsoft Learn, AKS quotas and limits: 1000 nodes
per node pool)."""

UNINSTALL_POLL_SECONDS = 2
"""How often Helm's uninstall looks whether the objects it deleted are gone (helm v3.20.2 pkg/kube/wait.go
waitForDeletedResources): with background propagation an object without finalizers is gone at the first look."""


def release_timeout_seconds(cfg: StackConfig) -> int:
    """Helm's wait for each Concourse release: the web release's install or rolling upgrade (atomic: a broken web
    rolls back), and a worker generation's install. Neither includes a drain: workers never roll in place (a changed
    worker pod is a new generation, services/concourse.py), and the old generation drains after it is deleted."""
    return catalog.CHARTS["concourse"].timeout_seconds


def upgrade_wait_seconds(cfg: StackConfig) -> int:
    """The longest an upgrade `up` waits for Concourse's workers, whatever workerPool.maxCount and workerDrainSeconds.

    Pulumi replaces the worker release create-before-delete (pulumi-kubernetes' Release diff: a changed `name` forces
    replacement, DeleteBeforeReplace false): the new generation installs and Helm waits for it (at most
    release_timeout_seconds); the old one is deleted once the whole program has run without error (Pulumi's
    deployment executor runs deletes last and skips them after a failed step). That deletion is Helm's uninstall,
    which deletes the release's objects with background propagation and waits only for those objects (helm v3.20.2
    pkg/action/uninstall.go, pkg/kube/wait.go): they go at once, and the old workers' pods then retire in the
    background, each within its grace period (workerDrainSeconds), after `up` has returned. The web release's wait
    runs beside the new generation's (neither waits for the other). So: one install plus one uninstall poll, which is
    at most one workerDrainSeconds (its minimum is 60 s) plus the install."""
    return release_timeout_seconds(cfg) + UNINSTALL_POLL_SECONDS


def generation_surge_workers(cfg: StackConfig) -> int:
    """Workers a new generation brings up beside the old one before the old one is deleted: its HPA holds it at
    workerReplicas at least. (Helm's wait holds for the StatefulSet's live spec.replicas: one worker when the chart
    leaves `replicas` to the HPA, all of them once the HPA has raised it to its minimum.)"""
    return cfg.concourse.worker_replicas


def worker_pool_max_nodes(cfg: StackConfig) -> int:
    """The worker pool's autoscaler maximum: workerPool.maxCount workers of one generation (the HPA's maximum, one
    per node), plus a new generation's first workers beside a full old one during an upgrade. Outside an upgrade no
    worker asks for the extra nodes, so the autoscaler never adds them."""
    return cfg.cluster.worker_pool.max_count + generation_surge_workers(cfg)


def rollout_problems(cfg: StackConfig) -> list[Problem]:
    """A new worker generation must find nodes beside a full old one: the pool's autoscaler maximum, maxCount plus
    the generation's workerReplicas, stays within what AKS accepts. Otherwise the new generation stays Pending at
    peak load and the upgrade fails (safely: the old generation is left as it was)."""
    pool = cfg.cluster.worker_pool
    if worker_pool_max_nodes(cfg) <= AKS_MAX_POOL_NODES:
        return []
    return [
        Problem.at(
            "cluster.workerPool.maxCount",
            pool.max_count,
            f"plus concourse.workerReplicas ({cfg.concourse.worker_replicas}), the new worker generation an upgrade "
            f"brings up beside the old one, must be at most {AKS_MAX_POOL_NODES} (AKS's largest node pool); lower "
            "maxCount or workerReplicas",
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
