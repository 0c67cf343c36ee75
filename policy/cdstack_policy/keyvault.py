"""Key Vault: access through Azure RBAC only, and nothing deleted in it is lost for good."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs

from .common import get, resource_policy, schema

VAULT = "azure-native:keyvault:Vault"


def check_rbac_soft_delete(args: ResourceValidationArgs) -> Iterator[str]:
    minimum = args.get_config()["minSoftDeleteDays"]
    if get(args.props, "properties.enableRbacAuthorization") is not True:
        yield "properties.enableRbacAuthorization is not true: grant access with Azure RBAC roles, not access policies."
    if get(args.props, "properties.enableSoftDelete") is False:
        yield "properties.enableSoftDelete is false: deleted keys must stay recoverable."
    days = get(args.props, "properties.softDeleteRetentionInDays", 90)
    if not isinstance(days, int | float) or days < minimum:
        yield f"properties.softDeleteRetentionInDays is {days}; keep deleted items at least {minimum} days."


def check_purge_protection(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "properties.enablePurgeProtection") is not True:
        yield "properties.enablePurgeProtection is not true: without it the Vault unseal key can be purged for good."


POLICIES = [
    resource_policy(
        "keyvault-rbac-soft-delete",
        "Key Vault authorises with Azure RBAC and keeps deleted items: enableRbacAuthorization true, soft delete on.",
        [VAULT],
        check_rbac_soft_delete,
        config=schema(
            minSoftDeleteDays={
                "type": "integer",
                "minimum": 7,
                "maximum": 90,
                "default": 90,
                "description": "fewest days a deleted key stays recoverable",
            }
        ),
    ),
    resource_policy(
        "keyvault-purge-protection",
        "Key Vault has purge protection: set properties.enablePurgeProtection to true (it cannot be turned off later).",
        [VAULT],
        check_purge_protection,
    ),
]
