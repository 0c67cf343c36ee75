"""Secrets: Vault in HA on Consul, auto-unsealed by the Azure Key Vault key through workload identity.

Only for `vault.mode: in-cluster`. Consul is Vault's store: its release is protected in production. Vault's pods
are Ready only when unsealed (a broken auto-unseal makes the release fail visibly) or not yet initialized (a first
install completes; the graph then initialises Vault through its ingress: components/vault_init.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import naming
from components.config import StackConfig
from components.endpoints import VaultUnseal
from components.services.ingress import ingress_tls, tls_annotations
from components.services.release import namespace, release

CONSUL_RELEASE = "consul"
VAULT_RELEASE = "vault"
VAULT_PORT = 8200

# Ready = active or standby, and also "not initialized yet"; sealed stays not-ready.
VAULT_READINESS_PATH = "/v1/sys/health?standbyok=true&uninitcode=204"


@dataclass(frozen=True)
class UnsealKey:
    """The resolved VaultUnseal outputs the values need (plain strings: the builder is a pure function)."""

    tenant_id: str
    key_vault_name: str
    key_name: str
    identity_client_id: str


def vault_address(cfg: StackConfig) -> str:
    """Where Concourse reaches Vault: the in-cluster service, or the external Vault from config."""
    if cfg.vault.mode == "external":
        assert cfg.vault.address is not None  # check_rules requires it in external mode
        return cfg.vault.address.rstrip("/")
    return f"http://{VAULT_RELEASE}.{naming.NAMESPACES['secrets']}.svc.cluster.local:{VAULT_PORT}"


def tpl_literal(text: str) -> str:
    """`text` as a literal through Helm's `tpl` (the Vault chart renders server.ha.config with it)."""
    return re.sub(r"\{\{|\}\}", lambda m: '{{ "' + m.group(0) + '" }}', text)


def consul_values(cfg: StackConfig) -> dict[str, Any]:
    return {
        # No Gateway API CRDs: consul 2.0.3's CRD templates (crd-*-external.yaml) all start with
        # `if and .Values.connectInject.enabled ...`, so with connectInject off neither installK8sNetworkingCRDs nor
        # apiGateway.manageExternalCRDs changes anything (the render audit's dead-settings check found both).
        "global": {"name": "consul"},
        "server": {
            "replicas": cfg.vault.consul_replicas,
            "storage": f"{cfg.vault.consul_storage_gi}Gi",
            "connect": False,
        },
        # Vault's default HA config talks to the agent on its node (HOST_IP:8500); Vault has no Dataplane support.
        "client": {"enabled": True},
        "connectInject": {"enabled": False},
        "ui": {"enabled": False},
    }


def vault_ha_config(unseal: UnsealKey) -> str:
    """The server's HCL: Consul storage through the node's agent, Kubernetes service registration, Key Vault seal."""
    return tpl_literal(
        f"""ui = true

listener "tcp" {{
  tls_disable     = 1
  address         = "[::]:{VAULT_PORT}"
  cluster_address = "[::]:8201"
}}

storage "consul" {{
  path    = "{naming.VAULT_CONSUL_PATH}"
  address = "HOST_IP:8500"
}}

service_registration "kubernetes" {{}}

seal "azurekeyvault" {{
  tenant_id  = "{unseal.tenant_id}"
  vault_name = "{unseal.key_vault_name}"
  key_name   = "{unseal.key_name}"
}}
"""
    )


def vault_values(cfg: StackConfig, unseal: UnsealKey) -> dict[str, Any]:
    host = cfg.dns.host("vault")
    return {
        # Concourse reads Vault directly; the agent injector's mutating webhook would serve nothing.
        "injector": {"enabled": False},
        "server": {
            "ha": {
                "enabled": True,
                "replicas": cfg.vault.server_replicas,
                "config": vault_ha_config(unseal),
                # The chart's default, floor((n-1)/2), is a Raft quorum rule: it is 0 for one or two servers and
                # blocks every node drain. On Consul storage a standby just takes over: one may always go.
                "disruptionBudget": {"enabled": True, "maxUnavailable": 1},
            },
            # Workload identity: the webhook injects a federated token into pods with this label, for the identity
            # the service account names; the platform federates exactly this namespace/service account.
            "serviceAccount": {
                "create": True,
                "name": naming.VAULT_SERVICE_ACCOUNT,
                "annotations": {"azure.workload.identity/client-id": unseal.identity_client_id},
            },
            "extraLabels": {"azure.workload.identity/use": "true"},
            "readinessProbe": {"enabled": True, "path": VAULT_READINESS_PATH},
            # Only Ready pods (unsealed, or not yet initialised) behind the service: a sealed pod answers nothing.
            "service": {"publishNotReadyAddresses": False},
            "ingress": {
                "enabled": True,
                "ingressClassName": naming.INGRESS_CLASS,
                "annotations": tls_annotations(),
                # The `vault` service, not `vault-active`: an uninitialised Vault has no active pod, and the first
                # `pulumi up` initialises it through this ingress. Standbys forward requests to the active node.
                "activeService": False,
                "hosts": [{"host": host, "paths": []}],
                "tls": ingress_tls(host, "vault-tls"),
            },
        },
        "ui": {"enabled": True},
    }


class Secrets(pulumi.ComponentResource):
    """Consul and Vault in the secrets namespace."""

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: k8s.Provider,
        unseal: VaultUnseal,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:services:Secrets", name, None, opts)

        ns = namespace(naming.NAMESPACES["secrets"], provider, self)
        self.consul = release(
            CONSUL_RELEASE, "consul", cfg, ns, consul_values(cfg), provider, self, protect=cfg.production
        )
        values = pulumi.Output.all(
            unseal.tenant_id, unseal.key_vault_name, unseal.key_name, unseal.identity_client_id
        ).apply(lambda args: vault_values(cfg, UnsealKey(*args)))
        self.vault = release(
            VAULT_RELEASE,
            "vault",
            cfg,
            ns,
            values,
            provider,
            self,
            # Vault's storage is the Consul agents this release runs (HOST_IP:8500). Without them Vault does not
            # wait: its start reads the seal config from storage and exits on the error (hashicorp/vault
            # vault/core.go, NewCore -> adjustForSealMigration -> PhysicalSealConfigs), and the kubelet restarts it
            # with a back-off doubling from 10 s to 5 min, so starting beside Consul would not make Vault Ready any
            # sooner than after it, and would only add crash loops to every first `up`.
            depends_on=[self.consul],
        )

        self.address = vault_address(cfg)
        self.register_outputs({"address": self.address})
