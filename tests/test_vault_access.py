"""Vault access under the mock engine: mount, exact policy, approle role and secret id, provider, the auth param."""

from __future__ import annotations

import json
import time
from typing import Any

import pulumi
import pytest

from components import durations
from components.config import loader, rules, schema
from components.vault import login as vault_login
from components.vault.access import VaultAccess
from tests.conftest import PROJECT_DIR, Planner, stack_config
from tools import offline

POLICY = """path "concourse/data/*" {
  capabilities = ["read"]
}

path "concourse/metadata/*" {
  capabilities = ["list"]
}
"""

MOUNT = "vault:index/mount:Mount"
POLICY_TYPE = "vault:index/policy:Policy"
ROLE = "vault:appRole/authBackendRole:AuthBackendRole"
SECRET_ID = "vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId"
PROVIDER = "pulumi:providers:vault"
VAULT_TYPES = (MOUNT, POLICY_TYPE, ROLE, SECRET_ID, PROVIDER, "vault:index/authBackend:AuthBackend")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_mount_policy_and_approle(stack: str, shared_plan: Planner):
    plan = shared_plan(stack)
    provider = plan.get(PROVIDER, "vault")
    assert provider.inputs["address"] == f"https://vault.{'staging.' if stack == 'staging' else ''}cd.contoso.com"
    assert "token" not in provider.inputs  # no Vault token anywhere: the deployer logs in with its Entra ID token
    assert "authLogin" not in provider.inputs
    # The role and the mount only: the token comes from the provider's environment (TERRAFORM_VAULT_AUTH_JWT).
    assert json.loads(provider.inputs["authLoginJwt"]) == {"role": "admins", "mount": "entra"}
    init = plan.get("pulumi-python:dynamic/vault:Init", "vault-init")
    # It logs in once Vault is initialised, at the mount the infra stack's trust says (its StackReference).
    infra = "pulumi:pulumi:StackReference::organization/cdstack/infra"
    assert provider.dependencies[0] == init.urn and provider.dependencies[1].endswith(infra)
    assert len(provider.dependencies) == 2

    mount = plan.get(MOUNT, "kv")
    assert mount.inputs["path"] == "concourse"
    assert mount.inputs["type"] == "kv"
    assert mount.inputs["options"] == {"version": "2"}
    assert mount.protect is (stack == "prod")
    assert mount.provider.startswith(provider.urn)

    policy = plan.get(POLICY_TYPE, "concourse-policy")
    assert policy.inputs == {"name": "concourse", "policy": POLICY}

    backend = plan.get("vault:index/authBackend:AuthBackend", "approle")
    assert backend.inputs["type"] == "approle"
    assert backend.inputs["path"] == "approle"

    role = plan.get(ROLE, "concourse-role")
    assert role.inputs["roleName"] == "concourse"
    assert role.inputs["backend"] == "approle"
    assert role.inputs["tokenPolicies"] == ["concourse"]
    assert policy.urn in role.property_dependencies["tokenPolicies"]
    assert role.inputs["tokenTtl"] == 3600
    assert role.inputs["tokenMaxTtl"] == 4 * 3600
    assert role.inputs["secretIdTtl"] == 0

    secret_id = plan.get(SECRET_ID, "concourse-secret-id")
    assert secret_id.inputs["roleName"] == "concourse"
    assert role.urn in secret_id.property_dependencies["roleName"]
    assert json.loads(secret_id.inputs["metadata"]) == {"generation": "1"}
    # Both ids are generated here (secrets) and pushed into Vault: Concourse need not wait for Vault to hand them out.
    assert secret_id.inputs["secretId"] == offline.SECRET
    assert role.inputs["roleId"] == offline.SECRET
    value = plan.get("random:index/randomPassword:RandomPassword", "concourse-secret-id-value")
    assert value.urn in secret_id.property_dependencies["secretId"]
    assert value.inputs["keepers"] == {"generation": "1"}  # a new generation, a new id
    assert value.inputs["special"] is False  # `:` and `,` separate the auth param's fields
    assert secret_id.replace_on_changes == ["metadata"]
    for registration in plan.registrations:
        if registration.type.startswith("vault:"):
            assert registration.provider.startswith(provider.urn), registration.name


def plan_as(stack: str, token: str) -> offline.Plan:
    """The stack file planned with the deployer's token `token` (a person's)."""
    config, secret_keys, outputs = offline.stack_file_inputs(stack)
    return offline.run(
        stack, config, secret_keys, stack_outputs=outputs, deployer=lambda: vault_login.Deployer(token, None)
    )


