"""Secrets: Vault HA on integrated Raft storage (or on Consul, the option), auto-unsealed by Azure Key Vault through
workload identity."""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pytest

from components import catalog, naming
from components.config.schema import StackConfig
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


CONSUL = {"storage": "consul"}


def test_vault_config_stores_in_consul_and_unseals_with_the_key_vault_key():
    hcl = secrets.vault_server_config(stack_cfg("staging", vault=CONSUL), UNSEAL)
    assert 'storage "consul"' in hcl
    assert 'address = "HOST_IP:8500"' in hcl
    assert 'storage "raft"' not in hcl
    assert 'seal "azurekeyvault"' in hcl
    assert 'tenant_id  = "00000000-0000-4000-8000-000000000001"' in hcl
    assert 'vault_name = "kv-contoso-staging"' in hcl
    assert 'key_name   = "vault-unseal"' in hcl
    assert "client_secret" not in hcl  # workload identity, no credential in the config


@pytest.mark.parametrize("replicas", [1, 3, 5])
def test_raft_joins_every_peer_over_tls_verified_for_its_own_name(replicas: int):
    hcl = secrets.vault_server_config(stack_cfg("staging", vault={"serverReplicas": replicas}), UNSEAL)
    assert 'storage "consul"' not in hcl
    assert f'path = "{secrets.RAFT_DATA_PATH}"' in hcl
    joins = re.findall(r"retry_join \{(.*?)\}", hcl, re.S)
    assert len(joins) == replicas
    for index, join in enumerate(joins):
        host = f"vault-{index}.vault-internal.vault.svc.cluster.local"
        assert f'leader_api_addr       = "https://{host}:8200"' in join
        assert f'leader_ca_cert_file   = "{secrets.CA_FILE}"' in join
        assert f'leader_tls_servername = "{host}"' in join


def covered(name: str, sans: list[str]) -> bool:
    """Whether a certificate with these DNS SANs is valid for `name` (a wildcard covers one leftmost label)."""
    return any(san == name or (san.startswith("*.") and name.split(".", 1)[1] == san[2:]) for san in sans)


def test_the_listener_certificate_covers_every_name_a_peer_joins_by():
    sans = secrets.vault_certificate_spec()["dnsNames"]
    assert all(covered(secrets.raft_peer_host(i), sans) for i in range(7))
    assert not covered("vault-0.elsewhere.vault.svc.cluster.local", sans)


def test_config_survives_helm_tpl():
    assert secrets.tpl_literal("a {{ .x }} b") == 'a {{ "{{" }} .x {{ "}}" }} b'
    values = secrets.vault_values(stack_cfg("staging"), secrets.UnsealKey("t", "kv{{x}}", "k", "c"))
    braced = at(values, "server.ha.raft.config")
    assert "{{x}}" not in braced
    assert '{{ "{{" }}x{{ "}}" }}' in braced


def test_vault_is_ha_with_workload_identity_ui_and_tls_ingress():
    cfg = stack_cfg("staging", vault={"serverReplicas": 5})
    values = secrets.vault_values(cfg, UNSEAL)
    assert at(values, "server.ha.enabled") is True
    assert at(values, "server.ha.replicas") == 5
    assert at(values, "server.ha.raft.config") == secrets.tpl_literal(secrets.vault_server_config(cfg, UNSEAL))
    assert "config" not in at(values, "server.ha")  # the chart reads server.ha.raft.config when Raft is on
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


@pytest.mark.parametrize(("stack", "storage_class"), [("staging", "managed-csi"), ("prod", "managed-csi-premium")])
def test_raft_servers_have_a_volume_each_premium_in_production(stack: str, storage_class: str):
    values = secrets.vault_values(stack_cfg(stack, vault={"raftStorageGi": 30}), UNSEAL)
    assert at(values, "server.dataStorage") == {"enabled": True, "size": "30Gi", "storageClass": storage_class}
    assert at(values, "server.ha.raft.enabled") is True
    assert at(values, "server.ha.raft.setNodeId") is True


def test_consul_storage_keeps_todays_values():
    values = secrets.vault_values(stack_cfg("staging", vault=CONSUL), UNSEAL)
    assert "raft" not in at(values, "server.ha") and "dataStorage" not in values["server"]
    assert at(values, "server.ha.config") == secrets.tpl_literal(
        secrets.vault_server_config(stack_cfg("staging", vault=CONSUL), UNSEAL)
    )
    assert at(values, "server.ha.disruptionBudget") == {"enabled": True, "maxUnavailable": 1}


@pytest.mark.parametrize(
    ("replicas", "budget"),
    [(1, {"enabled": False}), (3, {"enabled": True, "maxUnavailable": 1}), (5, {"enabled": True, "maxUnavailable": 2})],
)
def test_the_disruption_budget_keeps_a_raft_majority(replicas: int, budget: dict[str, Any]):
    values = secrets.vault_values(stack_cfg("staging", vault={"serverReplicas": replicas}), UNSEAL)
    assert at(values, "server.ha.disruptionBudget") == budget


