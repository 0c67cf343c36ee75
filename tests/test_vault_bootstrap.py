"""The graph brings Vault up from `pulumi up` alone: no manual flag, no token in the environment, the initialiser
before every Vault client, the deployers' Key Vault role, and a second `up` that leaves the initialiser alone."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config import loader
from components.vault import bootstrap as vault_bootstrap
from components.vault.init import VaultInitProvider
from tests.conftest import Planner, stack_config
from tools import offline

INIT = "pulumi-python:dynamic/vault:Init"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
ADMIN_GROUP = "6f1c2a9e-3b7d-4c11-9e2a-5d8b0f4a7c31"  # platform-admins in both stack files
PIPELINE_SP = "3c9a1f2e-7b4d-4e8a-9c6f-0d2b5e8a1f47"


def graph(plan: offline.Plan) -> list[dict[str, Any]]:
    """Everything the engine would receive, comparable across runs."""
    return sorted(
        (
            {"urn": r.urn, "inputs": r.inputs, "deps": sorted(r.dependencies), "provider": r.provider}
            for r in plan.registrations
        ),
        key=lambda r: r["urn"],
    )


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_nothing_touches_vault_before_the_initialiser(stack: str, shared_plan: Planner):
    plan = shared_plan(stack)
    init = plan.get(INIT, "vault-init")
    assert {"kubernetes:helm.sh/v3:Release::vault", "kubernetes:helm.sh/v3:Release::traefik"} <= {
        dep.split("$")[-1] for dep in init.dependencies
    }
    provider = plan.get("pulumi:providers:vault", "vault")
    assert init.urn in provider.dependencies
    vault_resources = [r for r in plan.registrations if r.type.startswith("vault:")]
    assert len(vault_resources) >= 5
    for resource in vault_resources:
        assert resource.provider.startswith(provider.urn), resource.name


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_initialiser_inputs_hold_no_secret_and_name_the_stacks_key_vault(stack: str, shared_plan: Planner):
    plan = shared_plan(stack)
    init = plan.get(INIT, "vault-init")
    # Only the serialised provider code is a secret (Pulumi marks it so); no key, token or password is an input.
    assert offline.SECRET not in json.dumps({k: v for k, v in init.inputs.items() if k != "__provider"})
    cfg = offline.load_config(stack)
    assert init.inputs["address"] == f"https://{cfg.dns.host('vault')}"
    key_vault = plan.get("azure-native:keyvault:Vault", "key-vault")
    assert init.inputs["keyVaultUrl"] == f"https://{key_vault.inputs['vaultName']}.vault.azure.net/"
    assert key_vault.urn in init.dependencies
    assert (init.inputs["recoveryShares"], init.inputs["recoveryThreshold"]) == (5, 3)
    access = init.inputs["access"]
    assert access["adminGroupId"] == ADMIN_GROUP
    assert access["issuer"] == f"https://sts.windows.net/{offline.TENANT_ID}/"
    assert access["deployerObjectIds"] == []


def test_deployers_get_key_vault_secrets_officer_on_exactly_the_stacks_key_vault(shared_plan: Planner):
    raw = stack_config("staging")
    raw["cdstack:vault"] = {**raw["cdstack:vault"], "deployerObjectIds": [PIPELINE_SP]}
    plan = shared_plan("staging", raw)
    key_vault = plan.get("azure-native:keyvault:Vault", "key-vault")
    officers = {r.name: r for r in plan.by_type(ROLE_ASSIGNMENT) if r.name.startswith("vault-keys-")}
    assert set(officers) == {"vault-keys-admins", "vault-keys-deployer-0"}
    role = f"/subscriptions/{offline.SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/"
    role += vault_bootstrap.KEY_VAULT_SECRETS_OFFICER
    expected = {"vault-keys-admins": (ADMIN_GROUP, "Group"), "vault-keys-deployer-0": (PIPELINE_SP, "ServicePrincipal")}
    for name, officer in officers.items():
        assert (officer.inputs["principalId"], officer.inputs["principalType"]) == expected[name]
        assert officer.inputs["roleDefinitionId"] == role
        assert key_vault.urn in officer.property_dependencies["scope"]
    init = plan.get(INIT, "vault-init")
    assert {officer.urn for officer in officers.values()} <= set(init.dependencies)
    assert init.inputs["access"]["deployerObjectIds"] == [PIPELINE_SP]


def test_no_manual_flag_and_no_token_in_the_environment(
    plan_of: Planner, shared_plan: Planner, monkeypatch: pytest.MonkeyPatch
):
    bare = graph(shared_plan("staging"))
    for name in ("VAULT_TOKEN", "VAULT_ROLE_ID", "VAULT_SECRET_ID", "VAULT_ADDR"):
        monkeypatch.setenv(name, f"planted-{name.lower()}")
    assert graph(plan_of("staging")) == bare  # nothing in the graph reads them

    raw = stack_config("staging")
    raw["cdstack:vault"] = {**raw["cdstack:vault"], "initialized": True}
    with pytest.raises(loader.ConfigError) as error:
        plan_of("staging", raw)
    assert error.value.keys == ["cdstack:vault.initialized"]  # the old flag is an unknown key now


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_second_up_is_a_no_op_for_the_initialiser(stack: str, plan_of: Planner, shared_plan: Planner):
    first = shared_plan(stack).get(INIT, "vault-init").inputs
    second = plan_of(stack).get(INIT, "vault-init").inputs
    olds = {**first, "initialized": True, "rootTokenRevoked": True}  # what create returned
    assert not VaultInitProvider().diff("id", olds, second).changes


def test_planted_mistake_a_changing_input_would_touch_vault_on_every_up(shared_plan: Planner):
    inputs = shared_plan("staging").get(INIT, "vault-init").inputs
    olds = {**inputs, "initialized": True, "rootTokenRevoked": True}
    changed = {**inputs, "access": {**inputs["access"], "adminGroupId": "another-group"}}
    assert VaultInitProvider().diff("id", olds, changed).changes


def test_recovery_threshold_above_shares_is_refused(shared_plan: Planner):
    raw = stack_config("staging")
    raw["cdstack:vault"] = {**raw["cdstack:vault"], "recoveryShares": 3, "recoveryThreshold": 4}
    with pytest.raises(loader.ConfigError, match=r"vault.recoveryThreshold: got 4; must be <= recoveryShares \(3\)"):
        shared_plan("staging", raw)
