"""Pods as the scheduler sees them: which pods the rendered objects make, what they ask for, where they may run.

Pure functions over rendered manifests and a model of the stack's node pools (taken from the offline plan: the AKS
cluster's system pool and the worker AgentPool as the program declares them). Labels a pool's nodes carry are the
program's own plus those AKS puts on every node (Microsoft Learn, "Use labels in an AKS cluster": agentpool,
kubernetes.azure.com/agentpool, kubernetes.azure.com/mode, kubernetes.io/os, kubernetes.io/arch,
node.kubernetes.io/instance-type).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from components import nodes

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"

# Pods a custom resource makes through its operator, where the operator (not a chart template) writes the pod:
# kind -> how to read (count, pod template) pairs from the object. ECK: Elasticsearch nodeSets[].count/podTemplate,
# Kibana count/podTemplate, Beat daemonSet or deployment podTemplate (elastic.co/guide eck: the CRD references).
OPERATOR_KINDS = {"Elasticsearch", "Kibana", "Beat"}
# prometheus-operator's Prometheus and Alertmanager make pods too (replicas, resources, placement in the spec).

# What ECK's operator requests for a container whose podTemplate asks for nothing, as (CPU millicores, memory MiB).
# Source: elastic/cloud-on-k8s v3.5.0, pkg/controller/elasticsearch/nodespec/defaults.go (2Gi, no CPU),
# pkg/controller/kibana/pod.go (2Gi, no CPU), pkg/controller/beat/common/pod.go (100m, 300Mi).
ECK_DEFAULTS = {"Elasticsearch": (0, 2048), "Kibana": (0, 2048), "Beat": (100, 300)}


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str

    @classmethod
    def parse(cls, text: str) -> Taint:
        """`key=value:Effect` as AKS's nodeTaints take it."""
        spec, effect = text.rsplit(":", 1)
        key, _, value = spec.partition("=")
        return cls(key, value, effect)


@dataclass(frozen=True)
class Pool:
    name: str
    vm_size: str
    min_nodes: int
    max_nodes: int
    labels: dict[str, str]
    taints: tuple[Taint, ...]
    zones: int
    allocatable: nodes.Allocatable


@dataclass
class Pod:
    """One pod template with the number of copies it asks for (`per_node` for a DaemonSet)."""

    release: str
    owner: str
    """`Kind/namespace/name` of the object that makes the pods."""
    namespace: str
    replicas: int
    per_node: bool
    labels: dict[str, str]
    spec: dict[str, Any]
    max_replicas: int = 0
    """The most copies there may be: an HPA's maxReplicas, else `replicas`."""
    default_cpu_milli: int = 0
    default_memory_mib: int = 0
    """What the operator fills in for a container that requests nothing (ECK_DEFAULTS)."""
    eligible: list[Pool] = field(default_factory=list)


def pool_labels(name: str, mode: str, vm_size: str, own: dict[str, str]) -> dict[str, str]:
    return {
        "agentpool": name,
        "kubernetes.azure.com/agentpool": name,
        "kubernetes.azure.com/mode": mode,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": vm_size,
        **own,
    }


def pools_from_plan(registrations: list[Any]) -> tuple[list[Pool], str]:
    """The node pools and the Kubernetes version the program declares (ManagedCluster + AgentPool inputs)."""
    pools: list[Pool] = []
    version = ""
    for r in registrations:
        inputs = r.inputs
        if r.type == "azure-native:containerservice:ManagedCluster":
            version = str(inputs["kubernetesVersion"])
            minor = int(version.split(".")[1])
            for p in inputs.get("agentPoolProfiles") or []:
                count = int(p.get("count", 1))
                pools.append(_pool(p["name"], p.get("mode", "User"), p, count, count, minor))
    for r in registrations:
        if r.type == "azure-native:containerservice:AgentPool":
            p = r.inputs
            minor = int(version.split(".")[1])
            low = int(p.get("minCount", p.get("count", 1)))
            high = int(p.get("maxCount", low)) if p.get("enableAutoScaling") else low
            pools.append(_pool(p["agentPoolName"], p.get("mode", "User"), p, low, high, minor))
    return pools, version