def test_raft_servers_spread_over_zones_and_nodes():
    values = secrets.vault_values(stack_cfg("prod"), UNSEAL)
    (spread,) = at(values, "server.topologySpreadConstraints")
    assert (spread["topologyKey"], spread["maxSkew"], spread["whenUnsatisfiable"]) == (
        "topology.kubernetes.io/zone",
        1,
        "DoNotSchedule",
    )
    assert spread["labelSelector"]["matchLabels"]["component"] == "server"
    assert "affinity" not in values["server"]  # the chart's default: required anti-affinity per node


def test_upgrades_roll_the_pinned_image_through_the_pods():
    values = secrets.vault_values(stack_cfg("prod"), UNSEAL)
    assert at(values, "server.updateStrategyType") == "RollingUpdate"  # the chart's default OnDelete never rolls
    assert at(values, "server.image.tag") == catalog.IMAGES["vault"]


def test_vault_pods_meet_restricted():
    context = at(secrets.vault_values(stack_cfg("prod"), UNSEAL), "server.statefulSet.securityContext")
    assert context["pod"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert context["pod"]["runAsNonRoot"] is True
    assert context["pod"]["runAsUser"] >= 10000
    assert context["container"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }


def test_vault_writes_its_rendered_config_to_a_scratch_tmp_under_its_read_only_root():
    """The chart's server command copies the config to /tmp/storageconfig.hcl before starting Vault."""
    server = at(secrets.vault_values(stack_cfg("prod"), UNSEAL), "server")
    [volume] = server["volumes"]
    [mount] = server["volumeMounts"]
    assert "emptyDir" in volume and mount == {"name": volume["name"], "mountPath": "/tmp"}


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
def test_consul_releases_under_the_mock_engine(stack: str, protected: bool):
    consul = {"cdstack:vault": {**stack_config(stack)["cdstack:vault"], "storage": "consul"}}
    plan = plan_services(stack, build_secrets, consul)
    consul = assert_release(plan, "consul", "consul", naming.NAMESPACES["secrets"])
    vault = assert_release(plan, "vault", "vault", naming.NAMESPACES["secrets"])
    assert consul.protect is protected  # Vault's whole store
    assert vault.protect is False
    assert consul.urn in vault.dependencies
    assert 'vault_name = "kv-contoso-test"' in at(vault.inputs["values"], "server.ha.config")
    ns = plan.get("kubernetes:core/v1:Namespace", "vault-namespace")
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


@pytest.mark.parametrize(("stack", "protected"), [("staging", False), ("prod", True)])
def test_raft_releases_under_the_mock_engine(stack: str, protected: bool):
    plan = plan_services(stack, build_secrets)
    vault = assert_release(plan, "vault", "vault", naming.NAMESPACES["secrets"])
    assert not [r for r in plan.by_type(HELM_RELEASE) if r.name == "consul"]
    assert vault.protect is protected  # its servers' volumes are the store
    assert at(vault.inputs["values"], "server.serviceAccount.annotations") == {
        "azure.workload.identity/client-id": "11111111-0000-4000-8000-000000000005"
    }
    assert 'vault_name = "kv-contoso-test"' in at(vault.inputs["values"], "server.ha.raft.config")
    ns = plan.get("kubernetes:core/v1:Namespace", "vault-namespace")
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_wired_into_the_stack_vault_is_initialised_behind_the_ingress_before_anyone_uses_it(shared_plan: Planner):
    plan = shared_plan("prod")
    vault = plan.get(HELM_RELEASE, "vault")
    assert plan.get("azure-native:keyvault:Key", "unseal-key").urn in vault.dependencies
    assert vault.protect is True
    assert not [r for r in plan.by_type(HELM_RELEASE) if r.name == "consul"]
    init = plan.get("pulumi-python:dynamic/vault:Init", "vault-init")
    assert {vault.urn, plan.get(HELM_RELEASE, "traefik").urn} <= set(init.dependencies)
    # and the infra stack's outputs, which the deployer login's trust reads (a StackReference: read, not registered)
    infra = "urn:pulumi:prod::cdstack::pulumi:pulumi:Stack$pulumi:pulumi:StackReference::organization/cdstack/infra"
    assert plan.get("pulumi:providers:vault", "vault").dependencies == [init.urn, infra]


def test_an_external_vault_gets_no_consul_and_no_vault_release(shared_plan: Planner):
    config = stack_config("staging")
    config["cdstack:vault"] = {"mode": "external", "address": "https://vault.example.com"}
    del config["cdstack:infraStack"]  # the infra pipeline's trust is a mount in the in-cluster Vault
    plan = shared_plan("demo", config)
    releases = {r.name for r in plan.by_type(HELM_RELEASE)}
    assert {"traefik", "cert-manager"} <= releases
    assert not {"consul", "vault"} & releases
    assert not plan.by_type("cdstack:services:Secrets")
