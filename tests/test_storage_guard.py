"""The storage guard: a deployed stack's Vault store changes only after its data was migrated.

The stack's own last outputs answer the StackReference, as the promotion gate's source stack does
(tests/test_promotion.py); a refusal stops the program before any resource is registered."""

from __future__ import annotations

from typing import Any

import pytest

from components import storage_guard
from components.storage_guard import StorageSwitchError
from tests.conftest import Planner, stack_config

OWN = "organization/cdstack/staging"


def staging(**vault: Any) -> dict[str, Any]:
    config = stack_config("staging")
    config["cdstack:vault"] = {**config["cdstack:vault"], **vault}
    return config


def test_a_stack_on_consul_refuses_raft_with_one_message_before_anything_exists(shared_plan: Planner):
    with pytest.raises(StorageSwitchError) as refused:
        shared_plan("staging", staging(), {OWN: {"vaultStorage": "consul", "keyVaultName": "kv"}})
    text = str(refused.value)
    assert text.startswith("Pulumi.staging.yaml: cdstack:vault.storage: got raft; stack staging runs Vault on consul")
    assert "cdstack:vault.storageMigration: done" in text
    assert "docs/vault.md: Moving Vault from Consul to Raft" in text


def test_a_stack_deployed_before_the_export_counts_as_consul(shared_plan: Planner):
    """Outputs with an in-cluster Vault's Key Vault and no vaultStorage: deployed when Consul was the only store."""
    with pytest.raises(StorageSwitchError, match="runs Vault on consul"):
        shared_plan("staging", staging(), {OWN: {"keyVaultName": "kv-contoso-staging-q7k2", "vaultUrl": "https://v"}})


def test_the_migration_lets_the_switch_through(shared_plan: Planner):
    plan = shared_plan("staging", staging(storageMigration="done"), {OWN: {"vaultStorage": "consul"}})
    assert plan.outputs["vaultStorage"] == "raft"
    assert not [r for r in plan.registrations if r.name == "consul" and r.type.endswith("Release")]


@pytest.mark.parametrize(
    ("outputs", "storage"),
    [
        ({}, "raft"),  # never deployed
        ({"vaultStorage": "raft", "keyVaultName": "kv"}, "raft"),  # unchanged
        ({"vaultStorage": "consul", "keyVaultName": "kv"}, "consul"),  # unchanged: Consul stays an option
    ],
)
def test_a_new_stack_or_an_unchanged_store_passes(outputs: dict[str, Any], storage: str, shared_plan: Planner):
    plan = shared_plan("staging", staging(storage=storage), {OWN: outputs})
    assert plan.outputs["vaultStorage"] == storage


def test_raft_back_to_consul_is_refused_too(shared_plan: Planner):
    with pytest.raises(StorageSwitchError, match="got consul; stack staging runs Vault on raft"):
        shared_plan("staging", staging(storage="consul"), {OWN: {"vaultStorage": "raft"}})


def test_an_external_vault_is_not_guarded():
    assert storage_guard.deployed_store({"vaultStorage": None}) is None
    assert storage_guard.deployed_store({}) is None
