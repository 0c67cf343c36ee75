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


PARALLEL_ROLLOUT_FROM_MINOR = 35
"""From Kubernetes 1.35 a StatefulSet's `updateStrategy.rollingUpdate.maxUnavailable` is honoured: alpha behind the
MaxUnavailableStatefulSet gate from 1.24, beta and on by default from 1.35 (KEP-961; the 1.36 OpenAPI's
RollingUpdateStatefulSetStrategy: "beta-level and is enabled by default", "might not be effective for the OrderedReady
podManagementPolicy"). Before that the controller replaces one pod at a time whatever the field says."""


def worker_rollout_batch(cfg: StackConfig) -> int:
    """How many workers a rolling update retires at once: the fewest that let workerPool.maxCount workers roll within
    MAX_RELEASE_WAIT_SECONDS, so the most workers keep taking builds while it runs.

    maxCount, not workerReplicas, because that is what Helm waits for: with autoscaling the chart renders no
    `replicas` (the HPA's count stays), and Helm's --wait (pkg/kube/ready.go statefulSetReady, helm v3.20.2, which
    pulumi-kubernetes' helm.v3.Release embeds with Wait = !skipAwait) holds until updatedReplicas and readyReplicas
    reach the live spec.replicas, up to the HPA's maxReplicas. Each retiring worker takes up to workerDrainSeconds."""
    c = cfg.concourse
    if _minor(cfg) < PARALLEL_ROLLOUT_FROM_MINOR:
        return 1
    rounds = max(1, (MAX_RELEASE_WAIT_SECONDS - catalog.CHARTS["concourse"].timeout_seconds) // c.worker_drain_seconds)
    return -(-cfg.cluster.worker_pool.max_count // rounds)


def _minor(cfg: StackConfig) -> int:
    return int(cfg.cluster.kubernetes_version.split(".")[1])


def release_timeout_seconds(cfg: StackConfig) -> int:
    """Helm's wait for the Concourse release: a first install (catalog), plus an upgrade's rolling update of the
    worker StatefulSet: up to workerPool.maxCount workers, worker_rollout_batch at a time, each batch up to
    workerDrainSeconds (the workers' termination grace period) to retire. A shorter wait times out mid-rollout and
    the atomic rollback restarts the workers again."""
    c = cfg.concourse
    rounds = -(-cfg.cluster.worker_pool.max_count // worker_rollout_batch(cfg))
    return catalog.CHARTS["concourse"].timeout_seconds + rounds * c.worker_drain_seconds


def rollout_problems(cfg: StackConfig) -> list[Problem]:
    """The worker rollout must fit in MAX_RELEASE_WAIT_SECONDS, and leave a worker taking builds while it runs."""
    c, pool = cfg.concourse, cfg.cluster.worker_pool
    install = catalog.CHARTS["concourse"].timeout_seconds
    batch = worker_rollout_batch(cfg)
    if release_timeout_seconds(cfg) > MAX_RELEASE_WAIT_SECONDS:
        at_once = (
            "one at a time before Kubernetes 1.35"
            if _minor(cfg) < PARALLEL_ROLLOUT_FROM_MINOR
            else "even a single round of drains"
        )
        return [
            Problem.at(
                "concourse.workerDrainSeconds",
                c.worker_drain_seconds,
                f"a rolling update of up to workerPool.maxCount ({pool.max_count}) workers, {at_once}, each up to "
                f"workerDrainSeconds, plus the install ({install} s) must fit in {MAX_RELEASE_WAIT_SECONDS} s, the "
                "longest a deploy waits for it; lower workerDrainSeconds or workerPool.maxCount",
            )
        ]
    if batch >= c.worker_replicas:
        return [
            Problem.at(
                "concourse.workerDrainSeconds",
                c.worker_drain_seconds,
                f"to fit in {MAX_RELEASE_WAIT_SECONDS} s a rolling update of up to workerPool.maxCount "
                f"({pool.max_count}) workers must retire {batch} at once, which at workerReplicas ({c.worker_replicas})"
                " leaves no worker taking builds; lower workerDrainSeconds or workerPool.maxCount, or raise "
                "workerReplicas",
            )
        ]
    return []


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