def deployer_token(seconds: int, signature: str) -> str:
    """A person's ARM token living `seconds` more, signed `signature` (two fetches differ in both)."""
    claims = {**offline.OFFLINE_DEPLOYER_CLAIMS, "exp": int(time.time()) + seconds}
    return offline.unsigned_jwt(claims).rsplit(".", 1)[0] + f".{signature}"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_no_resource_keeps_the_deployers_token_and_a_new_token_is_no_change(stack: str):
    """An ARM token lives an hour. As a provider input it would rest in the state, fail every later `destroy` and
    `refresh` (they configure providers from the state) and change the provider on every run. `state` is what the
    engine stores for each resource (the mock engine echoes the inputs, secrets unmasked)."""
    first, second = deployer_token(3600, "first-fetch"), deployer_token(5400, "second-fetch")
    plans = [plan_as(stack, first), plan_as(stack, second)]
    for plan, token in zip(plans, (first, second), strict=True):
        for registration in plan.registrations:
            stored = json.dumps([registration.inputs, registration.state], default=str)
            assert token.split(".")[1] not in stored, f"{registration.type} {registration.name} keeps the token"
    providers = [plan.get(PROVIDER, "vault") for plan in plans]
    assert providers[0].state == providers[1].state
    assert providers[0].inputs == providers[1].inputs


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_golden_plans_vault_login_carries_no_token(stack: str):
    plan = json.loads((PROJECT_DIR / "plans" / f"{stack}.json").read_text())
    provider = next(r for r in plan["resources"] if r["type"] == PROVIDER and r["name"] == "vault")
    assert json.loads(provider["inputs"]["authLoginJwt"]) == {"role": "admins", "mount": "entra"}
    assert offline.SECRET not in json.dumps(provider["inputs"])


def test_policy_follows_the_path_prefix(shared_plan: Planner):
    cfg = stack_config("staging")
    cfg["cdstack:vault"] = {**cfg["cdstack:vault"], "pathPrefix": "/ci/concourse", "tokenTtl": "20m"}
    plan = shared_plan("staging", cfg)
    assert plan.get(MOUNT, "kv").inputs["path"] == "ci/concourse"
    assert plan.get(POLICY_TYPE, "concourse-policy").inputs["policy"] == POLICY.replace("concourse/", "ci/concourse/")
    assert plan.get(ROLE, "concourse-role").inputs["tokenTtl"] == 1200


def test_rotation_is_a_config_change(shared_plan: Planner):
    cfg = stack_config("staging")
    cfg["cdstack:vault"] = {**cfg["cdstack:vault"], "secretIdGeneration": 2}
    plan = shared_plan("staging", cfg)
    secret_id = plan.get(SECRET_ID, "concourse-secret-id")
    assert json.loads(secret_id.inputs["metadata"]) == {"generation": "2"}
    value = plan.get("random:index/randomPassword:RandomPassword", "concourse-secret-id-value")
    assert value.inputs["keepers"] == {"generation": "2"}


def test_team_credentials_land_in_vault_under_the_team_path(shared_plan: Planner):
    plan = shared_plan("staging")
    secret = plan.get("vault:kv/secretV2:SecretV2", "payments-service-user")
    assert secret.inputs["name"] == "payments/service-user"
    assert secret.inputs["mount"] == "concourse"
    assert secret.inputs["dataJson"] == offline.SECRET
    assert secret.inputs["deleteAllVersions"] is True
    assert plan.get(MOUNT, "kv").urn in secret.dependencies
    password = plan.get("random:index/randomPassword:RandomPassword", "payments-bot-password")
    assert password.inputs["length"] >= 32
    assert password.inputs["special"] is False  # local-users is "user:password,...": no separators


def run_access(stack: str, raw: dict[str, Any]) -> offline.Plan:
    """VaultAccess alone (external Vault: no initialiser), exporting what Concourse receives."""

    def program() -> None:
        cfg = loader.load()
        access = VaultAccess("vault-access", cfg, None)
        pulumi.export("param", pulumi.Output.unsecret(access.vault_auth_param))
        pulumi.export("paramIsSecret", pulumi.Output.from_input(access.vault_auth_param).is_secret())

    flat, secret_keys = offline.flatten_config(raw)
    return offline.run(stack, flat, secret_keys, program=program)


EXTERNAL = {"mode": "external", "address": "https://vault.corp.contoso.com/"}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_auth_param_is_the_charts_approle_form_and_a_secret(stack: str):
    raw = stack_config(stack)
    raw["cdstack:vault"] = EXTERNAL
    plan = run_access(stack, raw)
    # The mock engine's generated password for both ids (tools/offline.py).
    assert plan.outputs["param"] == "role_id:offline-plan-password,secret_id:offline-plan-password"
    assert plan.outputs["paramIsSecret"] is True


def test_external_vault_needs_no_bootstrap():
    raw = stack_config("staging")
    raw["cdstack:vault"] = EXTERNAL
    plan = run_access("staging", raw)
    provider = plan.get(PROVIDER, "vault")
    assert provider.inputs["address"] == "https://vault.corp.contoso.com"
    assert "authLoginJwt" not in provider.inputs  # its owners' login: the provider's own environment
    assert provider.dependencies == []
    assert plan.get(MOUNT, "kv").inputs["path"] == "concourse"


def test_vault_config_rules():
    def problems(**vault: Any) -> list[str]:
        raw = {key.split(":", 1)[1]: value for key, value in stack_config("staging").items() if key.startswith("cd")}
        raw["vault"] = {**raw["vault"], **vault}
        raw["stack"] = "staging"
        cfg = schema.StackConfig.model_validate(raw)
        return [f"{key}: {allowed}" for key, _, allowed in rules.check_rules(cfg)]

    assert problems() == []
    assert problems(tokenTtl="5h") == ["cdstack:vault.tokenTtl: must be <= tokenMaxTtl (4h)"]
    assert problems(sharedPath="payments") == ["cdstack:teams[0].name: must differ from vault.sharedPath"]
    assert problems(sharedPath="main") == ["cdstack:vault.sharedPath: must differ from main (the main team's path)"]
    assert durations.go_duration_seconds("1h30m") == 5400
    assert durations.go_duration_seconds("90s") == 90
