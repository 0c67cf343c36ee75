"""CPU and memory requests of every workload cdstack runs: what the scheduler reserves, and what capacity checks add.

Without requests a pod is scheduled anywhere and counted as nothing, so neither the cluster autoscaler nor the
render audit's capacity figure can be trusted. Figures come from each chart's own guidance at the pinned version:
the example `resources` its values.yaml documents (cited per chart), or the operator's defaults; where a figure is
the project's own choice the comment says why. Every container sized here also gets limits (issue 24: a container
without them may take a node's whole CPU or memory), set well above its request so that a normal spike is neither
throttled nor killed: see `sized`.

`with_requests(chart_key, values)` lays these under the program's values for each release (components/services/
release.py); a value the program sets itself wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from components import nodes
from components.config.schema import StackConfig

CPU_LIMIT_FACTOR = 4
MIN_CPU_LIMIT_MILLI = 500
MEMORY_LIMIT_FACTOR = 2
"""Limits from requests (the program's choice): CPU four times the request and at least half a CPU, so a start-up or
a burst is not throttled; memory twice the request, a ceiling that only a leak or a runaway reaches."""

_MEMORY_UNITS = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}


def cpu_milli(quantity: str) -> int:
    """A Kubernetes CPU quantity (`250m`, `1`, `0.5`) in millicores."""
    return int(quantity[:-1]) if quantity.endswith("m") else round(float(quantity) * 1000)


def memory_mib(quantity: str) -> float:
    """A Kubernetes memory quantity in binary units (`32Mi`, `2Gi`) in MiB."""
    return float(quantity[:-2]) * _MEMORY_UNITS[quantity[-2:]]


def requests(cpu: str, memory: str) -> dict[str, Any]:
    """Only requests: for a pod that owns a whole node (a Concourse worker), where a limit would only cut it short."""
    return {"requests": {"cpu": cpu, "memory": memory}}


def sized(cpu: str, memory: str) -> dict[str, Any]:
    """Requests, and limits derived from them (CPU_LIMIT_FACTOR, MEMORY_LIMIT_FACTOR)."""
    cpu_limit = max(cpu_milli(cpu) * CPU_LIMIT_FACTOR, MIN_CPU_LIMIT_MILLI)
    memory_limit = memory_mib(memory) * MEMORY_LIMIT_FACTOR
    return {**requests(cpu, memory), "limits": {"cpu": f"{cpu_limit}m", "memory": f"{memory_limit:g}Mi"}}


def guaranteed_memory(cpu: str, memory: str) -> dict[str, Any]:
    """Requests, and a memory limit equal to the memory request: for JVM and Node.js servers that size their heap
    from the container's memory limit (Elasticsearch, Kibana)."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}


ELASTICSEARCH = guaranteed_memory("1", "2Gi")
"""Each Elasticsearch node: ECK's default of 2Gi memory as request and limit (elastic/cloud-on-k8s v3.5.0,
pkg/controller/elasticsearch/nodespec/defaults.go: the JVM heap takes half), plus one CPU, which ECK leaves unset
and which Elasticsearch reads as its processor count (the program's choice). components/services/logging.py puts
it on the node set's podTemplate (a list item, which the merge below cannot reach)."""


# chart key -> values to lay under the program's values.
REQUESTS: dict[str, dict[str, Any]] = {
    # traefik 41.3.0 documents no example (`resources: {}`): the program's choice, 100m/128Mi, for a proxy in front
    # of a handful of hosts.
    "traefik": {"resources": sized("100m", "128Mi")},
    # cert-manager v1.21.1 values.yaml: `requests: cpu: 10m, memory: 32Mi` for controller, webhook, cainjector and
    # startupapicheck alike.
    "cert-manager": {
        "resources": sized("10m", "32Mi"),
        "webhook": {"resources": sized("10m", "32Mi")},
        "cainjector": {"resources": sized("10m", "32Mi")},
        "startupapicheck": {"resources": sized("10m", "32Mi")},
    },
    # vault 0.34.1 values.yaml, server.resources example: requests memory 256Mi, cpu 250m.
    "vault": {"server": {"resources": sized("250m", "256Mi")}},
    # chartmuseum 3.10.4 values.yaml example: requests cpu 80m, memory 64Mi.
    "chartmuseum": {"resources": sized("80m", "64Mi")},
    # influxdb2 2.1.2 values.yaml example: cpu 100m, memory 128Mi; raised to 512Mi because InfluxDB 2 keeps its
    # series index and write cache in memory and Concourse writes every build's metrics (the program's choice).
    "influxdb2": {"resources": sized("100m", "512Mi")},
    # telegraf 1.8.74 values.yaml example: memory 128Mi, cpu 100m.
    "telegraf": {"resources": sized("100m", "128Mi")},
    # elastalert2 2.31.0 documents none; ElastAlert is one Python process polling Elasticsearch (the program's
    # choice: 50m/256Mi).
    "elastalert2": {"resources": sized("50m", "256Mi")},
    # kube-prometheus-stack 88.5.3 values.yaml examples: prometheusOperator (and its admission jobs) 100m/100Mi;
    # kube-state-metrics 8.4.0 10m/32Mi; prometheus-node-exporter 4.56.1 100m/30Mi; grafana 12.11.1 100m/128Mi and
    # its sidecars 50m/50Mi. Prometheus and Alertmanager: the chart's example asks memory 400Mi; Prometheus gets
    # 1Gi/250m because its memory grows with the active series of every node, pod and Concourse job it scrapes
    # (the program's choice), Alertmanager the example's 400Mi with 50m.
    # ECK (elastic/cloud-on-k8s v3.5.0, pkg/controller/kibana/pod.go) gives Kibana 2Gi of memory as request and
    # limit when it asks for none, and no CPU: the same memory, stated, plus 500m (the program's choice).
    "eck-stack": {
        "eck-kibana": {
            "podTemplate": {"spec": {"containers": [{"name": "kibana", "resources": guaranteed_memory("500m", "2Gi")}]}}
        }
    },
    "kube-prometheus-stack": {
        # The CRD upgrade hook (bzcat, then kubectl apply): documented as `resources: {}`; 50m/128Mi, the
        # program's choice for one kubectl apply of the chart's CRDs.
        "crds": {"upgradeJob": {"resources": sized("50m", "128Mi")}},
        "prometheusOperator": {
            "resources": sized("100m", "100Mi"),
            "admissionWebhooks": {"patch": {"resources": sized("100m", "100Mi")}},
        },
        "prometheus": {"prometheusSpec": {"resources": sized("250m", "1Gi")}},
        "alertmanager": {"alertmanagerSpec": {"resources": sized("50m", "400Mi")}},
        "kube-state-metrics": {"resources": sized("10m", "32Mi")},
        "prometheus-node-exporter": {"resources": sized("100m", "30Mi")},
        "grafana": {"resources": sized("100m", "128Mi"), "sidecar": {"resources": sized("50m", "50Mi")}},
    },
}


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` laid on `base`, maps merged key by key (Helm's own rule for values); `over` wins on a leaf."""
    merged: dict[str, Any] = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def with_requests(chart_key: str, values: pulumi.Input[Mapping[str, Any]]) -> pulumi.Input[Mapping[str, Any]]:
    """The program's values for a release with this module's requests underneath. A plain dict stays a plain dict
    (its nested outputs untouched, so a preview still shows every known value)."""
    sizing = REQUESTS.get(chart_key)
    if not sizing:
        return values
    if isinstance(values, Mapping):
        return merge(sizing, values)
    return pulumi.Output.from_input(values).apply(lambda resolved: merge(sizing, resolved))


WORKER_NODE_ALLOWANCE_CPU_MILLI = 1000
WORKER_NODE_ALLOWANCE_MEMORY_MIB = 2048
"""What a worker node keeps for everything but the Concourse worker: the stack's DaemonSets there (node exporter,
Filebeat: 200m and 330Mi, as the render audit counts them) and AKS's own node agents (CNI, CSI drivers, cloud node
manager), with room to spare. The program's choice; the audit's capacity check proves the sum fits."""


def worker_requests(cfg: StackConfig) -> dict[str, Any]:
    """A Concourse worker asks for a whole worker node, less the allowance above.

    Builds run as containers inside the worker pod, so what they use is the worker's. Requesting the node makes one
    worker fill one node: a worker the autoscaler (HPA) adds that finds no room stays Pending, and a Pending pod is
    what makes the cluster autoscaler add a node; a node whose worker retired is empty, and the cluster autoscaler
    removes it.
    """
    pool = cfg.cluster.worker_pool
    node = nodes.allocatable(pool.vm_size, pool.max_pods, int(cfg.cluster.kubernetes_version.split(".")[1]))
    return requests(
        f"{node.cpu_milli - WORKER_NODE_ALLOWANCE_CPU_MILLI}m",
        f"{node.memory_mib - WORKER_NODE_ALLOWANCE_MEMORY_MIB}Mi",
    )
