"""Key Vault KMS for etcd (cluster.etcdKms): Kubernetes secrets are encrypted in etcd with a key of a Key Vault of
their own, which the AKS control plane reaches as a user-assigned identity holding Key Vault Crypto User on it.

What AKS's documentation of the KMS plugin (learn.microsoft.com/azure/aks/use-kms-etcd-encryption, read 2026-12-03)
requires, and how this meets it:
- not a system-assigned identity: the vault's role must exist before the cluster does, so the control plane runs as
  a user-assigned identity created first;
- a key vault in the cluster's own tenant (another tenant's is not supported): the stack creates it, in its tenant;
- public network access without a firewall (a vault open to chosen networks or addresses is not supported; a private
  one needs API Server VNet Integration, which this cluster does not use): `keyVaultNetworkAccess: Public`;
- the key, the vault and the identity must never be deleted while the cluster uses them: purge protection, and the
  key is retained when Pulumi forgets it;
- the key id with its version (`https://<vault>.vault.azure.net/keys/<name>/<version>`, what az aks checks).

Shapes: azure-native containerservice AzureKeyVaultKms (enabled, key_id, key_vault_network_access,
key_vault_resource_id), keyvault Vault and Key, managedidentity UserAssignedIdentity (pinned SDK, pyright-checked).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random
from pulumi_azure_native import authorization, containerservice, keyvault, managedidentity

from components import naming
from components.azure.key_vault_shape import vault_properties
from components.config.schema import StackConfig
from components.tags import common_tags

ETCD_KEY = "etcd-kms"
CONTROL_PLANE = "aks"
"""The purpose in the control plane identity's name (`id-<name>-<stack>-aks`)."""


def kms_key_properties() -> keyvault.KeyPropertiesArgsDict:
    """The key encryption key the KMS plugin encrypts and decrypts etcd's data keys with."""
    return {"kty": "RSA", "key_size": 2048, "key_ops": ["encrypt", "decrypt"]}


def kms_profile(key_id: pulumi.Input[str]) -> containerservice.AzureKeyVaultKmsArgsDict:
    """A public vault: no vault resource id (AKS wants it only for a private one)."""
    return {
        "enabled": True,
        "key_id": key_id,
        "key_vault_network_access": containerservice.KeyVaultNetworkAccessTypes.PUBLIC,
    }


def user_assigned(identity_id: pulumi.Input[str]) -> containerservice.ManagedClusterIdentityArgsDict:
    return {"type": containerservice.ResourceIdentityType.USER_ASSIGNED, "user_assigned_identities": [identity_id]}


@dataclass
class EtcdKms:
    """What the cluster needs from the KMS resources."""

    identity: containerservice.ManagedClusterIdentityArgsDict
    principal_id: pulumi.Output[str]
    profile: containerservice.AzureKeyVaultKmsArgsDict
    role: authorization.RoleAssignment
    """The cluster waits for it: AKS checks the key at creation."""


def etcd_kms(
    cfg: StackConfig,
    resource_group_name: pulumi.Input[str],
    tenant_id: pulumi.Input[str],
    crypto_user_role: pulumi.Input[str],
    parent: pulumi.Resource,
) -> EtcdKms:
    """The vault (RBAC, purge protection, public), its key, the control plane identity and `crypto_user_role` (the
    subscription's Key Vault Crypto User role definition id) on the vault."""
    child = pulumi.ResourceOptions(parent=parent)
    tags = common_tags(cfg)
    suffix = random.RandomString(
        "etcd-kms-vault-suffix", length=naming.KEY_VAULT_SUFFIX_LENGTH, special=False, upper=False, opts=child
    )
    vault = keyvault.Vault(
        "etcd-kms-vault",
        vault_name=suffix.result.apply(cfg.naming.key_vault),
        resource_group_name=resource_group_name,
        location=cfg.location,
        properties=vault_properties(tenant_id),
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent, protect=cfg.production),
    )
    key = keyvault.Key(
        "etcd-kms-key",
        key_name=ETCD_KEY,
        vault_name=vault.name,
        resource_group_name=resource_group_name,
        properties=kms_key_properties(),
        tags=tags,
        # A deleted key leaves etcd's secrets unreadable (and ARM has no DELETE for keys): it goes with its vault.
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=True),
    )
    identity = managedidentity.UserAssignedIdentity(
        "control-plane-identity",
        resource_name_=cfg.naming.identity(CONTROL_PLANE),
        resource_group_name=resource_group_name,
        location=cfg.location,
        tags=tags,
        opts=child,
    )
    role = authorization.RoleAssignment(
        "control-plane-crypto-user",
        principal_id=identity.principal_id,
        principal_type="ServicePrincipal",
        role_definition_id=crypto_user_role,
        scope=vault.id,
        opts=child,
    )
    return EtcdKms(user_assigned(identity.id), identity.principal_id, kms_profile(key.key_uri_with_version), role)
