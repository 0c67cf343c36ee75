"""Every network connection the stack needs, as data, and the NetworkPolicies that allow exactly those.

One list (`required_edges`) drives the policies (`policies`): each namespace the stack deploys into denies all ingress
and egress by default (`default-deny`), and each group of pods gets one `allow-<group>` policy holding the ingress and
egress rules of the edges it is an end of (the group `dns`, every pod of a namespace, resolving names). Nothing else
is allowed.

The cluster's dataplane is Cilium (components/azure/cluster.py: `networkDataplane: cilium`, `networkPolicy:
cilium`). It enforces standard `networking.k8s.io/v1` NetworkPolicy, and these policies use only its common subset:
pod and namespace selectors, ipBlocks for addresses outside the cluster, TCP/UDP ports. Two Cilium facts shape them:
- Cilium applies policy after a Service's address is translated, so rules name the pods and their container ports,
  never Service addresses or Service ports.
- Cilium's ipBlocks do not select cluster nodes (only its `host`/`remote-node` entities do, unless the agent runs with
  `policy-cidr-match-mode: nodes`, which AKS does not document). So what must reach a node (Prometheus scraping the
  kubelet and the host-network node exporter) or come from one (the control plane's webhook calls, which AKS
  delivers through konnectivity from outside the pod network; the load balancer's clients) is allowed by port from
  anywhere: a rule with no peer, which Cilium and every other engine read the same way.
- A `kubectl port-forward` (the smoke's way to Elasticsearch, Prometheus and Alertmanager: tools/cluster_access.py)
  needs no edge: the container runtime enters the pod's network namespace and connects to the port on its loopback
  (containerd's CRI portForward dials `localhost:<port>` there), so no packet crosses the pod's interface, where
  Cilium enforces policy. It needs the server to listen on loopback too (ECK's `network.host: "0"`, Prometheus's and
  Alertmanager's `:<port>`).

The selectors are the labels the pinned charts and operators put on their pods; tests/test_netpol.py checks each
group against the rendered manifests, and each Service, ServiceMonitor, Ingress and webhook they declare against
this list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from components import naming
from components.config.schema import StackConfig

NS = naming.NAMESPACES
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
"""What "the internet" leaves out: the VNet, the pod and service ranges and every other private network."""


@dataclass(frozen=True)
class Pods:
    """A group of pods: its name (the policy's), its namespace and the labels that select exactly its pods."""

    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]

    @property
    def selector(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class Addresses:
    """Addresses outside the pod network, as an ipBlock."""

    name: str
    cidr: str
    excluded: tuple[str, ...] = ()


@dataclass(frozen=True)
class Anywhere:
    """Any source or destination, pods, nodes and outside addresses alike: a rule with ports and no peer."""

    name: str


Peer = Pods | Addresses | Anywhere


@dataclass(frozen=True)
class Port:
    number: int
    protocol: str = "TCP"


ALL_PORTS: tuple[Port, ...] = ()


@dataclass(frozen=True)
class Edge:
    source: Peer
    target: Peer
    ports: tuple[Port, ...]
    why: str


def tcp(*numbers: int) -> tuple[Port, ...]:
    return tuple(Port(n) for n in numbers)


def _pods(name: str, namespace: str, **labels: str) -> Pods:
    return Pods(name, namespace, tuple(sorted(labels.items())))


def _app(name: str, namespace: str, app: str, instance: str) -> Pods:
    return Pods(name, namespace, (("app.kubernetes.io/instance", instance), ("app.kubernetes.io/name", app)))


# The pods, by the labels their charts (or operators) give them. kube-system's CoreDNS is AKS's.
COREDNS = _pods("coredns", "kube-system", **{"k8s-app": "kube-dns"})
TRAEFIK = _app("traefik", NS["ingress"], "traefik", "traefik-ingress")
CERT_MANAGER = Pods(
    "cert-manager",
    NS["cert-manager"],
    (
        ("app.kubernetes.io/component", "controller"),
        ("app.kubernetes.io/instance", "cert-manager"),
        ("app.kubernetes.io/name", "cert-manager"),
    ),
)
CAINJECTOR = _app("cert-manager-cainjector", NS["cert-manager"], "cainjector", "cert-manager")
CERT_MANAGER_WEBHOOK = _app("cert-manager-webhook", NS["cert-manager"], "webhook", "cert-manager")
STARTUPAPICHECK = _app("cert-manager-startupapicheck", NS["cert-manager"], "startupapicheck", "cert-manager")
VAULT = Pods(
    "vault",
    NS["secrets"],
    (("app.kubernetes.io/instance", "vault"), ("app.kubernetes.io/name", "vault"), ("component", "server")),
)
CONSUL_SERVER = _pods("consul-server", NS["secrets"], app="consul", component="server", release="consul")
CONSUL_CLIENT = _pods("consul-client", NS["secrets"], app="consul", component="client", release="consul")
VAULT_BACKUP = _pods(naming.VAULT_BACKUP_CRONJOB, NS["secrets"], app=naming.VAULT_BACKUP_CRONJOB)
WEB = _pods("concourse-web", NS["concourse"], app="concourse-web")
# Every worker generation's pods (services/concourse.py), whatever its release is called.
WORKER = Pods("concourse-worker", NS["concourse"], (naming.WORKER_POD_LABEL,))
# kube-prometheus-stack's Prometheus and Alertmanager pods come from the operator: the chart's Services select them.
PROMETHEUS = _pods(
    "prometheus",
    NS["monitoring"],
    **{"app.kubernetes.io/name": "prometheus", "operator.prometheus.io/name": "kube-prometheus-stack-prometheus"},
)
ALERTMANAGER = _pods(
    "alertmanager",
    NS["monitoring"],
    **{"app.kubernetes.io/name": "alertmanager", "alertmanager": "kube-prometheus-stack-alertmanager"},
)
GRAFANA = _app("grafana", NS["monitoring"], "grafana", "kube-prometheus-stack")
KUBE_STATE_METRICS = _app("kube-state-metrics", NS["monitoring"], "kube-state-metrics", "kube-prometheus-stack")
PROMETHEUS_OPERATOR = _pods(
    "prometheus-operator", NS["monitoring"], app="kube-prometheus-stack-operator", release="kube-prometheus-stack"
)
PROMETHEUS_ADMISSION_JOBS = _pods(
    "prometheus-admission-jobs",
    NS["monitoring"],
    **{
        "app.kubernetes.io/component": "prometheus-operator-webhook",
        "app.kubernetes.io/instance": "kube-prometheus-stack",
    },
)
# The CRD upgrade hook's pod template has no labels: the Job controller's own label selects it.
PROMETHEUS_CRDS_UPGRADE = _pods(
    "prometheus-crds-upgrade",
    NS["monitoring"],
    **{"batch.kubernetes.io/job-name": "kube-prometheus-stack-crds-upgrade"},
)
INFLUXDB = _app("influxdb", NS["monitoring"], "influxdb2", "influxdb")
TELEGRAF = _app("telegraf", NS["monitoring"], "telegraf", "telegraf")
BLACKBOX = _app("blackbox-exporter", NS["monitoring"], "prometheus-blackbox-exporter", "blackbox-exporter")
METRICS_EXPORTER = _app(
    naming.AZURE_METRICS_EXPORTER, NS["monitoring"], naming.AZURE_METRICS_EXPORTER, naming.AZURE_METRICS_EXPORTER
)
# ECK's operator labels the pods of each resource it manages (elastic/cloud-on-k8s v3.5.0: pkg/controller/*/label).
ECK_OPERATOR = _app("elastic-operator", NS["logging"], "elastic-operator", "eck-operator")
ELASTICSEARCH = _pods(
    "elasticsearch",
    NS["logging"],
    **{"common.k8s.elastic.co/type": "elasticsearch", "elasticsearch.k8s.elastic.co/cluster-name": "elasticsearch"},
)
KIBANA = _pods(
    "kibana",
    NS["logging"],
    **{"common.k8s.elastic.co/type": "kibana", "kibana.k8s.elastic.co/name": "eck-stack-eck-kibana"},
)
FILEBEAT = _pods(
    "filebeat",
    NS["logging"],
    **{"beat.k8s.elastic.co/name": "eck-stack-eck-beats", "common.k8s.elastic.co/type": "beat"},
)
ELASTALERT = _app("elastalert", NS["logging"], "elastalert2", "elastalert2")
ES_BACKUP = _pods(naming.ELASTICSEARCH_BACKUP_CRONJOB, NS["logging"], app=naming.ELASTICSEARCH_BACKUP_CRONJOB)
CHARTMUSEUM = _app("chartmuseum", NS["charts"], "chartmuseum", "chartmuseum")

PART_PODS: dict[str, tuple[Pods, ...]] = {
    "elasticsearch": (ECK_OPERATOR, ELASTICSEARCH, KIBANA, FILEBEAT, ELASTALERT, ES_BACKUP),
    "influxdb": (INFLUXDB, TELEGRAF),
    "chartmuseum": (CHARTMUSEUM,),
}
"""The pods of each optional part (config.PartsConfig): a stack without the part has no edge to or from them."""


def acme_solver(namespace: str) -> Pods:
    """cert-manager's HTTP-01 solver pods, made in the namespace of the certificate they prove (cert-manager
    v1.21.1: pkg/apis/acme/v1 SolverIdentificationLabelKey, listening on 8089)."""
    return _pods("acme-solver", namespace, **{"acme.cert-manager.io/http01-solver": "true"})


ACME_SOLVER_PORT = 8089
INTERNET = Addresses("internet", "0.0.0.0/0", PRIVATE_RANGES)
"""Public endpoints: Azure's (Key Vault, Entra ID, Blob, Monitor: the stack has no private endpoints), the AKS API
server (public, behind authorized IP ranges), Let's Encrypt, Slack, and whatever builds download."""
API_SERVER = INTERNET
"""The API server's address is public and known only once the cluster exists: TCP 443 to the internet reaches it."""
ANYONE = Anywhere("anyone")
NODES = Anywhere("nodes")
"""Cluster nodes: Cilium's ipBlocks do not select them, so a rule to nodes is a rule by port alone."""
DNS_PORTS = (Port(53, "UDP"), Port(53, "TCP"))


def consul_deployed(cfg: StackConfig) -> bool:
    """Whether Vault's store is Consul in the cluster (`vault.storage: consul`); on Raft the servers are the store."""
    return cfg.vault.in_cluster_store == "consul"


def public_namespaces(cfg: StackConfig) -> list[str]:
    """Namespaces with a public host behind Traefik, whose certificates cert-manager proves over HTTP-01."""
    deployed = namespaces(cfg)
    return [NS[key] for key in ("concourse", "monitoring", "logging", "charts", "secrets") if NS[key] in deployed]


def namespaces(cfg: StackConfig) -> list[str]:
    """Every namespace the stack deploys into: each gets the default-deny policy. Vault's only where Vault runs in the
    cluster, logging's and ChartMuseum's only where their part is on (parts.elasticsearch, parts.chartmuseum)."""
    left_out = {"secrets"} if cfg.vault.mode != "in-cluster" else set()
    left_out |= {"logging"} if not cfg.parts.elasticsearch else set()
    left_out |= {"charts"} if not cfg.parts.chartmuseum else set()
    return [ns for key, ns in NS.items() if key not in left_out]


def everyone(namespace: str) -> Pods:
    """Every pod of a namespace (its `allow-dns` policy selects them all)."""
    return Pods("dns", namespace, ())


def _api(*clients: Pods) -> list[Edge]:
    return [Edge(c, API_SERVER, tcp(443), "watches and writes Kubernetes objects") for c in clients]


def required_edges(cfg: StackConfig) -> list[Edge]:
    """Every connection the stack makes, as source, target, ports and the reason."""
    in_cluster_vault = cfg.vault.mode == "in-cluster"
    edges = [
        *[Edge(everyone(ns), COREDNS, DNS_PORTS, "name resolution") for ns in namespaces(cfg)],
        # Front door: the load balancer keeps clients' addresses (and Let's Encrypt's validation calls) to Traefik.
        Edge(ANYONE, TRAEFIK, tcp(8000, 8443), "public HTTP and HTTPS through the load balancer"),
        Edge(TRAEFIK, WEB, tcp(8080), "Concourse's web UI and API"),
        Edge(TRAEFIK, GRAFANA, tcp(3000), "Grafana"),
        Edge(TRAEFIK, KIBANA, tcp(5601), "Kibana"),
        Edge(TRAEFIK, CHARTMUSEUM, tcp(8080), "ChartMuseum"),
        *_api(TRAEFIK),
        # cert-manager: ACME, its own self-check through the public host, solvers behind Traefik; the webhook is
        # called by the API server.
        Edge(CERT_MANAGER, INTERNET, tcp(443), "Let's Encrypt's ACME API"),
        Edge(CERT_MANAGER, TRAEFIK, tcp(8000), "HTTP-01 self-check through the public host"),
        *[
            Edge(TRAEFIK, acme_solver(ns), tcp(ACME_SOLVER_PORT), "HTTP-01 challenge answered by the solver")
            for ns in public_namespaces(cfg)
        ],
        Edge(ANYONE, CERT_MANAGER_WEBHOOK, tcp(10250), "admission webhook, called by the API server"),
        *_api(CERT_MANAGER, CAINJECTOR, CERT_MANAGER_WEBHOOK, STARTUPAPICHECK),
        # Concourse.
        Edge(WORKER, WEB, tcp(2222), "workers register through the TSA"),
        Edge(WEB, WEB, ALL_PORTS, "web nodes reach workers through the TSA tunnels another web node holds"),
        Edge(WEB, Addresses("postgres", cfg.network.postgres_subnet), tcp(5432), "PostgreSQL in its delegated subnet"),
        Edge(WEB, INTERNET, tcp(443), "Entra ID login"),
        Edge(WEB, INFLUXDB, tcp(8086), "build metrics"),
        Edge(WORKER, INTERNET, ALL_PORTS, "builds download from the internet"),
        # Monitoring.
        Edge(PROMETHEUS, ALERTMANAGER, tcp(9093), "alerts"),
        Edge(ALERTMANAGER, ALERTMANAGER, (Port(9094), Port(9094, "UDP")), "cluster gossip"),
        Edge(ALERTMANAGER, INTERNET, tcp(443), "Slack and the heartbeat"),
        Edge(GRAFANA, PROMETHEUS, tcp(9090), "data source"),
        Edge(GRAFANA, ALERTMANAGER, tcp(9093), "data source"),
        Edge(GRAFANA, INFLUXDB, tcp(8086), "data source"),
        Edge(GRAFANA, ELASTICSEARCH, tcp(9200), "data source"),
        Edge(TELEGRAF, INFLUXDB, tcp(8086), "metrics"),
        Edge(TELEGRAF, TRAEFIK, tcp(8443), "HTTP and certificate probes of the public hosts (hairpin)"),
        Edge(GRAFANA, INTERNET, tcp(443), "grafana.ini's update check"),
        Edge(BLACKBOX, TRAEFIK, tcp(8443), "TLS probes of the public hosts (the load balancer's address hairpins)"),
        Edge(METRICS_EXPORTER, INTERNET, tcp(443), "Azure Monitor and Entra ID"),
        Edge(ANYONE, PROMETHEUS_OPERATOR, tcp(10250), "admission webhook, called by the API server"),
        *_api(PROMETHEUS, GRAFANA, KUBE_STATE_METRICS, PROMETHEUS_OPERATOR, PROMETHEUS_ADMISSION_JOBS),
        *_api(PROMETHEUS_CRDS_UPGRADE, TELEGRAF),
        *scrapes(cfg),
        # Logging.
        Edge(FILEBEAT, ELASTICSEARCH, tcp(9200), "logs"),
        Edge(ELASTALERT, ELASTICSEARCH, tcp(9200), "rule queries"),
        Edge(ELASTALERT, INTERNET, tcp(443), "Slack"),
        Edge(KIBANA, ELASTICSEARCH, tcp(9200), "Kibana's store"),
        Edge(ELASTICSEARCH, ELASTICSEARCH, tcp(9200, 9300), "cluster transport and HTTP between nodes"),
        Edge(ELASTICSEARCH, INTERNET, tcp(443), "snapshots to Blob storage, logged in through Entra ID"),
        Edge(ECK_OPERATOR, ELASTICSEARCH, tcp(9200), "the operator manages the cluster through its API"),
        Edge(ECK_OPERATOR, KIBANA, tcp(5601), "the operator checks Kibana's health"),
        Edge(ANYONE, ECK_OPERATOR, tcp(9443), "admission webhook, called by the API server"),
        Edge(ES_BACKUP, ELASTICSEARCH, tcp(9200), "the SLM policy and its snapshots"),
        *_api(ECK_OPERATOR, FILEBEAT),
        # ChartMuseum.
        Edge(CHARTMUSEUM, INTERNET, tcp(443), "charts on Blob storage"),
    ]
    if in_cluster_vault:
        edges += [
            Edge(TRAEFIK, VAULT, tcp(8200), "Vault's public host (the deployer's bootstrap, people)"),
            Edge(WEB, VAULT, tcp(8200), "credentials"),
            Edge(VAULT, VAULT, tcp(8200, 8201), "request forwarding and cluster traffic between peers"),
            Edge(VAULT, INTERNET, tcp(443), "Key Vault auto-unseal, Entra ID and the AKS OIDC issuer's keys"),
            Edge(VAULT_BACKUP, INTERNET, tcp(443), "snapshot upload to Blob storage through Entra ID"),
            *_api(VAULT),
        ]
    else:
        edges.append(Edge(WEB, INTERNET, tcp(443), "the external Vault"))
    if cfg.vault.in_cluster_store == "raft":
        edges.append(Edge(VAULT_BACKUP, VAULT, tcp(8200), "the Raft snapshot, from the active server"))
    if in_cluster_vault and consul_deployed(cfg):
        gossip = (Port(8301), Port(8301, "UDP"))
        edges += [
            Edge(VAULT, CONSUL_CLIENT, tcp(8500), "Vault's store, through the agent on its node (hostPort 8500)"),
            Edge(CONSUL_CLIENT, CONSUL_SERVER, (Port(8300), *gossip), "agent RPC and gossip"),
            Edge(CONSUL_SERVER, CONSUL_SERVER, (Port(8300), *gossip, Port(8302), Port(8302, "UDP")), "Raft"),
            Edge(CONSUL_SERVER, CONSUL_CLIENT, gossip, "gossip"),
            Edge(CONSUL_CLIENT, CONSUL_CLIENT, gossip, "gossip"),
            Edge(VAULT_BACKUP, CONSUL_SERVER, tcp(8500), "consul snapshot save"),
            *_api(CONSUL_SERVER, CONSUL_CLIENT),
        ]
    absent = {pods for part in cfg.parts.off() for pods in PART_PODS[part]}
    return [edge for edge in edges if edge.source not in absent and edge.target not in absent]


def scrapes(cfg: StackConfig) -> list[Edge]:
    """Prometheus to every target its ServiceMonitors name (the container ports behind them)."""
    why = "scrape"
    return [
        Edge(PROMETHEUS, PROMETHEUS, tcp(9090, 8080), why),
        Edge(PROMETHEUS, ALERTMANAGER, tcp(9093, 8080), why),
        Edge(PROMETHEUS, GRAFANA, tcp(3000), why),
        Edge(PROMETHEUS, KUBE_STATE_METRICS, tcp(8080), why),
        Edge(PROMETHEUS, PROMETHEUS_OPERATOR, tcp(10250), why),
        Edge(PROMETHEUS, BLACKBOX, tcp(9115), why),
        Edge(PROMETHEUS, METRICS_EXPORTER, tcp(8080), why),
        Edge(PROMETHEUS, WEB, tcp(9391), why),
        Edge(PROMETHEUS, CERT_MANAGER, tcp(9402), why),
        Edge(PROMETHEUS, CAINJECTOR, tcp(9402), why),
        Edge(PROMETHEUS, CERT_MANAGER_WEBHOOK, tcp(9402), why),
        Edge(PROMETHEUS, COREDNS, tcp(9153), why),
        Edge(PROMETHEUS, NODES, tcp(9100, 10250), "scrape the node exporter (host network) and the kubelet"),
        Edge(PROMETHEUS, API_SERVER, tcp(443), why),
    ]


# ---------------------------------------------------------------------------------------------------------------------
# The policies


def _ports(ports: Iterable[Port]) -> list[dict[str, Any]]:
    return [{"protocol": p.protocol, "port": p.number} for p in ports]


def _peer(peer: Peer) -> list[dict[str, Any]] | None:
    """A rule's `from`/`to`: None (no peer: anything) for Anywhere."""
    if isinstance(peer, Anywhere):
        return None
    if isinstance(peer, Addresses):
        block: dict[str, Any] = {"cidr": peer.cidr}
        if peer.excluded:
            block["except"] = list(peer.excluded)
        return [{"ipBlock": block}]
    return [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": peer.namespace}},
            "podSelector": {"matchLabels": peer.selector},
        }
    ]


