"""Stateful resources are protected: `pulumi destroy` or a refactoring that drops them from the program stops
instead of deleting the database, the Key Vault with Vault's unseal key, the chart store or Vault's storage."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs

from .common import get, resource_policy, schema

PROTECTED_TYPES = [
    "azure-native:containerservice:ManagedCluster",
    "azure-native:dbforpostgresql:Server",
    "azure-native:keyvault:Vault",
    "azure-native:storage:StorageAccount",
    "vault:index/mount:Mount",
]
PROTECTED_CHARTS = ["consul", "eck-stack"]
"""Releases whose volumes hold state: Consul is Vault's storage, eck-stack holds Elasticsearch's indices. A Vault
release holds state when it runs on integrated storage (`server.ha.raft.enabled`): its servers' volumes are the
store."""
RAFT_VAULT = ("vault", "values.server.ha.raft.enabled")
RELEASE = "kubernetes:helm.sh/v3:Release"


def check_protected(args: ResourceValidationArgs) -> Iterator[str]:
    config = args.get_config()
    chart = get(args.props, "chart") if args.resource_type == RELEASE else None
    stateful = (
        args.resource_type in config["types"]
        or chart in config["charts"]
        or (chart == RAFT_VAULT[0] and get(args.props, RAFT_VAULT[1]) is True)
    )
    if stateful and not args.opts.protect:
        yield f"{args.resource_type} {args.name} holds state but is not protected: set protect=cfg.production."


POLICIES = [
    resource_policy(
        "stateful-resources-protected",
        "Stateful resources are protected (ResourceOptions protect) so no update or destroy deletes them.",
        [],
        check_protected,
        config=schema(
            types={
                "type": "array",
                "items": {"type": "string"},
                "default": PROTECTED_TYPES,
                "description": "resource types that hold state",
            },
            charts={
                "type": "array",
                "items": {"type": "string"},
                "default": PROTECTED_CHARTS,
                "description": "Helm charts whose releases hold state",
            },
        ),
    ),
]
