"""Auto-unseal for the in-cluster Vault: a Key Vault key, and an identity Vault's pods assume through workload
identity that may wrap and unwrap with it, and nothing else."""

from __future__ import annotations

import pulumi
import pulumi_random as random
from pulumi_azure_native import authorization, keyvault

from components import naming
from components.azure.key_vault_shape import KEY_VAULT_CRYPTO_USER, vault_properties
from components.azure.network import Network
from components.azure.workload_identity import federated_identity, service_account_subject
from components.config.schema import StackConfig
from components.endpoints import VaultUnseal
from components.tags import common_tags

UNSEAL_KEY = "vault-unseal"


def vault_subject() -> str:
    """The token subject of Vault's service account, as the cluster's OIDC issuer signs it."""
    return service_account_subject(naming.NAMESPACES["secrets"], naming.VAULT_SERVICE_ACCOUNT)


def unseal_key_properties() -> keyvault.KeyPropertiesArgsDict:
    """An RSA key Vault's auto-unseal may only wrap and unwrap with."""
    return {"kty": "RSA", "key_size": 4096, "key_ops": ["wrapKey", "unwrapKey"]}


class KeyVault(pulumi.ComponentResource):
    key_vault_name: pulumi.Output[str]
    key_vault_id: pulumi.Output[str]
    unseal: VaultUnseal

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        net: Network,
        oidc_issuer_url: pulumi.Output[str],
        client: pulumi.Output[authorization.GetClientConfigResult],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:azure:KeyVault", name, None, opts)
        tags = common_tags(cfg)
        child = pulumi.ResourceOptions(parent=self)

        # Lower-case letters and digits: Key Vault names are case-insensitive and must end in one of them.
        suffix = random.RandomString(
            "key-vault-suffix", length=naming.KEY_VAULT_SUFFIX_LENGTH, special=False, upper=False, opts=child
        )
        vault = keyvault.Vault(
            "key-vault",
            vault_name=suffix.result.apply(cfg.naming.key_vault),
            resource_group_name=net.resource_group_name,
            location=cfg.location,
            properties=vault_properties(client.tenant_id),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.production),
        )
        key = keyvault.Key(
            "unseal-key",
            key_name=UNSEAL_KEY,
            vault_name=vault.name,
            resource_group_name=net.resource_group_name,
            properties=unseal_key_properties(),
            tags=tags,
            # Never deleted by Pulumi: ARM has no DELETE for keys, so the provider deletes through the data plane,
            # where the deployer holds no role on an RBAC vault (403); and a deleted unseal key makes Vault's data
            # unreadable. The key goes (soft-deleted) with its vault.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )

        # Handed out only once the identity can both log in from the Vault pods and use the key: a Vault that
        # starts earlier cannot unseal, is never Ready, and its atomic release times out.
        client_id = federated_identity(
            "vault",
            cfg,
            net.resource_group_name,
            oidc_issuer_url,
            vault_subject(),
            "vault-service-account",
            ("vault-crypto-user", KEY_VAULT_CRYPTO_USER),
            vault.id,
            self,
        )

        self.key_vault_name = vault.name
        self.key_vault_id = vault.id
        self.unseal = VaultUnseal(
            tenant_id=client.tenant_id,
            key_vault_name=vault.name,
            key_name=key.name,
            identity_client_id=client_id,
        )
        self.register_outputs({"keyVaultName": self.key_vault_name, "identityClientId": client_id})
