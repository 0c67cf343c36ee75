"""Secrets: Consul as Vault's store, Vault HA on it, auto-unsealed by Azure Key Vault through workload identity."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components import naming
from components.config import StackConfig
from components.services import secrets
from tests.conftest import Planner, stack_config
from tests.services import HELM_RELEASE, assert_release, at, plan_services, stack_cfg, unseal

UNSEAL = secrets.UnsealKey(
    tenant_id="00000000-0000-4000-8000-000000000001",
    key_vault_name="kv-contoso-staging",
    key_name="vault-unseal",
    identity_client_id="11111111-0000-4000-8000-000000000005",
)


def test_consul_is_a_plain_store_for_vault():
    values = secrets.consul_values(stack_cfg("staging", vault={"consulReplicas": 5, "consulStorageGi": 40}))
    assert at(values, "global.name") == "consul"
    assert at(values, "server.replicas") == 5
    assert at(values, "server.storage") == "40Gi"
    assert at(values, "server.connect") is False
    assert at(values, "client.enabled") is True  # Vault talks to the agent on its node
    assert at(values, "connectInject.enabled") is False
    assert at(values, "ui.enabled") is False


def test_vault_config_stores_in_consul_and_unseals_with_the_key_vault_key():
    hcl = secrets.vault_ha_config(UNSEAL)
    assert 'storage "consul"' in hcl
    assert 'address = "HOST_IP:8500"' in hcl
    assert 'seal "azurekeyvault"' in hcl
    assert 'tenant_id  = "00000000-0000-4000-8000-000000000001"' in hcl
    assert 'vault_name = "kv-contoso-staging"' in hcl
    assert 'key_name   = "vault-unseal"' in hcl
    assert "client_secret" not in hcl  # workload identity, no credential in the config


def test_config_survives_helm_tpl():
    assert secrets.tpl_literal("a {{ .x }} b") == 'a {{ "{{" }} .x {{ "}}" }} b'
    braced = secrets.vault_ha_config(secrets.UnsealKey("t", "kv{{x}}", "k", "c"))
    assert "{{x}}" not in braced
    assert '{{ "{{" }}x{{ "}}" }}' in braced


def test_vault_is_ha_with_workload_identity_ui_and_tls_ingress():
    cfg = stack_cfg("staging", vault={"serverReplicas": 5})
    values = secrets.vault_values(cfg, UNSEAL)
    assert at(values, "server.ha.enabled") is True
    assert at(values, "server.ha.replicas") == 5
    assert at(values, "server.ha.config") == secrets.vault_ha_config(UNSEAL)
    assert at(values, "server.serviceAccount.name") == naming.VAULT_SERVICE_ACCOUNT
    assert at(values, "server.serviceAccount.annotations") == {
        "azure.workload.identity/client-id": "11111111-0000-4000-8000-000000000005"
    }
    assert at(values, "server.extraLabels") == {"azure.workload.identity/use": "true"}
    assert at(values, "ui.enabled") is True
    host = cfg.dns.host("vault")
    assert at(values, "server.ingress.enabled") is True
    assert at(values, "server.ingress.ingressClassName") == naming.INGRESS_CLASS
    assert at(values, "server.ingress.annotations") == {"cert-manager.io/cluster-issuer": naming.CLUSTER_ISSUER}
    assert at(values, "server.ingress.hosts") == [{"host": host, "paths": []}]
    assert at(values, "server.ingress.tls") == [{"secretName": "vault-tls", "hosts": [host]}]


def test_vault_is_ready_when_unsealed_or_not_yet_initialized_never_when_sealed():
    path = at(secrets.vault_values(stack_cfg("staging"), UNSEAL), "server.readinessProbe.path")
    assert "uninitcode=204" in path
    assert "standbyok=true" in path
    assert "sealedcode" not in path


def test_concourse_reaches_vault_in_cluster_or_at_the_external_address():
    assert secrets.vault_address(stack_cfg("staging")) == "https://vault.vault.svc.cluster.local:8200"
    external = stack_cfg("staging", vault={"mode": "external", "address": "https://vault.example.com/"})
    assert secrets.vault_address(external) == "https://vault.example.com"


def stub(name: str) -> pulumi.ComponentResource:
    """Stands in for another component's resource that Secrets only waits for."""
    return pulumi.ComponentResource("test:index:Stub", name)


def build_secrets(cfg: StackConfig, k8s: Any) -> secrets.Secrets:
    return secrets.Secrets("secrets", cfg, k8s, unseal(), stub("ca-issuer"), stub("traefik"))


@pytest.mark.parametrize(("stack", "protected"), [("staging", False), ("prod", True)])
def test_releases_under_the_mock_engine(stack: str, protected: bool):
    plan = plan_services(stack, build_secrets)
    consul = assert_release(plan, "consul", "consul", naming.NAMESPACES["secrets"])
    vault = assert_release(plan, "vault", "vault", naming.NAMESPACES["secrets"])
    assert consul.protect is protected  # Vault's whole store
    assert consul.urn in vault.dependencies
    assert at(vault.inputs["values"], "server.serviceAccount.annotations") == {
        "azure.workload.identity/client-id": "11111111-0000-4000-8000-000000000005"
    }
    assert 'vault_name = "kv-contoso-test"' in at(vault.inputs["values"], "server.ha.config")


def test_wired_into_the_stack_vault_is_initialised_behind_the_ingress_before_anyone_uses_it(plan_of: Planner):
    plan = plan_of("prod")
    vault = plan.get(HELM_RELEASE, "vault")
    assert plan.get("azure-native:keyvault:Key", "unseal-key").urn in vault.dependencies
    assert plan.get(HELM_RELEASE, "consul").protect is True
    init = plan.get("pulumi-python:dynamic/vault:Init", "vault-init")
    assert {vault.urn, plan.get(HELM_RELEASE, "traefik").urn} <= set(init.dependencies)
    assert plan.get("pulumi:providers:vault", "vault").dependencies == [init.urn]


def test_an_external_vault_gets_no_consul_and_no_vault_release(plan_of: Planner):
    config = stack_config("staging")
    config["cdstack:vault"] = {"mode": "external", "address": "https://vault.example.com"}
    plan = plan_of("demo", config)
    releases = {r.name for r in plan.by_type(HELM_RELEASE)}
    assert {"traefik", "cert-manager"} <= releases
    assert not {"consul", "vault"} & releases
    assert not plan.by_type("cdstack:services:Secrets")
