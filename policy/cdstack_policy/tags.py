"""Tags: every Azure resource that takes tags carries the stack's, so cost, ownership and origin are visible in
the portal and in cost reports."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs

from .common import get, resource_policy, schema

TAGGABLE = [
    "azure-native:containerservice:AgentPool",
    "azure-native:containerservice:ManagedCluster",
    "azure-native:dbforpostgresql:Server",
    "azure-native:keyvault:Key",
    "azure-native:keyvault:Vault",
    "azure-native:managedidentity:UserAssignedIdentity",
    "azure-native:network:PublicIPAddress",
    "azure-native:operationalinsights:Workspace",
    "azure-native:network:VirtualNetwork",
    "azure-native:privatedns:PrivateZone",
    "azure-native:privatedns:VirtualNetworkLink",
    "azure-native:resources:ResourceGroup",
    "azure-native:storage:StorageAccount",
]
"""The azure-native types cdstack deploys whose arguments take `tags` (tests/test_policy.py checks this list against
the installed SDK for every type in the planned graphs)."""


def check_tags(args: ResourceValidationArgs) -> Iterator[str]:
    tags = get(args.props, "tags") or {}
    for key, value in args.get_config()["requiredTags"].items():
        if get(tags, key) != value:
            yield f"tag {key} is {get(tags, key)!r}; it must be {value!r} (components/tags.py, cdstack:tags)."


POLICIES = [
    resource_policy(
        "azure-stack-tags",
        "Every Azure resource that takes tags carries the stack's tags: pass tags=common_tags(cfg).",
        TAGGABLE,
        check_tags,
        config=schema(
            requiredTags={
                "type": "object",
                "additionalProperties": {"type": "string"},
                "default": {"managed-by": "pulumi"},
                "description": "tags (name: value) every taggable resource carries",
            }
        ),
    ),
]
