"""`make netpol STACK=<stack>`: the stack's pod-to-pod connectivity as network-config-analyzer computes it.

The analyzer (np-guard's `nca`, PyPI network-config-analyzer, pinned in requirements-netpol.txt and installed in
.venv-netpol: its pins clash with the project's) reads pods, namespaces and NetworkPolicies. It gets:
- one pod per pod template of every Helm release rendered from the pinned charts (tools/render.py) and of the
  program's own workloads, with the labels Kubernetes and the operators add: the Job controller's `job-name`,
  ECK's and prometheus-operator's labels on the pods they write from a custom resource, cert-manager's HTTP-01
  solver pod in each namespace with a TLS Ingress, and AKS's CoreDNS in kube-system;
- every namespace with its `kubernetes.io/metadata.name` label;
- the NetworkPolicies of the charts and of the program (components/network_edges.py, as the offline plan creates
  them).
Host-network pods (the node exporter) are outside NetworkPolicy's reach and left out. The input lands in
`rendered/<stack>/netpol/`; the connectivity map is printed, then the checks (`check`): every required edge of the
stack allowed, the sample of forbidden edges denied, every pod isolated in both directions. Exit 1 on a failure.
"""

from __future__ import annotations

import argparse
import ipaddress
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components import network_edges
from components.config.loader import ConfigError
from components.config.schema import StackConfig
from components.network_edges import Addresses, Anywhere, Edge, Pods, Port
from tools import charts, offline, render, short_run, workloads

NCA = offline.PROJECT_DIR / ".venv-netpol" / "bin" / "nca"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", *workloads.OPERATOR_KINDS}
WORKLOAD_KINDS |= {"Prometheus", "Alertmanager"}
EXTERNAL = "0.0.0.0/0"
"""How the analyzer names addresses outside the cluster in its map."""


def operator_labels(kind: str, name: str) -> dict[str, str]:
    """The labels an operator puts on the pods it makes for a custom resource (ECK v3.5.0: pkg/controller/*/label;
    prometheus-operator: the selectors of kube-prometheus-stack's own Services for those pods)."""
    eck = "common.k8s.elastic.co/type"
    return {
        "Elasticsearch": {eck: "elasticsearch", "elasticsearch.k8s.elastic.co/cluster-name": name},
        "Kibana": {eck: "kibana", "kibana.k8s.elastic.co/name": name},
        "Beat": {eck: "beat", "beat.k8s.elastic.co/name": name},
        "Prometheus": {"app.kubernetes.io/name": "prometheus", "operator.prometheus.io/name": name, "prometheus": name},
        "Alertmanager": {"app.kubernetes.io/name": "alertmanager", "alertmanager": name},
    }.get(kind, {})


def added_labels(obj: dict[str, Any]) -> dict[str, str]:
    """Labels Kubernetes itself adds to a workload's pods: a Job's controller names the Job on them."""
    name = str((obj.get("metadata") or {}).get("name"))
    if obj.get("kind") == "Job":
        return {"batch.kubernetes.io/job-name": name, "job-name": name}
    return operator_labels(str(obj.get("kind")), name)


OPERATOR_SERVICES = {"Kibana": ("kb-http", 5601), "Elasticsearch": ("es-http", 9200)}
"""The HTTP Service ECK makes for each resource: `<name>-<suffix>`, selecting its pods on this port (ECK v3.5.0:
pkg/apis/*/v1/name.go, pkg/controller/*/network/ports.go)."""


def operator_services(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for obj in objects:
        kind, meta = str(obj.get("kind")), obj.get("metadata") or {}
        if kind in OPERATOR_SERVICES:
            suffix, port = OPERATOR_SERVICES[kind]
            found.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": f"{meta['name']}-{suffix}", "namespace": meta["namespace"]},
                    "spec": {
                        "selector": operator_labels(kind, meta["name"]),
                        "ports": [{"name": "https", "port": port}],
                    },
                }
            )
    return found


@dataclass
class Cluster:
    """What the analyzer reads of one stack, and what the agreement checks read besides."""

    pods: list[dict[str, Any]] = field(default_factory=list)
    host_network: list[dict[str, Any]] = field(default_factory=list)
    """Host-network pods: outside NetworkPolicy, reached at their node's address."""
    namespaces: list[str] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)
    """Every rendered and program object (Services, ServiceMonitors, Ingresses, webhooks...)."""


