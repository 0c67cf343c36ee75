"""Whether a stack's workloads fit its node pools, and the regional vCPU quota its pools draw, from config alone.

The charts cdstack installs on the system pool with *required* pod anti-affinity on `kubernetes.io/hostname` place
at most one server per node: Vault's (vault chart `server.affinity`) and, on Consul storage, Consul's
(consul chart `server.affinity`), and neither tolerates the worker pool's taint. With fewer system nodes than servers
the rest stay Pending, Raft (or Consul) never elects a leader, and the atomic release times out and rolls back. The
rendered-manifest audit checks every workload; this rule catches the common case before anything is planned.
"""

from __future__ import annotations

from dataclasses import dataclass

from components import catalog, upgrades
from components.concourse import limits as concourse_limits
from components.config.schema import StackConfig
from components.problem import Problem


def one_per_node_servers(cfg: StackConfig) -> dict[str, int]:
    """Servers the system pool must hold one per node, by the config key that sets their count."""
    store = cfg.vault.in_cluster_store
    if store is None:
        return {}
    servers = {"vault.serverReplicas": cfg.vault.server_replicas}
    return {"vault.consulReplicas": cfg.vault.consul_replicas, **servers} if store == "consul" else servers


def system_pool_problems(cfg: StackConfig) -> list[Problem]:
    """Each server that needs a system node of its own has one."""
    nodes = cfg.cluster.system_pool.count
    return [
        Problem.at(
            "cluster.systemPool.count",
            nodes,
            f"must be at least {key} ({replicas}): each server needs a system node of its own "
            f"(raise cluster.systemPool.count or lower {key})",
        )
        for key, replicas in one_per_node_servers(cfg).items()
        if replicas > nodes
    ]


def worker_pool_problems(cfg: StackConfig) -> list[Problem]:
    """The worker pool's bounds are in order and hold the fewest workers. Every worker takes a worker node of its own
    (the chart's `hardAntiAffinity`, requests sized to the node: services/concourse.py, sizing.py), so:

    - more minimum workers than the pool's largest size would stay Pending, the HPA's floor above its ceiling;
    - more minimum workers than the pool's smallest size leave the last ones Pending until the cluster autoscaler
      adds their nodes (the first `up` waits for a scale-up), and the pool never shrinks to a minimum its workers
      never leave, so that minimum only understates the stack's standing cost (`make cost`)."""
    pool = cfg.cluster.worker_pool
    workers = cfg.concourse.worker_replicas
    found = []
    if pool.min_count > pool.max_count:
        found.append(
            Problem.at("cluster.workerPool.minCount", pool.min_count, f"must be <= maxCount ({pool.max_count})")
        )
    if workers > pool.min_count:
        found.append(
            Problem.at(
                "cluster.workerPool.minCount",
                pool.min_count,
                f"must be at least concourse.workerReplicas ({workers}): each worker takes a worker node of its own "
                "(raise minCount or lower workerReplicas)",
            )
        )
    if workers > pool.max_count:
        found.append(
            Problem.at(
                "concourse.workerReplicas",
                workers,
                f"must be <= cluster.workerPool.maxCount ({pool.max_count}): one worker per worker node",
            )
        )
    return found


@dataclass(frozen=True)
class QuotaNeed:
    family: str
    minimum: int
    maximum: int
    """vCPUs at the pools' largest size, with their surge nodes during upgrades (upgrade.maxSurge) and, for the
    worker pool, a new Concourse worker generation beside a full old one (concourse_limits.worker_pool_max_nodes)."""


def vcpu_quota(cfg: StackConfig) -> list[QuotaNeed]:
    """The regional vCPUs per VM family the cluster needs, at its smallest and its largest size (with upgrade surge).
    Azure refuses to create or scale a node pool beyond the subscription's quota for that family in the region."""
    system, workers = cfg.cluster.system_pool, cfg.cluster.worker_pool
    pools = [
        (system.vm_size, system.count, system.count, system.upgrade.max_surge),
        (workers.vm_size, workers.min_count, concourse_limits.worker_pool_max_nodes(cfg), workers.upgrade.max_surge),
    ]
    needs: dict[str, list[int]] = {}
    for vm_size, low, high, max_surge in pools:
        size = catalog.VM_SIZES.get(vm_size)
        if size is None:
            continue  # an unknown size is a config error of its own
        need = needs.setdefault(size.quota_family, [0, 0])
        need[0] += low * size.vcpus
        need[1] += (high + upgrades.surge_nodes(max_surge, high)) * size.vcpus
    return [QuotaNeed(family, low, high) for family, (low, high) in sorted(needs.items())]


def total_regional_vcpus(needs: list[QuotaNeed]) -> tuple[int, int]:
    """The 'Total Regional vCPUs' quota a stack needs, smallest and largest (every family counts against it)."""
    return sum(n.minimum for n in needs), sum(n.maximum for n in needs)


def os_disk_problems(cfg: StackConfig) -> list[Problem]:
    """An ephemeral OS disk lives on the VM's local temporary disk: the requested size must fit it (AKS refuses the
    pool otherwise), and a size without one cannot have it."""
    problems = []
    for key, pool in (("systemPool", cfg.cluster.system_pool), ("workerPool", cfg.cluster.worker_pool)):
        if pool.os_disk_type != "Ephemeral":
            continue
        temp = catalog.VM_SIZES[pool.vm_size].temp_disk_gib
        if temp == 0:
            problems.append(Problem.at(f"cluster.{key}.osDiskType", pool.os_disk_type,
                f"must be Managed: {pool.vm_size} has no local temporary disk for an ephemeral OS disk (a `d` size "
                "such as Standard_D4ds_v5 has one)"))  # fmt: skip
        elif pool.os_disk_size_gb > temp:
            problems.append(Problem.at(f"cluster.{key}.osDiskSizeGb", pool.os_disk_size_gb,
                f"must be at most {temp:g}: an ephemeral OS disk must fit {pool.vm_size}'s {temp:g} GiB temporary "
                "disk (or set osDiskType: Managed)"))  # fmt: skip
    return problems
