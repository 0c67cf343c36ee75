"""Vault access under the mock engine: mount, exact policy, approle role and secret id, provider, the auth param."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components import config, durations
from components.vault_access import VaultAccess
from tests.conftest import Planner, stack_config
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
def test_mount_policy_and_approle(stack: str, plan_of: Planner):
    plan = plan_of(stack)
    provider = plan.get(PROVIDER, "vault")
    assert provider.inputs["address"] == f"https://vault.{'staging.' if stack == 'staging' else ''}cd.contoso.com"
    assert "token" not in provider.inputs  # no Vault token anywhere: the deployer logs in with its Entra ID token
    assert "authLogin" not in provider.inputs
    assert provider.inputs["authLoginJwt"] == offline.SECRET  # the JWT inside: a secret in the state
    init = plan.get("pulumi-python:dynamic/vault:Init", "vault-init")
    assert provider.dependencies == [init.urn]

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
    assert "secretId" not in secret_id.inputs  # Vault generates it
    assert secret_id.replace_on_changes == ["metadata"]
    for registration in plan.registrations:
        if registration.type.startswith("vault:"):
            assert registration.provider.startswith(provider.urn), registration.name


def test_policy_follows_the_path_prefix(plan_of: Planner):
    cfg = stack_config("staging")
    cfg["cdstack:vault"] = {**cfg["cdstack:vault"], "pathPrefix": "/ci/concourse", "tokenTtl": "20m"}
    plan = plan_of("staging", cfg)
    assert plan.get(MOUNT, "kv").inputs["path"] == "ci/concourse"
    assert plan.get(POLICY_TYPE, "concourse-policy").inputs["policy"] == POLICY.replace("concourse/", "ci/concourse/")
    assert plan.get(ROLE, "concourse-role").inputs["tokenTtl"] == 1200


def test_rotation_is_a_config_change(plan_of: Planner):
    cfg = stack_config("staging")
    cfg["cdstack:vault"] = {**cfg["cdstack:vault"], "secretIdGeneration": 2}
    secret_id = plan_of("staging", cfg).get(SECRET_ID, "concourse-secret-id")
    assert json.loads(secret_id.inputs["metadata"]) == {"generation": "2"}


def test_team_credentials_land_in_vault_under_the_team_path(plan_of: Planner):
    plan = offline.run_stack("staging")
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
        cfg = config.load()
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
    assert plan.outputs["param"] == "role_id:offline-role-id-concourse,secret_id:offline-secret-id-concourse-secret-id"
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
        cfg = config.StackConfig.model_validate(raw)
        return [f"{key}: {allowed}" for key, _, allowed in config.check_rules(cfg)]

    assert problems() == []
    assert problems(tokenTtl="5h") == ["cdstack:vault.tokenTtl: must be <= tokenMaxTtl (4h)"]
    assert problems(sharedPath="payments") == ["cdstack:teams[0].name: must differ from vault.sharedPath"]
    assert problems(sharedPath="main") == ["cdstack:vault.sharedPath: must differ from main (the main team's path)"]
    assert durations.go_duration_seconds("1h30m") == 5400
    assert durations.go_duration_seconds("90s") == 90
