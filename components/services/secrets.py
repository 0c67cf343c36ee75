"""Secrets: Vault in HA, auto-unsealed by the Azure Key Vault key through workload identity.

Only for `vault.mode: in-cluster`. Vault's store is `vault.storage`:
- raft (the default): integrated storage, a data volume per server (the chart's `server.ha.raft`); each server joins
  its peers over TLS (`retry_join`, verified against the internal CA), servers spread over nodes and zones, and a
  disruption budget keeps a quorum through node drains. Autopilot's dead-server cleanup is set through Vault's API
  (components/vault/raft.py), snapshots go to Blob (services/backups.py).
- consul: the original stack's store, a Consul release beside Vault (protected in production).
Vault's pods are Ready only when unsealed (a broken auto-unseal makes the release fail visibly) or not yet initialized
(a first install completes; the graph then initialises Vault through its ingress: components/vault/init.py).

Vault's listener speaks TLS only, with a certificate from the stack's internal CA (components/services/
internal_ca.py). Its clients and how each verifies it:
- Concourse web: the CA from a Certificate in its own namespace (components/services/concourse.py);
- Traefik, for the public Vault host (the deployer's `pulumi up`, VaultInit, the smoke test, people): TLS to Vault
  again, verified by a ServersTransport that trusts the CA and checks the service name; the public side keeps its
  Let's Encrypt certificate, which those clients verify against their system roots;
- Vault's own pods (the CLI in `kubectl exec`, the chart's VAULT_ADDR https://127.0.0.1:8200): VAULT_CACERT.
On Raft the backup job logs in to Vault with an identity that may only read a snapshot; on Consul it reads Consul.
Either way the data is sealed by Vault's barrier.

Upgrades: the StatefulSet rolls (`updateStrategyType: RollingUpdate`, the chart's default is OnDelete, under which a
changed image or config reports success and changes no pod): Kubernetes replaces one pod at a time from the highest
ordinal down, each only once the one before is Ready (unsealed), so a Raft quorum stays; Helm waits for the rollout,
so the `up` fails (and the atomic release rolls back) if a new pod does not come up. The order ignores which pod is
active: when the active one is replaced, Vault steps down on SIGTERM and a standby takes over (a few seconds of
retried requests). docs/vault.md ("Upgrades roll") weighs this against a restart ordered standbys first.

Renewal: cert-manager renews the certificate 30 days before it expires and the kubelet updates the mounted Secret;
Vault reads its certificate at start and again on SIGHUP only (Vault docs, tcp listener `tls_cert_file`: "On SIGHUP,
the path set here at Vault startup will be used for reloading the certificate"), so a sidecar in the pod's shared
process namespace sends SIGHUP when the certificate file changes. No restart, no dropped request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import catalog, hardening, naming, sizing
from components.config.schema import StackConfig
from components.endpoints import VaultUnseal
from components.services import internal_ca
from components.services.ingress import ingress_tls, tls_annotations
from components.services.release import namespace, release

CONSUL_RELEASE = "consul"
VAULT_RELEASE = "vault"
VAULT_PORT = 8200

# Ready = active or standby, and also "not initialized yet"; sealed stays not-ready.
VAULT_READINESS_PATH = "/v1/sys/health?standbyok=true&uninitcode=204"

# vault 0.34.1 templates/_helpers.tpl (vault.mounts): an `extraVolumes` entry of type secret is mounted read-only
# at /vault/userconfig/<name> as volume `userconfig-<name>`.
TLS_VOLUME = f"userconfig-{naming.VAULT_TLS_SECRET}"
TLS_DIR = f"/vault/userconfig/{naming.VAULT_TLS_SECRET}"
TLS_CERT_FILE = f"{TLS_DIR}/tls.crt"
TLS_KEY_FILE = f"{TLS_DIR}/tls.key"
CA_FILE = f"{TLS_DIR}/ca.crt"

CERT_CHECK_SECONDS = 60
"""How often the reload sidecar compares the mounted certificate (the kubelet refreshes a Secret volume within
about a minute or two; the renewed certificate is needed only 30 days later)."""

# Traefik reads these from the Service behind an Ingress: speak HTTPS to the pods, through this ServersTransport
# (doc.traefik.io, Kubernetes Ingress "On Service" annotations; `<namespace>-<name>@kubernetescrd` while the chart's
# providers.kubernetesCRD.safeNaming stays false, its default in traefik 41.3.0).
TRAEFIK_SERVERS_SCHEME = "traefik.ingress.kubernetes.io/service.serversscheme"
TRAEFIK_SERVERS_TRANSPORT = "traefik.ingress.kubernetes.io/service.serverstransport"


@dataclass(frozen=True)
class UnsealKey:
    """The resolved VaultUnseal outputs the values need (plain strings: the builder is a pure function)."""

    tenant_id: str
    key_vault_name: str
    key_name: str
    identity_client_id: str


def vault_service_host() -> str:
    """The in-cluster name clients use for Vault (its `vault` Service: active and standbys, standbys forward)."""
    return f"{VAULT_RELEASE}.{naming.NAMESPACES['secrets']}.svc.cluster.local"


def vault_address(cfg: StackConfig) -> str:
    """Where Concourse reaches Vault: the in-cluster service over TLS, or the external Vault from config."""
    if cfg.vault.mode == "external":
        assert cfg.vault.address is not None  # check_rules requires it in external mode
        return cfg.vault.address.rstrip("/")
    return f"https://{vault_service_host()}:{VAULT_PORT}"


def vault_dns_names() -> list[str]:
    """Every name a client may reach Vault's listener by: the chart's services (`vault`, `vault-active`,
    `vault-standby`, the headless `vault-internal`) in each form the cluster DNS resolves, each pod through the
    headless service (`<pod>.vault-internal`, the chart's VAULT_CLUSTER_ADDR host), and localhost (the pod's own CLI,
    `kubectl port-forward`)."""
    ns = naming.NAMESPACES["secrets"]
    names = []
    for service in (VAULT_RELEASE, f"{VAULT_RELEASE}-active", f"{VAULT_RELEASE}-standby", f"{VAULT_RELEASE}-internal"):
        names += [service, f"{service}.{ns}", f"{service}.{ns}.svc", f"{service}.{ns}.svc.cluster.local"]
    internal = f"{VAULT_RELEASE}-internal"
    names += [f"*.{internal}", f"*.{internal}.{ns}", f"*.{internal}.{ns}.svc", f"*.{internal}.{ns}.svc.cluster.local"]
    return [*names, "localhost"]


VAULT_IP_ADDRESSES = ["127.0.0.1"]
"""The chart sets VAULT_ADDR to https://127.0.0.1:8200 for the CLI inside the pod (server-statefulset.yaml)."""


