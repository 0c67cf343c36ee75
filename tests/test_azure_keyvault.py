"""Key Vault and the unseal identity under the mock engine: Vault auto-unseals through a federated identity, and
an external Vault gets no Key Vault."""

from __future__ import annotations

import pytest

from components import naming
from components.azure import keyvault
from tests.azure_plans import ROLE, STACKS, plain, run
from tests.conftest import stack_config
from tools import offline


@pytest.mark.parametrize("stack", STACKS)
def test_key_vault_unseals_vault_through_a_federated_identity(azure_plans: dict[str, offline.Plan], stack: str):
    plan = azure_plans[stack]
    vault = plan.get("azure-native:keyvault:Vault", "key-vault")
    props = vault.inputs["properties"]
    # A random suffix per vault (offline: q7k2): a rebuilt stack never collides with its soft-deleted predecessor.
    assert vault.inputs["vaultName"] == f"kv-contoso-{stack}-q7k2"
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True
    key = plan.get("azure-native:keyvault:Key", "unseal-key")
    assert key.inputs["properties"]["kty"] == "RSA"
    assert key.inputs["properties"]["keyOps"] == ["wrapKey", "unwrapKey"]
    identity = plan.get("azure-native:managedidentity:UserAssignedIdentity", "vault-identity")
    federation = plan.get("azure-native:managedidentity:FederatedIdentityCredential", "vault-federation")
    assert federation.inputs["subject"] == (
        f"system:serviceaccount:{naming.NAMESPACES['secrets']}:{naming.VAULT_SERVICE_ACCOUNT}"
    )
    assert federation.inputs["issuer"] == plan.outputs["oidcIssuerUrl"]
    assert federation.inputs["audiences"] == ["api://AzureADTokenExchange"]
    assert federation.inputs["resourceName"] == f"id-contoso-{stack}-vault"
    role = plan.get(ROLE, "vault-crypto-user")
    assert role.inputs["roleDefinitionId"].endswith("/roleDefinitions/12338af0-0e69-4776-bea7-57ae8d297424")
    assert role.inputs["scope"] == "/offline/azure-native/keyvault/Vault/key-vault"
    assert role.inputs["principalId"] == identity.state["principalId"]
    assert role.inputs["principalType"] == "ServicePrincipal"
    out = plan.outputs
    assert out["hasUnseal"] is True
    assert (out["unseal.tenant"], out["unseal.vault"], out["unseal.key"]) == (
        offline.TENANT_ID,
        f"kv-contoso-{stack}-q7k2",
        "vault-unseal",
    )
    assert out["unseal.client"] == identity.state["clientId"]
    assert out["keyVaultName"] == f"kv-contoso-{stack}-q7k2"


def test_external_vault_gets_no_key_vault():
    cfg = stack_config("staging")
    cfg["cdstack:vault"] = {"mode": "external", "address": "https://vault.example.com"}
    plan = run("staging", cfg)
    assert not [r for r in plan.registrations if r.type.startswith("azure-native:keyvault")]
    # No Vault identity (unseal, backup); Elasticsearch's backup and PostgreSQL's metrics reader keep theirs.
    identities = {r.name for r in plan.registrations if r.type.startswith("azure-native:managedidentity")}
    assert not {name for name in identities if "vault" in name}
    assert plan.outputs["hasUnseal"] is False
    assert plan.outputs["keyVaultName"] is None


# ---------------------------------------------------------------------------------------------------------------------
# The pure builders, without the mock engine


def test_key_vault_is_rbac_only_and_its_deleted_keys_cannot_be_purged_early():
    properties = plain(keyvault.vault_properties("tenant"))
    assert properties["tenant_id"] == "tenant"
    assert properties["enable_rbac_authorization"] is True
    assert (properties["enable_soft_delete"], properties["enable_purge_protection"]) == (True, True)
    assert properties["soft_delete_retention_in_days"] == 90
    assert not any(properties[k] for k in ("enabled_for_deployment", "enabled_for_disk_encryption"))


def test_unseal_key_may_only_wrap_and_unwrap():
    assert keyvault.unseal_key_properties() == {"kty": "RSA", "key_size": 4096, "key_ops": ["wrapKey", "unwrapKey"]}