def _pool(name: str, mode: str, p: dict[str, Any], low: int, high: int, minor: int) -> Pool:
    vm_size = p["vmSize"]
    max_pods = int(p.get("maxPods") or nodes.DEFAULT_MAX_PODS)
    return Pool(
        name=name,
        vm_size=vm_size,
        min_nodes=low,
        max_nodes=high,
        labels=pool_labels(name, mode.lower(), vm_size, p.get("nodeLabels") or {}),
        taints=tuple(Taint.parse(t) for t in p.get("nodeTaints") or []),
        zones=len(p.get("availabilityZones") or []) or 1,
        allocatable=nodes.allocatable(vm_size, max_pods, minor),
    )


def _template(obj: dict[str, Any]) -> list[tuple[int, bool, dict[str, Any]]]:
    """(replicas, per node, pod template) of the pods an object makes."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        return [(int(spec.get("replicas", 1)), False, spec.get("template") or {})]
    if kind == "DaemonSet":
        return [(1, True, spec.get("template") or {})]
    if kind == "Job":
        return [(int(spec.get("parallelism", 1)), False, spec.get("template") or {})]
    if kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        return [(int(job.get("parallelism", 1)), False, job.get("template") or {})]
    if kind == "Pod":
        return [(1, False, obj)]
    if kind == "Elasticsearch":
        return [(int(n.get("count", 1)), False, n.get("podTemplate") or {}) for n in spec.get("nodeSets") or []]
    if kind == "Kibana":
        return [(int(spec.get("count", 1)), False, spec.get("podTemplate") or {})]
    if kind in ("Prometheus", "Alertmanager"):
        # prometheus-operator writes the StatefulSet: the main container takes spec.resources, the pod the
        # spec's placement fields.
        placement = {k: spec[k] for k in ("nodeSelector", "tolerations", "affinity") if k in spec}
        container = {"name": str(kind).lower(), "resources": spec.get("resources") or {}}
        labels = (spec.get("podMetadata") or {}).get("labels") or {}
        template = {"metadata": {"labels": labels}, "spec": {"containers": [container], **placement}}
        return [(int(spec.get("replicas", 1)), False, template)]
    if kind == "Beat":
        if "daemonSet" in spec:
            return [(1, True, (spec["daemonSet"] or {}).get("podTemplate") or {})]
        deployment = spec.get("deployment") or {}
        return [(int(deployment.get("replicas", 1)), False, deployment.get("podTemplate") or {})]
    return []


def pods(release: str, objects: list[dict[str, Any]]) -> list[Pod]:
    found = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        for replicas, per_node, template in _template(obj):
            spec = dict(template.get("spec") or {})
            if obj.get("kind") in OPERATOR_KINDS and not spec.get("containers"):
                # The operator adds its main container when the podTemplate names none (ECK names it after the kind).
                spec["containers"] = [{"name": str(obj.get("kind")).lower()}]
            found.append(
                Pod(
                    release=release,
                    owner=f"{obj.get('kind')}/{meta.get('namespace', '')}/{meta.get('name')}",
                    namespace=str(meta.get("namespace", "")),
                    replicas=replicas,
                    per_node=per_node,
                    labels=dict((template.get("metadata") or {}).get("labels") or {}),
                    spec=spec,
                    default_cpu_milli=ECK_DEFAULTS.get(str(obj.get("kind")), (0, 0))[0],
                    default_memory_mib=ECK_DEFAULTS.get(str(obj.get("kind")), (0, 0))[1],
                )
            )
    for pod in found:
        pod.max_replicas = pod.max_replicas or pod.replicas
    autoscaled(found, objects)
    return found


def autoscaled(pods: list[Pod], objects: list[dict[str, Any]]) -> None:
    """Apply each HorizontalPodAutoscaler to the pods of its target: from minReplicas (a workload an HPA scales
    may leave `replicas` out, which reads as 1) up to maxReplicas."""
    for hpa in objects:
        if hpa.get("kind") != "HorizontalPodAutoscaler":
            continue
        spec, meta = hpa.get("spec") or {}, hpa.get("metadata") or {}
        target = spec.get("scaleTargetRef") or {}
        owner = f"{target.get('kind')}/{meta.get('namespace', '')}/{target.get('name')}"
        for pod in pods:
            if pod.owner == owner:
                pod.replicas = int(spec.get("minReplicas", 1))
                pod.max_replicas = int(spec.get("maxReplicas", pod.replicas))


def _expression(labels: dict[str, str], e: dict[str, Any]) -> bool:
    key, op, values = e.get("key", ""), e.get("operator", "In"), [str(v) for v in e.get("values") or []]
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and labels[key].isdigit() and values:
        return int(labels[key]) > int(values[0]) if op == "Gt" else int(labels[key]) < int(values[0])
    return False


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector against labels (an empty selector matches everything)."""
    match = selector.get("matchLabels") or {}
    if any(labels.get(k) != str(v) for k, v in match.items()):
        return False
    return all(_expression(labels, e) for e in selector.get("matchExpressions") or [])


