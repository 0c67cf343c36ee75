"""Pod Security Standards: every namespace the stack creates carries its admission labels, the level checker follows
Kubernetes' rules, and (where the pinned charts are on the machine) every rendered pod meets its namespace's level,
which is the strictest its pods allow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from components import clock, naming, network_edges, pod_security
from tests.conftest import TODAY, cached_plan
from tools import charts, offline, workloads
from tools import pod_security as checker

NAMESPACE = "kubernetes:core/v1:Namespace"
STACKS = offline.stack_names()


def restricted_pod(**changes: Any) -> dict[str, Any]:
    """A pod spec that meets restricted; `changes` replace top-level keys."""
    spec: dict[str, Any] = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "app",
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                "ports": [{"containerPort": 8080}],
            }
        ],
        "volumes": [{"name": "config", "configMap": {"name": "app"}}],
    }
    return {**spec, **changes}


def with_container_context(**context: Any) -> dict[str, Any]:
    spec = restricted_pod()
    spec["containers"][0]["securityContext"].update(context)
    return spec


# ---------------------------------------------------------------------------------------------------------------------
# Labels


@pytest.mark.parametrize("stack", STACKS)
def test_every_namespace_the_stack_creates_carries_its_pod_security_labels(stack: str):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(clock.ENV, TODAY)
        plan = cached_plan(stack)
    namespaces = plan.by_type(NAMESPACE)
    # Every namespace the stack deploys into: a lean stack has no logging or chartmuseum namespace.
    expected = set(network_edges.namespaces(offline.load_config(stack)))
    assert {n.inputs["metadata"]["name"] for n in namespaces} == expected
    for namespace in namespaces:
        name = namespace.inputs["metadata"]["name"]
        labels = namespace.inputs["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == pod_security.level(name).enforce, name
        assert labels["pod-security.kubernetes.io/warn"] == "restricted", name
        assert labels["pod-security.kubernetes.io/audit"] == "restricted", name


def test_each_level_is_chosen_with_its_reason():
    assert set(pod_security.LEVEL_BY_CONCERN) == set(naming.NAMESPACES)
    enforced = {naming.NAMESPACES[c]: row.enforce for c, row in pod_security.LEVEL_BY_CONCERN.items()}
    assert enforced == {
        "ingress": "restricted",
        "cert-manager": "restricted",
        "chartmuseum": "restricted",
        "vault": "restricted",
        "concourse": "privileged",
        "monitoring": "privileged",
        "logging": "privileged",
    }
    assert all(row.why for row in pod_security.LEVEL_BY_CONCERN.values())
    readme = (offline.PROJECT_DIR / "docs" / "security.md").read_text()
    for concern, row in pod_security.LEVEL_BY_CONCERN.items():
        assert f"| `{naming.NAMESPACES[concern]}` | {row.enforce} | {row.why} |" in readme, concern


# ---------------------------------------------------------------------------------------------------------------------
# The checker follows Kubernetes' rules


def test_a_hardened_pod_meets_restricted():
    assert checker.violations(restricted_pod(), "restricted") == []
    assert checker.strictest(restricted_pod()) == "restricted"


@pytest.mark.parametrize(
    ("spec", "expected", "why"),
    [
        (restricted_pod(hostNetwork=True), "privileged", "hostNetwork"),
        (restricted_pod(volumes=[{"name": "logs", "hostPath": {"path": "/var/log"}}]), "privileged", "hostPath"),
        (with_container_context(privileged=True), "privileged", "app: privileged"),
        (with_container_context(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}), "privileged", "SYS_ADMIN"),
        (
            restricted_pod(containers=[{"name": "agent", "ports": [{"containerPort": 8500, "hostPort": 8500}]}]),
            "privileged",
            "agent: hostPort 8500",
        ),
        (restricted_pod(securityContext={"runAsNonRoot": True}), "baseline", "no RuntimeDefault or Localhost"),
        (with_container_context(allowPrivilegeEscalation=True), "baseline", "allowPrivilegeEscalation"),
        (with_container_context(capabilities={}), "baseline", "does not drop ALL capabilities"),
        (restricted_pod(volumes=[{"name": "data", "azureDisk": {"diskName": "d"}}]), "baseline", "of type azureDisk"),
        (with_container_context(capabilities={"drop": ["ALL"], "add": ["CHOWN"]}), "baseline", "adds capability"),
        (restricted_pod(securityContext={"seccompProfile": {"type": "RuntimeDefault"}}), "baseline", "runAsNonRoot"),
    ],
)
def test_a_planted_violation_lowers_the_level(spec: dict[str, Any], expected: str, why: str):
    assert checker.strictest(spec) == expected
    stricter = pod_security.LEVELS[pod_security.LEVELS.index(expected) + 1]
    assert any(why in v for v in checker.violations(spec, stricter)), checker.violations(spec, stricter)


# ---------------------------------------------------------------------------------------------------------------------
# The rendered stacks (real charts)


@pytest.fixture(scope="module", params=STACKS)
def pods(request: pytest.FixtureRequest) -> Iterator[list[workloads.Pod]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(clock.ENV, TODAY)
        try:
            yield checker.stack_pods(request.param)
        except charts.ChartMissingError as error:
            pytest.skip(f"real charts absent ({error}): {charts.GET_THEM}")


def test_every_rendered_pod_meets_its_namespaces_level(pods: list[workloads.Pod]):
    assert checker.problems(pods) == []


def test_no_namespace_enforces_less_than_its_pods_allow(pods: list[workloads.Pod]):
    """Restricted where the workloads allow it: a namespace whose pods all meet a stricter level must enforce it
    (namespaces with operator-made pods excepted: the operator's additions are not in the render)."""
    for namespace, members in checker.by_namespace(pods).items():
        if any(map(checker.operator_made, members)):
            continue
        meets = min((checker.strictest(p.spec) for p in members), key=pod_security.LEVELS.index)
        assert pod_security.level(namespace).enforce == meets, namespace


def test_a_namespace_enforcing_more_than_its_pods_meet_fails(pods: list[workloads.Pod], monkeypatch):
    monkeypatch.setitem(pod_security.LEVEL_BY_CONCERN, "concourse", pod_security.NamespaceLevel("baseline", "planted"))
    found = checker.problems(pods)
    assert any("-worker fails baseline (namespace concourse)" in p for p in found), found


def test_vault_on_consul_keeps_its_namespace_privileged():
    """Consul's client agents need hostPorts: on `vault.storage: consul` the namespace stays privileged; Raft has
    no such pod, and the namespace enforces restricted."""
    assert pod_security.level("vault", "consul").enforce == "privileged"
    assert "hostPort" in pod_security.level("vault", "consul").why
    assert pod_security.level("vault", "raft").enforce == "restricted"
    assert pod_security.labels("vault", None)["pod-security.kubernetes.io/enforce"] == "restricted"
