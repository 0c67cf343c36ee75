"""The network policies: one edge list drives them (components/network_edges.py), network-config-analyzer judges
them (tools/netpol.py).

- The builder and the plan: every namespace denies by default, the plan creates exactly the builder's policies, and
  Consul's edges exist only where Consul does.
- The machinery, on manifests written here (CI has no charts): the analyzer's map of a small cluster shows the
  required edges connected, and the checks catch a missing deny, a missing allow and a forbidden allow.
- The real charts, where they are (skipped elsewhere with the line saying how to get them): the edge list agrees with
  the rendered Services, ServiceMonitors, Ingresses and webhooks, and the analyzer passes all three checks on every
  stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components import naming, network_edges
from components.network_edges import Addresses, Anywhere, Edge, Pods
from tests.conftest import Planner
from tests.services import stack_cfg
from tools import charts, netpol, offline, render

STACKS = offline.stack_names()
EXTERNAL_VAULT = {"mode": "external", "address": "https://vault.example.com"}


def test_every_namespace_denies_by_default_and_every_group_gets_one_policy():
    cfg = stack_cfg("prod")
    policies = network_edges.policies(cfg)
    by_name = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in policies}
    for ns in network_edges.namespaces(cfg):
        deny = by_name[(ns, naming.DEFAULT_DENY_POLICY)]["spec"]
        assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        dns = by_name[(ns, naming.network_policy("dns"))]["spec"]
        assert dns["podSelector"] == {} and {"protocol": "UDP", "port": 53} in dns["egress"][0]["ports"]
    assert len(by_name) == len(policies), "one policy per name and namespace"
    web = by_name[("concourse", "allow-concourse-web")]["spec"]
    assert web["podSelector"] == {"matchLabels": {"app": "concourse-web"}}
    assert {
        "to": [{"ipBlock": {"cidr": cfg.network.postgres_subnet}}],
        "ports": [{"protocol": "TCP", "port": 5432}],
    } in (web["egress"])


def test_consul_edges_exist_only_where_consul_does():
    def consul_ends(cfg: Any) -> set[str]:
        consul = {network_edges.CONSUL_SERVER, network_edges.CONSUL_CLIENT}
        return {e.source.name for e in network_edges.required_edges(cfg) if e.target in consul}

    prod = stack_cfg("prod")
    on_consul = stack_cfg("prod", vault={**prod.vault.model_dump(by_alias=True), "storage": "consul"})
    assert consul_ends(on_consul) == {"vault", "consul-client", "consul-server", naming.VAULT_BACKUP_CRONJOB}
    # On Raft (the shipped stacks) nothing calls Consul, and the snapshot job calls Vault itself.
    assert consul_ends(prod) == set()
    backup = [e for e in network_edges.required_edges(prod) if e.source == network_edges.VAULT_BACKUP]
    assert {e.target for e in backup} >= {network_edges.VAULT}
    external = stack_cfg("staging", vault=EXTERNAL_VAULT)
    assert not network_edges.consul_deployed(external) and consul_ends(external) == set()
    assert naming.NAMESPACES["secrets"] not in {p["metadata"]["namespace"] for p in network_edges.policies(external)}


def test_the_plan_creates_exactly_the_builders_policies_each_after_its_namespace(shared_plan: Planner):
    plan = shared_plan("staging")
    planned = [r for r in plan.registrations if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"]
    made = sorted((netpol.whole_numbers(r.inputs) for r in planned), key=render.identity)
    assert made == sorted(network_edges.policies(stack_cfg("staging")), key=render.identity)
    namespaces = {r.urn: r.inputs["metadata"]["name"] for r in plan.registrations if r.type.endswith(":Namespace")}
    for r in planned:
        assert [namespaces.get(d) for d in r.dependencies] == [r.inputs["metadata"]["namespace"]]


# ---------------------------------------------------------------------------------------------------------------------
# The machinery on a cluster of our own: Concourse and Vault, with the stack's real policies for those namespaces.


def _workload(kind: str, name: str, namespace: str, labels: dict[str, str], ports: list[int], replicas: int = 2):
    containers = [{"name": name, "ports": [{"containerPort": p, "name": f"p{p}"} for p in ports]}]
    template = {"metadata": {"labels": labels}, "spec": {"containers": containers}}
    return {
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "template": template},
    }


def small_world(cfg: Any, drop: tuple[str, ...] = (), extra: tuple[dict[str, Any], ...] = ()) -> list[dict[str, Any]]:
    namespaces = ("concourse", "vault")
    objects: list[dict[str, Any]] = [{"kind": "Namespace", "metadata": {"name": ns}} for ns in namespaces]
    objects += [
        _workload("Deployment", "concourse-web", "concourse", {"app": "concourse-web"}, [8080, 2222, 9391]),
        _workload("StatefulSet", "concourse-worker", "concourse", network_edges.WORKER.selector, [8888]),
        _workload("StatefulSet", "vault", "vault", network_edges.VAULT.selector, [8200, 8201]),
    ]
    objects += [
        p
        for p in network_edges.policies(cfg)
        if p["metadata"]["namespace"] in namespaces and p["metadata"]["name"] not in drop
    ]
    return objects + list(extra)


def small_edges(cfg: Any) -> list[Edge]:
    present = {network_edges.WEB, network_edges.WORKER, network_edges.VAULT, network_edges.COREDNS}

    def here(peer: Any) -> bool:
        return (
            not isinstance(peer, Pods)
            or peer in present
            or (not peer.labels and peer.namespace in ("concourse", "vault"))
        )

    return [e for e in network_edges.required_edges(cfg) if here(e.source) and here(e.target)]


def analyse(objects: list[dict[str, Any]], folder: Path) -> tuple[netpol.Cluster, netpol.Map]:
    if not netpol.NCA.exists():
        pytest.fail(f"{netpol.NCA} is missing: `make test` creates it from requirements-netpol.txt")
    cluster = netpol.cluster_of(objects)
    netpol.write(cluster, folder)
    return cluster, netpol.parse_map(netpol.connectivity_map(folder, "txt_no_fw_rules"), cluster.pods)


def judged(cfg: Any, objects: list[dict[str, Any]], folder: Path) -> list[str]:
    cluster, found = analyse(objects, folder)
    problems = netpol.check(cfg, cluster, found, small_edges(cfg))
    # The sample's namespaces only: this cluster has no other.
    return [p for p in problems if "/" in p]


def test_the_analyzer_connects_the_required_edges_of_a_cluster_of_our_own(tmp_path: Path):
    cfg = stack_cfg("prod")
    cluster, found = analyse(small_world(cfg), tmp_path)
    edges = small_edges(cfg)
    assert len(edges) > 10 and any(isinstance(e.target, Addresses) for e in edges)
    assert netpol.check(cfg, cluster, found, edges) == []
    assert found.conn("concourse/concourse-worker", "concourse/concourse-web") == {"TCP": {2222}}
    assert found.conn("concourse/concourse-worker", "vault/vault") == {}
    assert found.conn("vault/vault", "vault/vault-2") == {"TCP": {8200, 8201}}


def test_the_checks_catch_a_missing_deny_a_missing_allow_and_a_forbidden_allow(tmp_path: Path):
    cfg = stack_cfg("prod")
    # The worker's own policy gone: its edges to web and the internet are closed.
    problems = judged(cfg, small_world(cfg, drop=("allow-concourse-worker",)), tmp_path / "allow")
    assert "required edge not connected: concourse/concourse-worker -> concourse/concourse-web TCP/2222" in problems
    assert "required edge not connected: concourse/concourse-worker -> internet all ports" in problems
    # Vault's namespace without its default deny: open to every address on every port but the ones it allows.
    problems = judged(cfg, small_world(cfg, drop=(naming.DEFAULT_DENY_POLICY,)), tmp_path / "deny")
    assert "unprotected pod: vault/vault: no policy isolates its ingress" not in problems  # allow-vault isolates it
    assert "unprotected pod: concourse/concourse-worker: no policy isolates its ingress" in problems
    # A policy that lets builds reach Vault.
    leak = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "leak", "namespace": "vault"},
        "spec": {
            "podSelector": {"matchLabels": network_edges.VAULT.selector},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {}}]}],
        },
    }
    egress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "leak", "namespace": "concourse"},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]},
    }
    problems = judged(cfg, small_world(cfg, extra=(leak, egress)), tmp_path / "leak")
    assert "forbidden edge connected: concourse/concourse-worker -> vault/vault: a build could reach Vault" in problems
    assert (
        "forbidden edge connected: concourse/concourse-worker -> PostgreSQL's subnet: a build could reach the database"
        in problems
    )
    assert any(
        p.startswith("forbidden edge connected: concourse/concourse-worker -> vault/vault: reaches a Consul")
        for p in problems
    )


def test_the_edge_list_must_name_every_scrape_target_ingress_backend_and_webhook():
    cfg = stack_cfg("prod")
    service = {
        "kind": "Service",
        "metadata": {"name": "concourse-web", "namespace": "concourse", "labels": {"app": "concourse-web"}},
        "spec": {
            "selector": {"app": "concourse-web"},
            "ports": [{"name": "prometheus", "port": 9391, "targetPort": "p9391"}, {"name": "atc", "port": 8080}],
        },
    }
    monitor = {
        "kind": "ServiceMonitor",
        "metadata": {"name": "concourse-web", "namespace": "concourse"},
        "spec": {"selector": {"matchLabels": {"app": "concourse-web"}}, "endpoints": [{"port": "prometheus"}]},
    }
    ingress = {
        "kind": "Ingress",
        "metadata": {"name": "concourse-web", "namespace": "concourse"},
        "spec": {
            "rules": [
                {"http": {"paths": [{"backend": {"service": {"name": "concourse-web", "port": {"number": 8080}}}}]}}
            ]
        },
    }
    hook = {
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "web-hook"},
        "webhooks": [{"clientConfig": {"service": {"namespace": "concourse", "name": "concourse-web", "port": 8080}}}],
    }
    cluster = netpol.cluster_of(small_world(cfg, extra=(service, monitor, ingress, hook)))
    edges = [e for e in small_edges(cfg) if e.target in (network_edges.WEB, network_edges.WORKER, network_edges.VAULT)]
    prometheus = Edge(network_edges.PROMETHEUS, network_edges.WEB, network_edges.tcp(9391), "scrape")
    traefik = Edge(network_edges.TRAEFIK, network_edges.WEB, network_edges.tcp(8080), "UI")
    hook_edge = Edge(Anywhere("anyone"), network_edges.WEB, network_edges.tcp(8080), "webhook")
    without = netpol.disagreements([e for e in edges if e.source is not network_edges.TRAEFIK], cluster)
    assert (
        "ServiceMonitor concourse/concourse-web: Prometheus -> concourse/concourse-web port 9391 is no edge" in without
    )
    assert "Ingress concourse/concourse-web: Traefik -> concourse/concourse-web port 8080 is no edge" in without
    assert (
        "ValidatingWebhookConfiguration web-hook: the API server -> concourse/concourse-web port 8080 is no edge"
        in without
    )
    wrong_port = Edge(network_edges.PROMETHEUS, network_edges.WEB, network_edges.tcp(9999), "scrape")
    assert any("port 9999 is none of its [2222, 8080, 9391]" in p for p in netpol.disagreements([wrong_port], cluster))
    named = netpol.disagreements([*edges, hook_edge, traefik, prometheus], cluster)
    assert [p for p in named if not p.startswith("group ")] == []
    assert set(named) == {  # the groups this small cluster has no pods of
        f"group {g.namespace}/{g.name}: no pod has the labels {g.selector}"
        for g in (network_edges.PROMETHEUS, network_edges.TRAEFIK)
    }


# ---------------------------------------------------------------------------------------------------------------------
# The real charts


@pytest.mark.parametrize("stack", STACKS)
def test_the_real_charts_agree_with_the_edge_list_and_the_analyzer_passes_every_check(stack: str, tmp_path: Path):
    absent = render.missing_charts(stack)
    if absent:
        pytest.skip(f"real charts absent ({', '.join(absent)}): {charts.GET_THEM}")
    cfg = offline.load_config(stack)
    cluster = netpol.stack_cluster(stack)
    edges = network_edges.required_edges(cfg)
    assert netpol.disagreements(edges, cluster) == []
    netpol.write(cluster, tmp_path)
    found = netpol.parse_map(netpol.connectivity_map(tmp_path, "txt_no_fw_rules"), cluster.pods)
    assert netpol.check(cfg, cluster, found) == []
    # Not vacuous: the map holds the pods and the edges the checks read (the worker's pod is named by its generation).
    worker = found.members(network_edges.WORKER)[0]
    assert found.conn(worker, "concourse/concourse-web") == {"TCP": {2222}}
    assert found.conn(worker, "vault/vault") == {}
    grafana = "monitoring/kube-prometheus-stack-grafana"
    assert found.conn(grafana, "monitoring/kube-prometheus-stack-prometheus") == {"TCP": {9090}}
    if cfg.parts.elasticsearch:  # a lean stack runs no Elasticsearch (parts.elasticsearch)
        assert found.conn(grafana, "logging/elasticsearch") == {"TCP": {9200}}
    assert len(found.pods) > 20 and len(found.allowed) > 100
