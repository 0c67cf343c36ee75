"""The Azure platform as a whole under the mock engine: what is protected in prod, and the stack outputs that name
the Azure resources."""

from __future__ import annotations

import pytest

from tests.azure_plans import CLUSTER, SERVER, STACKS
from tools import offline

STATEFUL = [
    (SERVER, "postgres"),
    ("azure-native:keyvault:Vault", "key-vault"),
    (CLUSTER, "aks"),
    ("azure-native:storage:StorageAccount", "chart-storage"),
    ("azure-native:storage:StorageAccount", "backup-storage"),
]


@pytest.mark.parametrize(("type_", "name"), STATEFUL)
def test_stateful_resources_are_protected_in_prod_only(azure_plans: dict[str, offline.Plan], type_: str, name: str):
    assert azure_plans["prod"].get(type_, name).protect is True
    assert azure_plans["staging"].get(type_, name).protect is False


@pytest.mark.parametrize("stack", STACKS)
def test_no_other_azure_resource_is_protected(azure_plans: dict[str, offline.Plan], stack: str):
    azure = [r for r in azure_plans[stack].registrations if r.type.startswith(("azure-native:", "azuread:"))]
    protected = {(r.type, r.name) for r in azure if r.protect}
    assert protected == (set(STATEFUL) if stack == "prod" else set())


@pytest.mark.parametrize("stack", STACKS)
def test_stack_outputs_name_the_azure_resources(azure_plans: dict[str, offline.Plan], stack: str):
    out = azure_plans[stack].outputs
    assert out["clusterName"] == f"aks-contoso-{stack}"
    assert out["databaseServerName"] == f"psql-contoso-{stack}"
    assert out["databaseHost"] == f"psql-contoso-{stack}.postgres.database.azure.com"
    assert out["keyVaultName"] == f"kv-contoso-{stack}-q7k2"
    assert out["ingressIp"] == "20.31.0.10"
    assert out["resourceGroupName"] == f"rg-contoso-{stack}"