def _rule(peer: Peer, ports: tuple[Port, ...], direction: str) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    peers = _peer(peer)
    if peers is not None:
        rule["from" if direction == "ingress" else "to"] = peers
    if ports:
        rule["ports"] = _ports(ports)
    return rule


def _policy(name: str, namespace: str, selector: dict[str, str], **rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A NetworkPolicy of the given directions (`ingress=`, `egress=`); a direction with no rules denies it all."""
    types = [t for t, key in (("Ingress", "ingress"), ("Egress", "egress")) if key in rules]
    spec: dict[str, Any] = {"podSelector": {"matchLabels": selector} if selector else {}, "policyTypes": types}
    spec.update({key: value for key, value in rules.items() if value})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def policies(cfg: StackConfig) -> list[dict[str, Any]]:
    """The NetworkPolicy manifests of the stack: per namespace default-deny and DNS, per pod group its edges."""
    managed = set(namespaces(cfg))
    found: list[dict[str, Any]] = []
    for ns in sorted(managed):
        found.append(_policy(naming.DEFAULT_DENY_POLICY, ns, {}, ingress=[], egress=[]))
    groups: dict[Pods, dict[str, list[dict[str, Any]]]] = {}
    for edge in required_edges(cfg):
        if isinstance(edge.source, Pods) and edge.source.namespace in managed:
            rule = _rule(edge.target, edge.ports, "egress")
            rules = groups.setdefault(edge.source, {}).setdefault("egress", [])
            if rule not in rules:
                rules.append(rule)
        if isinstance(edge.target, Pods) and edge.target.namespace in managed:
            rule = _rule(edge.source, edge.ports, "ingress")
            rules = groups.setdefault(edge.target, {}).setdefault("ingress", [])
            if rule not in rules:
                rules.append(rule)
    for group in sorted(groups, key=lambda g: (g.namespace, g.name)):
        found.append(_policy(naming.network_policy(group.name), group.namespace, group.selector, **groups[group]))
    return found