def tolerates(tolerations: list[dict[str, Any]], taint: Taint) -> bool:
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint.effect:
            continue
        if t.get("operator", "Equal") == "Exists":
            if not t.get("key") or t["key"] == taint.key:
                return True
        elif t.get("key") == taint.key and str(t.get("value", "")) == taint.value:
            return True
    return False


def why_not(pod: Pod, pool: Pool) -> str:
    """Why a pod cannot run on a pool's nodes, or "" when it can."""
    spec = pod.spec
    # Node-specific labels (hostname, zone) differ per node: a selector on them is read as satisfiable.
    per_node = {HOSTNAME, ZONE}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if key not in per_node and pool.labels.get(key) != str(value):
            return f"nodeSelector {key}={value} (the pool's nodes have {key}={pool.labels.get(key, '<unset>')})"
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    if terms and not any(
        all(e.get("key") in per_node or _expression(pool.labels, e) for e in term.get("matchExpressions") or [])
        for term in terms
    ):
        return "required node affinity matches none of the pool's labels"
    for taint in pool.taints:
        if taint.effect in ("NoSchedule", "NoExecute") and not tolerates(spec.get("tolerations") or [], taint):
            return f"no toleration for taint {taint.key}={taint.value}:{taint.effect}"
    return ""


def spread_key(pod: Pod) -> str | None:
    """The topology key of a required anti-affinity that keeps a pod's replicas apart from each other, if any."""
    anti = (spec_affinity := (pod.spec.get("affinity") or {})).get("podAntiAffinity") or {}
    del spec_affinity
    for term in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
        if selector_matches(term.get("labelSelector") or {}, pod.labels):
            return str(term.get("topologyKey", HOSTNAME))
    return None


UNITS = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


def cpu_milli(quantity: Any) -> int:
    text = str(quantity)
    return int(float(text[:-1])) if text.endswith("m") else int(float(text) * 1000)


def memory_mib(quantity: Any) -> int:
    match = re.fullmatch(r"([0-9.e+]+)([kMGT]i?)?", str(quantity))
    if not match:
        raise ValueError(f"not a memory quantity: {quantity}")
    return int(float(match.group(1)) * UNITS[match.group(2) or ""] / 1024**2)


@dataclass(frozen=True)
class Requests:
    cpu_milli: int
    memory_mib: int
    missing: tuple[str, ...]
    """Containers that request no CPU or no memory."""


def requests(pod: Pod) -> Requests:
    """What one copy of the pod asks the scheduler for: the sum of its containers, or its largest init container
    if that is more (the scheduler's effective request)."""

    def of(container: dict[str, Any]) -> tuple[int, int]:
        asked = (container.get("resources") or {}).get("requests") or {}
        return (
            cpu_milli(asked["cpu"]) if "cpu" in asked else pod.default_cpu_milli,
            memory_mib(asked["memory"]) if "memory" in asked else pod.default_memory_mib,
        )

    containers = pod.spec.get("containers") or []
    # An operator-made pod: the first container is the one the operator fills defaults into.
    missing = tuple(c.get("name", "?") for c in containers if 0 in of(c))
    total = [sum(of(c)[i] for c in containers) for i in (0, 1)]
    for init in pod.spec.get("initContainers") or []:
        cpu, memory = of(init)
        total = [max(total[0], cpu), max(total[1], memory)]
    return Requests(total[0], total[1], missing)