def vault_certificate_spec() -> dict[str, Any]:
    """Vault's listener certificate from the internal CA."""
    return internal_ca.leaf_certificate_spec(
        naming.VAULT_TLS_SECRET,
        vault_service_host(),
        ["server auth"],
        dns_names=vault_dns_names(),
        ip_addresses=VAULT_IP_ADDRESSES,
    )


def servers_transport_spec() -> dict[str, Any]:
    """How Traefik reaches Vault's pods: TLS verified against the internal CA (ca.crt of Vault's own certificate
    Secret, same namespace), for the service's name (Traefik dials pod IPs, which no certificate names)."""
    return {"serverName": vault_service_host(), "rootCAs": [{"secret": naming.VAULT_TLS_SECRET}]}


CERT_RELOAD_SCRIPT = f"""cert={TLS_CERT_FILE}
seen="$(sha256sum "$cert")"
while sleep {CERT_CHECK_SECONDS}; do
  now="$(sha256sum "$cert")"
  if [ "$now" != "$seen" ] && pkill -HUP -x vault; then
    echo "$cert changed: sent SIGHUP to vault, which reloads its listener certificate"
    seen="$now"
  fi
done
"""


def cert_reload_container() -> dict[str, Any]:
    """The sidecar that makes Vault reload a renewed certificate. It runs as the pod's user (as Vault does), which
    may signal Vault's process in the shared process namespace; busybox has sha256sum and pkill."""
    return {
        "name": "cert-reload",
        "image": f"busybox:{catalog.IMAGES['busybox']}",
        "command": ["/bin/sh", "-c", CERT_RELOAD_SCRIPT],
        "volumeMounts": [{"name": TLS_VOLUME, "mountPath": TLS_DIR, "readOnly": True}],
        "resources": sizing.sized("5m", "16Mi"),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def server_security_context() -> dict[str, Any]:
    """Pod Security `restricted` for Vault's pods: the chart's own defaults (non-root, gid 1000, no privilege
    escalation; vault 0.34.1 _helpers.tpl server.statefulSet.securityContext.*) plus seccomp RuntimeDefault, no
    capabilities and a read-only root. Vault needs no capability: the chart sets SKIP_SETCAP (no IPC_LOCK for mlock)
    and appends `disable_mlock = true` to the config. The user is nobody rather than the image's vault (100): Vault is
    one static binary that runs as any user, and the group (1000, the chart's fsGroup) keeps the data volume's files,
    written by uid 100 until now, readable and writable (the kubelet gives fsGroup rw on them). What Vault's container
    writes outside its volumes is the chart's /tmp/storageconfig.hcl (_helpers.tpl vault.args) and the HOME the chart
    already mounts an emptyDir at; SCRATCH gives it /tmp."""
    return {
        "pod": {
            "runAsNonRoot": True,
            "runAsUser": hardening.NOBODY,
            "runAsGroup": 1000,
            "fsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "container": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        },
    }


SCRATCH = hardening.scratch("tmp")
"""The server container's /tmp (server.volumes / server.volumeMounts)."""


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


VAULT_METRICS_PORT = 8290
"""Vault's second listener, for Prometheus only (services/monitoring.py vault_pod_monitor): it answers
/v1/sys/metrics without a token, a per-listener setting (`telemetry { unauthenticated_metrics_access = true }`). Not
the main listener: the public ingress routes every path to it, so its metrics would be public. No Service or Ingress
names this port. Vault also opens a cluster port one above it (8291), as it does for every tcp listener without a
`cluster_address` (OpenBao, which shares the listener code, does so with this stanza); nothing connects there."""


LISTENER_TLS_HCL = (
    f'tls_cert_file   = "{TLS_CERT_FILE}"\n  tls_key_file    = "{TLS_KEY_FILE}"\n  tls_min_version = "tls12"'
)


def metrics_hcl(address: str = f"[::]:{VAULT_METRICS_PORT}", tls: str = LISTENER_TLS_HCL) -> str:
    """The metrics listener and the Prometheus telemetry it serves: without a `telemetry` stanza Vault keeps no
    Prometheus metrics at all (its retention is 24 h only when the stanza exists, hashicorp/vault
    internalshared/configutil/telemetry.go), and the hostname prefix would rename every metric per pod.
    `address` and `tls` are the tests' to change (a loopback port, no certificate)."""
    return f"""listener "tcp" {{
  address         = "{address}"
  {tls}
  telemetry {{
    unauthenticated_metrics_access = true
  }}
}}

telemetry {{
  disable_hostname          = true
  prometheus_retention_time = "24h"
}}
"""


RAFT_DATA_PATH = "/vault/data"
"""Where the chart mounts the data volume (vault 0.34.1 values.yaml `server.dataStorage.mountPath`)."""

STORAGE_CLASSES = {True: "managed-csi-premium", False: "managed-csi"}
"""The data volumes' class by `production`: AKS's Premium SSD and Standard SSD CSI classes (Raft fsyncs every
write; production gets Premium SSD's latency)."""


def raft_peer_host(index: int) -> str:
    """The name of Vault server `index` (pod `vault-<index>` behind the headless service), which Vault's certificate
    covers (`*.vault-internal.<namespace>.svc.cluster.local`)."""
    return f"{VAULT_RELEASE}-{index}.{VAULT_RELEASE}-internal.{naming.NAMESPACES['secrets']}.svc.cluster.local"


def raft_storage_stanza(replicas: int) -> str:
    """Integrated storage: data on the server's volume, and a `retry_join` to every server (its own entry too, which
    fails like any non-leader and is passed over), over TLS verified against the internal CA for the peer's own name.
    A server whose volume holds no cluster yet keeps trying them until one answers as the leader (Vault docs,
    storage/raft: retry_join)."""
    joins = "".join(
        f"""
  retry_join {{
    leader_api_addr       = "https://{raft_peer_host(i)}:{VAULT_PORT}"
    leader_ca_cert_file   = "{CA_FILE}"
    leader_tls_servername = "{raft_peer_host(i)}"
  }}
"""
        for i in range(replicas)
    )
    return f'storage "raft" {{\n  path = "{RAFT_DATA_PATH}"\n{joins}}}\n'


def consul_storage_stanza() -> str:
    """Consul storage through the agent on the pod's node."""
    return f"""storage "consul" {{
  path    = "{naming.VAULT_CONSUL_PATH}"
  address = "HOST_IP:8500"
}}
"""


def vault_server_config(cfg: StackConfig, unseal: UnsealKey) -> str:
    """The server's HCL (before Helm's `tpl`): TLS listener, the configured storage, Kubernetes service
    registration, Key Vault seal."""
    storage = raft_storage_stanza(cfg.vault.server_replicas) if cfg.vault.storage == "raft" else consul_storage_stanza()
    return f"""ui = true

listener "tcp" {{
  address         = "[::]:{VAULT_PORT}"
  cluster_address = "[::]:8201"
  tls_cert_file   = "{TLS_CERT_FILE}"
  tls_key_file    = "{TLS_KEY_FILE}"
  tls_min_version = "tls12"
}}

{metrics_hcl()}
{storage}
service_registration "kubernetes" {{}}

seal "azurekeyvault" {{
  tenant_id  = "{unseal.tenant_id}"
  vault_name = "{unseal.key_vault_name}"
  key_name   = "{unseal.key_name}"
}}
"""


def raft_scheduling() -> dict[str, Any]:
    """Servers spread over zones: a zone's loss leaves a majority (the chart's default anti-affinity already puts
    one server per node). DoNotSchedule: a server whose zone is full waits rather than stacking a majority in one
    zone; its disk is zonal, so once placed it stays in its zone."""
    return {
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {
                    "matchLabels": {
                        "app.kubernetes.io/name": VAULT_RELEASE,
                        "app.kubernetes.io/instance": VAULT_RELEASE,
                        "component": "server",
                    }
                },
            }
        ]
    }


