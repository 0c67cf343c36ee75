"""Pod Security Standards per namespace: the level Kubernetes' Pod Security admission enforces on each namespace the
stack creates, and why (kubernetes.io/docs/concepts/security/pod-security-standards, and the namespace labels of
kubernetes.io/docs/concepts/security/pod-security-admission).

Each namespace enforces the strictest level every pod the stack runs in it satisfies, as rendered from the pinned
charts and checked by tools/pod_security.py (tests/test_pod_security.py). Where a workload needs more, the reason is
the workload's, named below. `warn` and `audit` are `restricted` everywhere: a namespace below it says on every
`helm upgrade` (warnings) and in the API server's audit log which pods keep it there, and one that reaches it can be
tightened by moving its row. No version label: the levels follow the cluster's minor (`latest`), which is what
AKS upgrades test against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from components import naming

Level = Literal["privileged", "baseline", "restricted"]
LEVELS: tuple[Level, ...] = ("privileged", "baseline", "restricted")
LABEL_PREFIX = "pod-security.kubernetes.io"


@dataclass(frozen=True)
class NamespaceLevel:
    enforce: Level
    why: str


# Keyed by concern (naming.NAMESPACES). Every namespace the stack creates has a row (tests/test_pod_security.py).
LEVEL_BY_CONCERN: dict[str, NamespaceLevel] = {
    "ingress": NamespaceLevel("restricted", "Traefik runs non-root, read-only, all capabilities dropped, seccomp"),
    "cert-manager": NamespaceLevel("restricted", "cert-manager's chart meets restricted by default"),
    "secrets": NamespaceLevel(
        "restricted",
        "Vault's servers (with the security context services/secrets.py sets) and its snapshot job run non-root, "
        "all capabilities dropped, seccomp RuntimeDefault; on vault.storage consul the namespace is privileged "
        "(Consul's client agents listen on hostPorts)",
    ),
    "concourse": NamespaceLevel(
        "privileged", "Concourse workers run builds in containers of their own: the worker container is privileged"
    ),
    "monitoring": NamespaceLevel(
        "privileged",
        "node-exporter shares the node's network and PID namespaces and mounts / from the host (hostPath)",
    ),
    "logging": NamespaceLevel(
        "privileged", "Filebeat reads the nodes' container logs through hostPath volumes (/var/log/containers, pods)"
    ),
    "charts": NamespaceLevel(
        "restricted", "ChartMuseum runs unprivileged with the security context components/services/charts.py sets"
    ),
}

SECRETS_ON_CONSUL = NamespaceLevel(
    "privileged",
    "Consul's client agents listen on hostPorts 8500 and 8502: Vault's storage reaches the agent on its own node at "
    "HOST_IP:8500, and baseline forbids every hostPort",
)
"""The `vault` namespace's level where Vault's store is Consul (`vault.storage: consul`)."""

WARN_AND_AUDIT: Level = "restricted"


def level(namespace: str, vault_store: str | None = "raft") -> NamespaceLevel:
    """The level of a namespace the stack creates (by its name), for the stack's Vault store (`vault.storage`; None
    for an external Vault); a namespace without a row is a program error."""
    concern = next(c for c, name in naming.NAMESPACES.items() if name == namespace)
    if concern == "secrets" and vault_store == "consul":
        return SECRETS_ON_CONSUL
    return LEVEL_BY_CONCERN[concern]


def labels(namespace: str, vault_store: str | None = "raft") -> dict[str, str]:
    """The Pod Security admission labels of a namespace the stack creates."""
    return {
        f"{LABEL_PREFIX}/enforce": level(namespace, vault_store).enforce,
        f"{LABEL_PREFIX}/warn": WARN_AND_AUDIT,
        f"{LABEL_PREFIX}/audit": WARN_AND_AUDIT,
    }
