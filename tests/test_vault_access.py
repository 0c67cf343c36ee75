"""Vault access under the mock engine: mount, exact policy, approle role and secret id, provider, the auth param."""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import pulumi
import pytest

from components import config
from components.vault_access import VaultAccess, provider_auth_login
from tests.conftest import Planner, initialized_plan, initialized_stack_config, stack_config
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
    plan = initialized_plan(stack)
    provider = plan.get(PROVIDER, "vault")
    assert provider.inputs["address"] == f"https://vault.{'staging.' if stack == 'staging' else ''}cd.contoso.com"
    assert "token" not in provider.inputs  # a person's VAULT_TOKEN is read by the provider, never a stack value
    assert "authLogin" not in provider.inputs

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
    cfg = initialized_stack_config("staging")
    cfg["cdstack:vault"] = {**cfg["cdstack:vault"], "pathPrefix": "/ci/concourse", "tokenTtl": "20m"}
    plan = plan_of("staging", cfg)
    assert plan.get(MOUNT, "kv").inputs["path"] == "ci/concourse"
    assert plan.get(POLICY_TYPE, "concourse-policy").inputs["policy"] == POLICY.replace("concourse/", "ci/concourse/")
    assert plan.get(ROLE, "concourse-role").inputs["tokenTtl"] == 1200


def test_rotation_is_a_config_change(plan_of: Planner):
    cfg = initialized_stack_config("staging")
    cfg["cdstack:vault"] = {**cfg["cdstack:vault"], "secretIdGeneration": 2}
    secret_id = plan_of("staging", cfg).get(SECRET_ID, "concourse-secret-id")
    assert json.loads(secret_id.inputs["metadata"]) == {"generation": "2"}


def test_team_credentials_land_in_vault_under_the_team_path(plan_of: Planner):
    plan = initialized_plan("staging")
    secret = plan.get("vault:kv/secretV2:SecretV2", "payments-service-user")
    assert secret.inputs["name"] == "payments/service-user"
    assert secret.inputs["mount"] == "concourse"
    assert secret.inputs["dataJson"] == offline.SECRET
    assert secret.inputs["deleteAllVersions"] is True
    assert plan.get(MOUNT, "kv").urn in secret.dependencies
    password = plan.get("random:index/randomPassword:RandomPassword", "payments-bot-password")
    assert password.inputs["length"] >= 32
    assert password.inputs["special"] is False  # local-users is "user:password,...": no separators


def run_access(stack: str, raw: dict[str, Any], ready: bool = True) -> offline.Plan:
    """VaultAccess alone, after a stand-in for the Vault release, exporting what Concourse receives."""

    def program() -> None:
        cfg = config.load()
        release = pulumi.CustomResource("kubernetes:helm.sh/v3:Release", "vault", {})
        access = VaultAccess("vault-access", cfg, vault_ready=[release] if ready else [])
        pulumi.export("param", pulumi.Output.unsecret(access.vault_auth_param))
        pulumi.export("paramIsSecret", pulumi.Output.from_input(access.vault_auth_param).is_secret())

    flat, secret_keys = offline.flatten_config(raw)
    return offline.run(stack, flat, secret_keys, program=program)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_auth_param_is_the_charts_approle_form_and_a_secret(stack: str):
    plan = run_access(stack, initialized_stack_config(stack))
    assert plan.outputs["param"] == "role_id:offline-role-id-concourse,secret_id:offline-secret-id-concourse-secret-id"
    assert plan.outputs["paramIsSecret"] is True
    release = plan.get("kubernetes:helm.sh/v3:Release", "vault")
    assert plan.get(PROVIDER, "vault").dependencies == [release.urn]


def test_uninitialised_vault_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture):
    raw = stack_config("staging")
    raw["cdstack:vault"] = {k: v for k, v in raw["cdstack:vault"].items() if k != "initialized"}
    with caplog.at_level(logging.WARNING):
        plan = run_access("staging", raw)
    assert not [r for r in plan.registrations if r.type in VAULT_TYPES]
    assert plan.outputs["param"] == "role_id:vault-not-initialized,secret_id:vault-not-initialized"
    warning = " ".join(record.getMessage() for record in caplog.records)
    assert "https://vault.staging.cd.contoso.com is not initialised" in warning
    assert "cdstack:vault.initialized true" in warning


def test_external_vault_needs_no_bootstrap():
    raw = stack_config("staging")
    raw["cdstack:vault"] = {"mode": "external", "address": "https://vault.corp.contoso.com/"}
    plan = run_access("staging", raw)
    assert plan.get(PROVIDER, "vault").inputs["address"] == "https://vault.corp.contoso.com"
    assert plan.get(MOUNT, "kv").inputs["path"] == "concourse"


def test_infra_job_logs_in_with_approle_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VAULT_ROLE_ID", "infra-role")
    monkeypatch.setenv("VAULT_SECRET_ID", "infra-secret")
    plan = run_access("staging", initialized_stack_config("staging"))
    # The provider's inputs go into the state: the login (ids inside) stays a secret there.
    assert plan.get(PROVIDER, "vault").inputs["authLogin"] == offline.SECRET
    login = provider_auth_login({"VAULT_ROLE_ID": "infra-role", "VAULT_SECRET_ID": "infra-secret"})
    assert login is not None
    assert login.path == "auth/approle/login"
    parameters = cast(dict[str, Any], login.parameters)
    assert set(parameters) == {"role_id", "secret_id"}
    assert all(isinstance(value, pulumi.Output) for value in parameters.values())


def test_half_an_approle_login_is_a_clear_error():
    assert provider_auth_login({}) is None
    with pytest.raises(pulumi.RunError, match="needs both VAULT_ROLE_ID and VAULT_SECRET_ID; VAULT_SECRET_ID is not"):
        provider_auth_login({"VAULT_ROLE_ID": "x"})


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
    assert config.go_duration_seconds("1h30m") == 5400
    assert config.go_duration_seconds("90s") == 90