def disruption_budget(cfg: StackConfig) -> dict[str, Any]:
    """How many servers a node drain may take at once.

    Raft: floor((n-1)/2), so a majority always stays (1 of 3, 2 of 5). A single server has no quorum to keep: a
    budget of 0 would only block every node drain (AKS upgrades included), so it has none. Consul: Vault's servers
    hold no data, a standby takes over: one may always go."""
    replicas = cfg.vault.server_replicas
    if cfg.vault.storage == "consul":
        return {"enabled": True, "maxUnavailable": 1}
    if replicas == 1:
        return {"enabled": False}
    return {"enabled": True, "maxUnavailable": (replicas - 1) // 2}


def storage_values(cfg: StackConfig, unseal: UnsealKey) -> tuple[dict[str, Any], dict[str, Any]]:
    """(server values, server.ha values) for the configured store."""
    config = tpl_literal(vault_server_config(cfg, unseal))
    if cfg.vault.storage == "consul":
        return {}, {"config": config}
    server = {
        "dataStorage": {
            "enabled": True,
            "size": f"{cfg.vault.raft_storage_gi}Gi",
            "storageClass": STORAGE_CLASSES[cfg.production],
        },
        **raft_scheduling(),
    }
    # setNodeId: each server's Raft id is its pod name (VAULT_RAFT_NODE_ID), so `vault operator raft list-peers`
    # and autopilot's state name pods.
    return server, {"raft": {"enabled": True, "setNodeId": True, "config": config}}


def vault_values(cfg: StackConfig, unseal: UnsealKey) -> dict[str, Any]:
    host = cfg.dns.host("vault")
    ns = naming.NAMESPACES["secrets"]
    storage_server, storage_ha = storage_values(cfg, unseal)
    return {
        # HTTPS for the chart's own uses of the listener: VAULT_ADDR, VAULT_API_ADDR, probe schemes, port names.
        "global": {"tlsDisable": False},
        # Concourse reads Vault directly; the agent injector's mutating webhook would serve nothing.
        "injector": {"enabled": False},
        "server": {
            **storage_server,
            "image": {"tag": catalog.IMAGES["vault"]},
            # Changed image, config or sidecar reach the pods in the `up` itself (module docstring: Upgrades).
            "updateStrategyType": "RollingUpdate",
            "extraVolumes": [{"type": "secret", "name": naming.VAULT_TLS_SECRET}],
            # The CLI in the pod (kubectl exec ... vault status) verifies the listener against the internal CA.
            "extraEnvironmentVars": {"VAULT_CACERT": CA_FILE},
            # The reload sidecar signals Vault's process: it must see it.
            "shareProcessNamespace": True,
            "statefulSet": {"securityContext": server_security_context()},
            "volumes": [SCRATCH[0]],
            "volumeMounts": [SCRATCH[1]],
            "extraContainers": [cert_reload_container()],
            "extraPorts": [{"name": "metrics", "containerPort": VAULT_METRICS_PORT}],
            "ha": {
                "enabled": True,
                "replicas": cfg.vault.server_replicas,
                # The address a standby redirects clients to when it cannot forward: the pod's name, which Vault's
                # certificate covers (the chart's default, https://<pod IP>:8200, is in no certificate). The chart
                # defines VAULT_K8S_POD_NAME before VAULT_API_ADDR, so Kubernetes expands it.
                "apiAddr": f"https://$(VAULT_K8S_POD_NAME).{VAULT_RELEASE}-internal.{ns}.svc.cluster.local:{VAULT_PORT}",
                **storage_ha,
                "disruptionBudget": disruption_budget(cfg),
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
            "service": {
                "publishNotReadyAddresses": False,
                "annotations": {
                    TRAEFIK_SERVERS_SCHEME: "https",
                    TRAEFIK_SERVERS_TRANSPORT: f"{ns}-{naming.VAULT_SERVERS_TRANSPORT}@kubernetescrd",
                },
            },
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
    """Vault (and, on Consul storage, Consul) in the secrets namespace, Vault's listener certificate, and the
    ServersTransport the ingress reaches Vault through. `vault_ready` is what a client of the public Vault host waits
    for."""

    vault_ready: list[pulumi.Resource]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: k8s.Provider,
        unseal: VaultUnseal,
        ca_issuer: pulumi.Resource,
        traefik: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`ca_issuer`: the internal CA's ClusterIssuer; `traefik`: the release that installs the ServersTransport
        CRD and serves the public Vault host."""
        super().__init__("cdstack:services:Secrets", name, None, opts)

        ns = namespace(naming.NAMESPACES["secrets"], provider, self, cfg.vault.storage)
        self.namespace = ns
        # The listener's certificate exists before Vault starts: a pod whose Secret volume is missing would wait in
        # ContainerCreating, eating into the release's wait; `pulumi up` waits for the Secret instead (Ready).
        self.certificate = internal_ca.certificate(
            naming.VAULT_TLS_SECRET, ns.metadata.name, vault_certificate_spec(), provider, self, depends_on=[ca_issuer]
        )
        self.servers_transport = k8s.apiextensions.CustomResource(
            "vault-servers-transport",
            api_version="traefik.io/v1alpha1",
            kind="ServersTransport",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=naming.VAULT_SERVERS_TRANSPORT, namespace=ns.metadata.name),
            spec=servers_transport_spec(),
            # Its kind is a CRD of the Traefik release.
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[traefik]),
        )
        # Consul only where it is Vault's store; its release is protected in production.
        self.consul = (
            release(CONSUL_RELEASE, "consul", cfg, ns, consul_values(cfg), provider, self, protect=cfg.production)
            if cfg.vault.storage == "consul"
            else None
        )
        values = pulumi.Output.all(
            unseal.tenant_id, unseal.key_vault_name, unseal.key_name, unseal.identity_client_id
        ).apply(lambda args: vault_values(cfg, UnsealKey(*args)))
        # On Consul storage Vault waits for the Consul agents this release runs (HOST_IP:8500): without them Vault
        # does not wait, its start reads the seal config from storage and exits on the error (hashicorp/vault
        # vault/core.go, NewCore -> adjustForSealMigration -> PhysicalSealConfigs), and the kubelet restarts it with
        # a back-off doubling from 10 s to 5 min, so starting beside Consul would not make Vault Ready any sooner and
        # would only add crash loops to every first `up`. On Raft the store is the servers' own volumes. Either way
        # the listener's certificate is a Secret the pods mount (see above).
        waits: list[pulumi.Resource] = [self.certificate, *([self.consul] if self.consul is not None else [])]
        self.vault = release(
            VAULT_RELEASE,
            "vault",
            cfg,
            ns,
            values,
            provider,
            self,
            # Raft: the release owns the data volumes' claims (the StatefulSet's volumeClaimTemplates, which Helm
            # leaves in place on uninstall); protecting it in production guards the servers that hold the data.
            protect=cfg.production and cfg.vault.storage == "raft",
            depends_on=waits,
        )
        # The public host answers once Vault, the ingress and the transport that trusts Vault's CA all exist.
        self.vault_ready = [self.vault, traefik, self.servers_transport]

        self.address = vault_address(cfg)
        self.register_outputs({"address": self.address})
