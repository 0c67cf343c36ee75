"""cdstack's CrossGuard policies, one module per concern; `policy/__main__.py` serves them as one pack."""

from pulumi_policy import Policy

from . import aks, dns, graph, helm, keyvault, kubernetes, postgres, stateful, storage, tags

PACK_NAME = "cdstack"

POLICIES: list[Policy] = [
    *aks.POLICIES,
    *postgres.POLICIES,
    *keyvault.POLICIES,
    *storage.POLICIES,
    *stateful.POLICIES,
    *helm.POLICIES,
    *kubernetes.POLICIES,
    *tags.POLICIES,
    *dns.POLICIES,
    *graph.POLICIES,
]