def whole_numbers(value: Any) -> Any:
    """The offline plan records every number as a float (Pulumi's wire format); a port is an integer again."""
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _pod(name: str, namespace: str, labels: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    containers = [
        {"name": c.get("name", "main"), "image": "placeholder", "ports": c.get("ports") or []}
        for c in spec.get("containers") or [{"name": "main"}]
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": containers, **({"hostNetwork": True} if spec.get("hostNetwork") else {})},
    }


COREDNS_POD = _pod(
    "coredns",
    network_edges.COREDNS.namespace,
    network_edges.COREDNS.selector,
    {"containers": [{"name": "coredns", "ports": [{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 9153}]}]},
)
"""AKS's CoreDNS (not rendered: AKS runs it), with the label the chart's CoreDNS Service selects."""


def tls_namespaces(objects: Iterable[dict[str, Any]]) -> list[str]:
    """Namespaces with an Ingress that has TLS: cert-manager proves their hosts with a solver pod there."""
    return sorted(
        {
            str(o["metadata"]["namespace"])
            for o in objects
            if o.get("kind") == "Ingress" and (o.get("spec") or {}).get("tls")
        }
    )


def cluster_of(objects: list[dict[str, Any]]) -> Cluster:
    """The analyzer's view of a list of objects (charts' and program's alike)."""
    cluster = Cluster(objects=objects + operator_services(objects))
    owners = {
        f"{o.get('kind')}/{(o.get('metadata') or {}).get('namespace', '')}/{o['metadata']['name']}": o
        for o in objects
        if o.get("kind") in WORKLOAD_KINDS
    }
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        if obj.get("kind") == "NetworkPolicy":
            cluster.policies.append(whole_numbers(obj))
        if obj.get("kind") == "Namespace":
            cluster.namespaces.append(str(obj["metadata"]["name"]))
    for pod in workloads.pods(
        "", list(owners.values()) + [o for o in objects if o.get("kind") == "HorizontalPodAutoscaler"]
    ):
        obj = owners[pod.owner]
        name = str(obj["metadata"]["name"])
        if pod.spec.get("hostNetwork"):
            cluster.host_network.append(_pod(name, pod.namespace, {**pod.labels, **added_labels(obj)}, pod.spec))
            continue
        if (pod.namespace, name) in seen:
            name = f"{name}-{str(obj.get('kind')).lower()}"
        seen.add((pod.namespace, name))
        labels = {**pod.labels, **added_labels(obj)}
        cluster.pods.append(_pod(name, pod.namespace, labels, pod.spec))
        if pod.per_node or max(pod.replicas, pod.max_replicas) > 1:
            # A second replica: what its peers may send it is shown only between two pods.
            cluster.pods.append(_pod(f"{name}-2", pod.namespace, labels, pod.spec))
    for namespace in tls_namespaces(objects):
        solver = network_edges.acme_solver(namespace)
        port = {"containerPort": network_edges.ACME_SOLVER_PORT}
        cluster.pods.append(_pod("acme-solver", namespace, solver.selector, {"containers": [{"ports": [port]}]}))
    cluster.pods.append(COREDNS_POD)
    cluster.namespaces = sorted({*cluster.namespaces, *(p["metadata"]["namespace"] for p in cluster.pods)})
    return cluster


def stack_cluster(stack: str) -> Cluster:
    """A stack's releases rendered from the pinned charts, with the objects its program creates."""
    rendered, program = render.stack_with_program(stack)
    return cluster_of([o for r in rendered for o in r.objects] + program)


def write(cluster: Cluster, folder: Path) -> Path:
    """The analyzer's input as three YAML files in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}}}
        for n in cluster.namespaces
    ]
    for name, docs in (("namespaces", namespaces), ("pods", cluster.pods), ("network-policies", cluster.policies)):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=True))
    return folder


def nca(*args: str) -> str:
    """Run the analyzer; its output (it exits non-zero when a query's answer is "no", which callers judge)."""
    if not NCA.exists():
        raise RuntimeError(f"{NCA} is missing: `make netpol` installs it (requirements-netpol.txt)")
    done = subprocess.run([str(NCA), *args], capture_output=True, text=True)
    if "Traceback" in done.stderr or done.stdout.startswith("Error"):
        raise RuntimeError(f"nca {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


def connectivity_map(folder: Path, output_format: str = "txt") -> str:
    return nca("--connectivity", "--resource_list", str(folder), "--output_format", output_format)


# ---------------------------------------------------------------------------------------------------------------------
# Judging the analyzer's map


Conn = dict[str, set[int] | None]
"""Per protocol, the ports allowed (None: every port)."""
PROTOCOLS = ("TCP", "UDP", "SCTP")


def parse_conn(text: str) -> Conn:
    """The analyzer's connection text: `All connections`, or `{protocols:TCP, UDP,dst_ports:53,8000-8001},{...}`
    (a part without dst_ports allows every port of its protocols)."""
    text = text.strip()
    if text == "All connections":
        return dict.fromkeys(PROTOCOLS)
    found: Conn = {}
    for part in text.strip("{}").split("},{"):
        protocols_text, _, ports_text = part.partition(",dst_ports:")
        protocols = [p.strip() for p in protocols_text.removeprefix("protocols:").split(",")]
        ports: set[int] | None = None
        if ports_text:
            ports = set()
            for span in ports_text.split(","):
                low, _, high = span.partition("-")
                ports |= set(range(int(low), int(high or low) + 1))
        for protocol in protocols:
            before = found.get(protocol, set())
            found[protocol] = None if ports is None or before is None else before | ports
    return found


def _allows(conn: Conn, port: Port | None) -> bool:
    if port is None:
        return bool(conn)
    if port.protocol not in conn:
        return False
    ports = conn[port.protocol]
    return ports is None or port.number in ports


Span = tuple[int, int]


def _span(text: str) -> Span | None:
    """`10.0.0.0-10.255.255.255` (or one address) as integers; None for a pod."""
    if "/" in text and "[" in text:
        return None
    low, _, high = text.partition("-")
    try:
        return int(ipaddress.IPv4Address(low)), int(ipaddress.IPv4Address(high or low))
    except ValueError:
        return None


def _covered(needed: list[Span], have: list[Span]) -> bool:
    """Whether the spans in `have` cover every address of `needed`."""
    merged: list[Span] = []
    for low, high in sorted(have):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return all(any(m[0] <= low and high <= m[1] for m in merged) for low, high in needed)


def address_spans(addresses: Addresses) -> list[Span]:
    """An ipBlock's addresses (its cidr without its exceptions) as spans."""
    nets = [ipaddress.IPv4Network(addresses.cidr)]
    for excluded in map(ipaddress.IPv4Network, addresses.excluded):
        nets = [part for net in nets for part in (net.address_exclude(excluded) if excluded.subnet_of(net) else [net])]
    return [(int(n.network_address), int(n.broadcast_address)) for n in nets]


EVERYWHERE: list[Span] = [(0, 2**32 - 1)]


@dataclass
class Map:
    """The analyzer's connectivity: pod (`namespace/name`) or address span to pod or address span."""

    pods: dict[str, dict[str, str]]
    """Every pod by `namespace/name`, with its labels."""
    allowed: dict[tuple[str, str], Conn]
    spans: dict[str, Span]
    """The address spans that appear as a source or target, by their text."""

    def members(self, group: Pods) -> list[str]:
        return sorted(
            name
            for name, labels in self.pods.items()
            if name.split("/", 1)[0] == group.namespace and group.selector.items() <= labels.items()
        )

    def conn(self, source: str, target: str) -> Conn:
        return self.allowed.get((source, target), {})

    def reaches_addresses(self, source: str, needed: list[Span], port: Port | None) -> bool:
        have = [span for text, span in self.spans.items() if _allows(self.conn(source, text), port)]
        return _covered(needed, have)

    def reached_from_addresses(self, target: str, needed: list[Span], port: Port | None) -> bool:
        have = [span for text, span in self.spans.items() if _allows(self.conn(text, target), port)]
        return _covered(needed, have)


def parse_map(text: str, pods: list[dict[str, Any]]) -> Map:
    """The analyzer's `txt_no_fw_rules` map: one `SOURCE => TARGET : CONNECTION` line per pair that connects."""
    allowed: dict[tuple[str, str], Conn] = {}
    spans: dict[str, Span] = {}
    for line in text.splitlines():
        if " => " not in line or " : " not in line:
            continue
        pair, _, conn = line.partition(" : ")
        source, _, target = (end.strip().removesuffix("[Pod]") for end in pair.partition(" => "))
        for end in (source, target):
            span = _span(end) if "/" not in end else None
            if span is not None:
                spans[end] = span
        merged = allowed.setdefault((source, target), {})  # a pair's protocols may come on separate lines
        for protocol, ports in parse_conn(conn).items():
            before = merged.get(protocol, set())
            merged[protocol] = None if ports is None or before is None else before | ports
    labels = {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p["metadata"]["labels"] for p in pods}
    return Map(labels, allowed, spans)


def stack_map(cluster: Cluster, folder: Path) -> Map:
    write(cluster, folder)
    return parse_map(connectivity_map(folder, "txt_no_fw_rules"), cluster.pods)


def missing_edges(edges: list[Edge], found: Map) -> list[str]:
    """Every required edge the analyzer does not show connected, per pod and port."""
    problems = []
    for edge in edges:
        ports: list[Port | None] = list(edge.ports) or [None]
        sources = found.members(edge.source) if isinstance(edge.source, Pods) else [None]
        targets = found.members(edge.target) if isinstance(edge.target, Pods) else [None]
        if (isinstance(edge.source, Pods) and not sources) or (isinstance(edge.target, Pods) and not targets):
            problems.append(f"{_name(edge.source)} -> {_name(edge.target)}: no pod of the group exists")
            continue
        for source in sources:
            for target in targets:
                if source is not None and source == target:
                    continue  # a pod's traffic to itself never meets a policy
                for port in ports:
                    if not _connected(found, edge, source, target, port):
                        problems.append(
                            f"{source or _name(edge.source)} -> {target or _name(edge.target)} {_port(port)}"
                        )
    return problems


def _connected(found: Map, edge: Edge, source: str | None, target: str | None, port: Port | None) -> bool:
    if source is not None and target is not None:
        return _allows(found.conn(source, target), port)
    if source is not None:
        needed = address_spans(edge.target) if isinstance(edge.target, Addresses) else EVERYWHERE
        return found.reaches_addresses(source, needed, port)
    if target is not None:
        needed = address_spans(edge.source) if isinstance(edge.source, Addresses) else EVERYWHERE
        return found.reached_from_addresses(target, needed, port)
    return False


def _name(peer: Pods | Addresses | Anywhere) -> str:
    return f"{peer.namespace}/{peer.name}" if isinstance(peer, Pods) else peer.name


def _port(port: Port | None) -> str:
    return "all ports" if port is None else f"{port.protocol}/{port.number}"


def _calls(edges: list[Edge], found: Map, source: str, target: str) -> bool:
    def ends(peer: Pods | Addresses | Anywhere, pod: str) -> bool:
        return isinstance(peer, Anywhere) or (isinstance(peer, Pods) and pod in found.members(peer))

    return any(ends(e.source, source) and ends(e.target, target) for e in edges)


CLUSTER_PORTS = [Port(n, protocol) for n in (8300, 8301, 8302) for protocol in ("TCP", "UDP")]
CLUSTER_PORTS += [Port(8201), Port(8500)]
"""Consul's server RPC, gossip and HTTP API, and Vault's cluster port (Raft's when Vault keeps its own store)."""


def forbidden_connections(cfg: StackConfig, edges: list[Edge], found: Map) -> list[str]:
    """The sample of what must stay closed: each namespace's pods to the pods of every other namespace they never
    call, Concourse's workers to Vault and to PostgreSQL, and anything but Vault's own pods to Consul's or Vault's
    cluster ports."""
    problems = []
    managed = set(network_edges.namespaces(cfg))
    pods = [p for p in found.pods if p.split("/", 1)[0] in managed]
    for source in pods:
        for target in pods:
            if source.split("/")[0] == target.split("/")[0] or _calls(edges, found, source, target):
                continue
            if found.conn(source, target):
                problems.append(f"{source} -> {target}: connected, and the stack never makes that call")
    workers = found.members(network_edges.WORKER)
    for worker in workers:
        for vault in found.members(network_edges.VAULT):
            if found.conn(worker, vault):
                problems.append(f"{worker} -> {vault}: a build could reach Vault")
        postgres = Addresses("postgres", cfg.network.postgres_subnet)
        if any(found.reaches_addresses(worker, [span], None) for span in address_spans(postgres)):
            problems.append(f"{worker} -> PostgreSQL's subnet: a build could reach the database")
    own = {
        pod
        for group in (network_edges.VAULT, network_edges.CONSUL_SERVER, network_edges.CONSUL_CLIENT)
        for pod in found.members(group)
    } | set(found.members(network_edges.VAULT_BACKUP))
    peers = own - set(found.members(network_edges.VAULT_BACKUP))
    for (source, target), conn in found.allowed.items():
        if target in peers and source not in own and any(_allows(conn, port) for port in CLUSTER_PORTS):
            problems.append(f"{source} -> {target}: reaches a Consul or Vault cluster port")
    return problems


def unprotected(cfg: StackConfig, cluster: Cluster, found: Map) -> list[str]:
    """Pods of the stack's namespaces that a policy does not isolate in both directions, or that the analyzer shows
    open to every address on every port, either way."""
    managed = set(network_edges.namespaces(cfg))
    problems = []
    for pod in cluster.pods:
        meta = pod["metadata"]
        if meta["namespace"] not in managed:
            continue
        name = f"{meta['namespace']}/{meta['name']}"
        for direction in ("Ingress", "Egress"):
            if not any(
                p["metadata"]["namespace"] == meta["namespace"]
                and direction in (p["spec"].get("policyTypes") or ["Ingress"])
                and workloads.selector_matches(p["spec"].get("podSelector") or {}, meta["labels"])
                for p in cluster.policies
            ):
                problems.append(f"{name}: no policy isolates its {direction.lower()}")
        if found.reached_from_addresses(name, EVERYWHERE, None) and all(
            found.conn(text, name) == dict.fromkeys(PROTOCOLS) for text in found.spans if found.conn(text, name)
        ):
            problems.append(f"{name}: every address reaches it on every port")
        if found.reaches_addresses(name, EVERYWHERE, None) and all(
            found.conn(name, text) == dict.fromkeys(PROTOCOLS) for text in found.spans if found.conn(name, text)
        ):
            problems.append(f"{name}: it reaches every address on every port")
    return problems


def check(cfg: StackConfig, cluster: Cluster, found: Map, edges: list[Edge] | None = None) -> list[str]:
    """Every failure of the three checks, each a line naming the pods and ports (`edges`: the stack's by default)."""
    edges = network_edges.required_edges(cfg) if edges is None else edges
    return (
        [f"required edge not connected: {p}" for p in missing_edges(edges, found)]
        + [f"forbidden edge connected: {p}" for p in forbidden_connections(cfg, edges, found)]
        + [f"unprotected pod: {p}" for p in unprotected(cfg, cluster, found)]
    )


# ---------------------------------------------------------------------------------------------------------------------
# The edge list against the manifests: the connections the charts declare (Services behind ServiceMonitors, Ingresses
# and webhooks) and the pods and ports the edges name.

PROVIDED_SERVICES = {
    ("kube-system", "kubelet"): network_edges.NODES,
    ("default", "apiserver"): network_edges.API_SERVER,
}
"""ServiceMonitor targets whose Services the cluster itself provides (by the `k8s-app`/`component` label the
ServiceMonitor selects): the kubelets, and the API server's `kubernetes` Service."""


def _pods_of(
    cluster: Cluster, namespace: str, selector: dict[str, Any], host_network: bool = False
) -> list[dict[str, Any]]:
    return [
        p
        for p in (cluster.pods + cluster.host_network if host_network else cluster.pods)
        if p["metadata"]["namespace"] == namespace and workloads.selector_matches(selector, p["metadata"]["labels"])
    ]


def _container_port(pod: dict[str, Any], port: Any) -> int | None:
    """A pod's port number for a Service's targetPort (a number, or a container port's name)."""
    if isinstance(port, int | float):
        return int(port)
    for container in pod["spec"]["containers"]:
        for declared in container.get("ports") or []:
            if declared.get("name") == port:
                return int(declared["containerPort"])
    return None


def _covering(edges: list[Edge], source: Pods | Anywhere, pod: dict[str, Any], number: int) -> bool:
    """Whether an edge from `source` to a group holding `pod` (or to anywhere) allows TCP `number`. A host-network
    pod is reached at its node's address: only an edge to anywhere (nodes) reaches it."""
    meta, host = pod["metadata"], pod["spec"].get("hostNetwork", False)
    for edge in edges:
        if edge.source != source:
            continue
        target = edge.target
        holds = isinstance(target, Anywhere) or (
            not host
            and isinstance(target, Pods)
            and target.namespace == meta["namespace"]
            and target.selector.items() <= meta["labels"].items()
        )
        if holds and (not edge.ports or Port(number) in edge.ports):
            return True
    return False


def _service_targets(cluster: Cluster, service: dict[str, Any], port_ref: Any, by: str) -> list[tuple[dict, int]]:
    """(pod, container port) behind a Service port, named (`by="name"`) or numbered (`by="port"`), or a container
    port name straight on the pods (`by="targetPort"`)."""
    spec, namespace = service.get("spec") or {}, service["metadata"]["namespace"]
    selector = {"matchLabels": spec.get("selector") or {}}
    pods = _pods_of(cluster, namespace, selector, host_network=True) if spec.get("selector") else []
    found = []
    for pod in pods:
        if by == "targetPort":
            number = _container_port(pod, port_ref)
        else:
            ports = [p for p in spec.get("ports") or [] if p.get(by) == port_ref]
            if not ports:
                continue
            number = _container_port(pod, ports[0].get("targetPort", ports[0].get("port")))
        if number is not None:
            found.append((pod, number))
    return found


def _services(cluster: Cluster) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o for o in cluster.objects if o.get("kind") == "Service"
    }


def _where(pod: dict[str, Any]) -> str:
    return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"


def _group_problems(edges: list[Edge], cluster: Cluster) -> list[str]:
    """Groups no pod matches, and ports a target pod does not declare (operator-made pods declare none: the operator
    adds its ports, so theirs go unchecked)."""
    problems = []
    groups = {g for e in edges for g in (e.source, e.target) if isinstance(g, Pods) and g.labels}
    for group in sorted(groups, key=lambda g: (g.namespace, g.name)):
        if not _pods_of(cluster, group.namespace, {"matchLabels": group.selector}):
            problems.append(f"group {group.namespace}/{group.name}: no pod has the labels {group.selector}")
    for edge in edges:
        if not isinstance(edge.target, Pods):
            continue
        for pod in _pods_of(cluster, edge.target.namespace, {"matchLabels": edge.target.selector}):
            declared = {int(d["containerPort"]) for c in pod["spec"]["containers"] for d in c.get("ports") or []}
            for port in edge.ports if declared else ():
                if port.number not in declared:
                    problems.append(
                        f"{_name(edge.source)} -> {_where(pod)}: port {port.number} is none of its {sorted(declared)}"
                    )
    return problems


def _monitor_problems(edges: list[Edge], cluster: Cluster) -> list[str]:
    """Every pod port a ServiceMonitor scrapes is an edge from Prometheus."""
    problems = []
    services = _services(cluster)
    prometheus = network_edges.PROMETHEUS
    for monitor in (o for o in cluster.objects if o.get("kind") == "ServiceMonitor"):
        spec, meta = monitor.get("spec") or {}, monitor["metadata"]
        label = f"ServiceMonitor {meta['namespace']}/{meta['name']}"
        chosen = spec.get("namespaceSelector") or {}
        names = (
            sorted({ns for ns, _ in services}) if chosen.get("any") else chosen.get("matchNames") or [meta["namespace"]]
        )
        selector = spec.get("selector") or {}
        selected = [
            service
            for (ns, _), service in services.items()
            if ns in names and workloads.selector_matches(selector, service["metadata"].get("labels") or {})
        ]
        if not selected:
            wanted = str(selector.get("matchLabels"))
            provided = [peer for (ns, key), peer in PROVIDED_SERVICES.items() if ns in names and key in wanted]
            if not provided:
                problems.append(f"{label}: selects no Service in {names}")
            elif not any(e.source == prometheus and e.target == provided[0] for e in edges):
                problems.append(f"{label}: no edge from Prometheus to {provided[0].name}")
            continue
        for endpoint in spec.get("endpoints") or []:
            by, ref = ("name", endpoint["port"]) if "port" in endpoint else ("targetPort", endpoint.get("targetPort"))
            for service in selected:
                for pod, number in _service_targets(cluster, service, ref, by):
                    if not _covering(edges, prometheus, pod, number):
                        problems.append(f"{label}: Prometheus -> {_where(pod)} port {number} is no edge")
    return problems


def _ingress_problems(edges: list[Edge], cluster: Cluster) -> list[str]:
    """Every pod port behind an Ingress is an edge from Traefik."""
    problems = []
    services = _services(cluster)
    for ingress in (o for o in cluster.objects if o.get("kind") == "Ingress"):
        namespace = ingress["metadata"]["namespace"]
        label = f"Ingress {namespace}/{ingress['metadata']['name']}"
        for rule in (ingress.get("spec") or {}).get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                backend = (path.get("backend") or {}).get("service") or {}
                service = services.get((namespace, str(backend.get("name"))))
                if service is None:
                    problems.append(f"{label}: no Service {backend.get('name')}")
                    continue
                port = backend.get("port") or {}
                by, ref = ("port", port["number"]) if "number" in port else ("name", port.get("name"))
                for pod, number in _service_targets(cluster, service, ref, by):
                    if not _covering(edges, network_edges.TRAEFIK, pod, number):
                        problems.append(f"{label}: Traefik -> {_where(pod)} port {number} is no edge")
    return problems


def _webhook_problems(edges: list[Edge], cluster: Cluster) -> list[str]:
    """Every pod port behind an admission webhook is open to the API server (from anywhere)."""
    problems = []
    services = _services(cluster)
    kinds = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
    for hook in (o for o in cluster.objects if o.get("kind") in kinds):
        label = f"{hook['kind']} {hook['metadata']['name']}"
        for webhook in hook.get("webhooks") or []:
            ref = (webhook.get("clientConfig") or {}).get("service")
            if not ref:
                continue
            service = services.get((ref["namespace"], ref["name"]))
            if service is None:
                problems.append(f"{label}: no Service {ref['namespace']}/{ref['name']}")
                continue
            for pod, number in _service_targets(cluster, service, int(ref.get("port", 443)), "port"):
                if not _covering(edges, network_edges.ANYONE, pod, number):
                    problems.append(f"{label}: the API server -> {_where(pod)} port {number} is no edge")
    return problems


def disagreements(edges: list[Edge], cluster: Cluster) -> list[str]:
    """Where the edge list and the manifests disagree: a group of pods no pod matches, a port a target pod does not
    declare, a scrape target, Ingress backend or webhook the edges leave out."""
    found = _group_problems(edges, cluster) + _monitor_problems(edges, cluster)
    found += _ingress_problems(edges, cluster) + _webhook_problems(edges, cluster)
    return sorted(set(found))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.netpol", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("stack")
    parser.add_argument("--out", type=Path, default=render.OUT_DIR, help="folder for the analyzer's input")
    args = parser.parse_args(argv)
    try:
        cfg = offline.load_config(args.stack)
        cluster = stack_cluster(args.stack)
    except (ConfigError, charts.ChartMissingError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    folder = write(cluster, args.out / args.stack / "netpol")
    print(connectivity_map(folder))
    found = parse_map(connectivity_map(folder, "txt_no_fw_rules"), cluster.pods)
    edges = network_edges.required_edges(cfg)
    print(f"{len(cluster.pods)} pods in {len(cluster.namespaces)} namespaces, {len(cluster.policies)} policies")
    print(f"host network (outside NetworkPolicy): {', '.join(map(_where, cluster.host_network)) or 'none'}")
    problems = disagreements(edges, cluster) + check(cfg, cluster, found, edges)
    print(
        "\n".join(problems)
        if problems
        else f"every one of {len(edges)} required edges connected, the forbidden "
        "sample disconnected, every pod isolated both ways"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    short_run.run(main)
