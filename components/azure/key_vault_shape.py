"""The shape every Key Vault of the stack has (Vault's unseal vault, the etcd KMS vault) and the role that uses their
keys: a leaf module, so the cluster (which creates the KMS vault before it exists) and the unseal vault (which needs
the cluster's OIDC issuer) both build on it without importing each other."""

from __future__ import annotations

import pulumi
from pulumi_azure_native import keyvault

KEY_VAULT_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
"""Built-in role id: cryptographic operations with keys (wrap and unwrap, encrypt and decrypt), no key management."""


def vault_properties(tenant_id: pulumi.Input[str]) -> keyvault.VaultPropertiesArgsDict:
    """Access through Azure RBAC only (no access policies); soft delete for the longest period Azure allows."""
    return {
        "tenant_id": tenant_id,
        "sku": {"family": "A", "name": keyvault.SkuName.STANDARD},
        "enable_rbac_authorization": True,
        "enable_soft_delete": True,
        "soft_delete_retention_in_days": 90,
        # Without its key, what the key protects (Vault's data, etcd's secrets) is lost: no one may purge it early.
        "enable_purge_protection": True,
        # What the SDK's args class sets when left out, spelled out: no VM, disk or template reads it, and it stays
        # reachable from outside Azure (the deployer stores Vault's recovery keys in it from where `pulumi up` runs).
        "enabled_for_deployment": False,
        "enabled_for_disk_encryption": False,
        "enabled_for_template_deployment": False,
        "public_network_access": "enabled",
    }
