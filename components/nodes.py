"""What a node of a pool offers to pods: its size less what AKS reserves for itself.

Capacity checks (the render audit's capacity report, and any config rule) compare pod requests against this,
not against the VM size: on a Standard_D4ds_v5 a few hundred MiB and a sixth of a core never reach a pod.

Source: Microsoft Learn, "Node resource reservations in Azure Kubernetes Service (AKS)" (node-resource-reservations),
read 2026-11-29. Linux nodes only (cdstack runs no Windows pool).
"""

from __future__ import annotations

from dataclasses import dataclass

from components import catalog

MIB_PER_GIB = 1024

# Kube-reserved CPU by the node's core count, in millicores (the article's CPU table).
KUBE_RESERVED_CPU_MILLI: dict[int, int] = {1: 60, 2: 100, 4: 140, 8: 180, 16: 260, 32: 420, 64: 740}

# Pods per node when a pool sets no maxPods: Azure CNI overlay's default ("Configure Azure CNI Overlay networking":
# maximum pods per node 250 by default), which is what the system pool runs with.
DEFAULT_MAX_PODS = 250


@dataclass(frozen=True)
class Allocatable:
    cpu_milli: int
    memory_mib: int
    pods: int


def kube_reserved_cpu_milli(vcpus: int) -> int:
    """The article's table; a core count between two columns takes the lower column's figure (never over-promise)."""
    return KUBE_RESERVED_CPU_MILLI[max(c for c in KUBE_RESERVED_CPU_MILLI if c <= vcpus)]


def reserved_memory_mib(memory_mib: int, max_pods: int, kubernetes_minor: int) -> int:
    """Kube-reserved memory plus the kubelet's hard eviction threshold.

    AKS 1.29 and later: min(20 MB per max pod + 50 MB, 25% of memory), plus `memory.available<100Mi`.
    Before 1.29: 25% of the first 4 GB, 20% of the next 4, 10% of the next 8, 6% of the next 112, 2% above 128 GB,
    plus `memory.available<750Mi`.
    """
    if kubernetes_minor >= 29:
        return min(20 * max_pods + 50, memory_mib // 4) + 100
    bands = ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (1 << 20, 0.02))
    left, reserved = memory_mib, 0.0
    for gib, share in bands:
        take = min(left, gib * MIB_PER_GIB)
        reserved += take * share
        left -= take
    return int(reserved) + 750


def allocatable(vm_size: str, max_pods: int, kubernetes_minor: int) -> Allocatable:
    """What the scheduler may hand to pods on one node of `vm_size`."""
    size = catalog.VM_SIZES[vm_size]
    memory_mib = size.memory_gib * MIB_PER_GIB
    return Allocatable(
        cpu_milli=size.vcpus * 1000 - kube_reserved_cpu_milli(size.vcpus),
        memory_mib=memory_mib - reserved_memory_mib(memory_mib, max_pods, kubernetes_minor),
        pods=max_pods,
    )
