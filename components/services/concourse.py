"""Concourse: web and workers with the operator's tuning, external Azure PostgreSQL, Vault, Entra ID login.

Two releases of the same chart in one namespace. The web release (`worker.enabled: false`) is upgraded in place,
atomic: a broken web rolls back. The workers live in a worker-only release (`web.enabled: false`) whose name carries
a generation, a hash of everything that shapes the worker pod (worker_generation). A change to the worker pod is a
new release name, which Pulumi replaces create-before-delete: the new generation installs beside the old one, Helm
waits for it, and only once the whole `up` has succeeded is the old one deleted, whose workers then all retire at
once (SIGUSR2) within their grace period. An upgrade's `up` waits for one install, never for a drain
(concourse_limits.upgrade_wait_seconds); a broken new generation fails the `up` with the old one untouched.

The chart renders no Secret (`secrets.create: false`): this module generates the keys and passwords and writes the
Secrets the chart's templates read, `<web release>-web` and `<worker release>-worker` (one per generation), with every
key they reference. The TSA's host key and the workers' key are generated once and reach both sides from the same
resources. The values carry settings only; a secret never enters them (Helm would keep it in the release record).

The releases wait only for what they consume: the database endpoint, the login app, Vault access (the auth param),
the team users' passwords and InfluxDB's credentials arrive as outputs; the Secrets, the worker node pool and the
ServiceMonitor CRD are explicit dependencies, each with its reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import pulumi_tls as tls

from components import hardening, naming, sizing
from components.concourse import idtoken
from components.concourse.limits import release_timeout_seconds
from components.config.schema import StackConfig
from components.durations import go_duration_seconds
from components.endpoints import DatabaseEndpoint, InfluxTarget, OidcLogin
from components.services import internal_ca
from components.services.ingress import ingress_tls, tls_annotations
from components.services.release import namespace, release, secret
from components.services.secrets import vault_address

RELEASE = "concourse"
"""The web release; the chart names its objects `<release>-web`."""
WEB_SECRET = f"{RELEASE}-web"
WORKERS_RELEASE_PREFIX = f"{RELEASE}-workers"
"""Worker releases are `<prefix>-<generation>`; the chart names their objects `<release>-worker`."""
GENERATION_LENGTH = 8
"""Hex digits of the generation: 4 billion values, and a StatefulSet name (`concourse-workers-<8>-worker`, 33
characters) well inside the 52 a StatefulSet's pods and revision labels allow."""

TSA_PORT = 2222
"""The TSA's port, the chart's default `concourse.web.tsa.bindPort`, stated: the worker release dials it."""

ENCRYPTION_KEY_LENGTH = 32
"""Concourse accepts an AES key of exactly 16 or 32 characters; 32 selects AES-256."""

SECRET_VERSION_ANNOTATION = "cdstack.io/secret-version"

RSA_BITS = 4096

VAULT_CA_DIR = "/concourse-vault-ca"
VAULT_CA_FILE = f"{VAULT_CA_DIR}/ca.crt"


def vault_ca_certificate_spec() -> dict[str, Any]:
    """A certificate from the internal CA in Concourse's namespace: what matters is its Secret's ca.crt, the CA that
    signed Vault's listener, which cert-manager keeps there (components/services/internal_ca.py)."""
    return internal_ca.leaf_certificate_spec(naming.VAULT_CA_SECRET, f"{RELEASE}-web", ["client auth"])


WEB_SCRATCH = hardening.scratch("tmp")
"""Web's /tmp under its read-only root (web.securityContext)."""


def web_volume_values(cfg: StackConfig) -> dict[str, Any]:
    """Web's extra volumes: its /tmp, and the in-cluster Vault's CA where there is one (vault_ca_web_values)."""
    ca = vault_ca_web_values(cfg)
    return {
        **ca,
        "additionalVolumes": [WEB_SCRATCH[0], *ca.get("additionalVolumes", [])],
        "additionalVolumeMounts": [WEB_SCRATCH[1], *ca.get("additionalVolumeMounts", [])],
    }


def vault_ca_web_values(cfg: StackConfig) -> dict[str, Any]:
    """For the in-cluster Vault: the web pods mount the internal CA and Concourse verifies Vault's listener with it
    (CONCOURSE_VAULT_CA_CERT: a PEM file). Not the chart's `concourse.web.vault.useCaCert`, which reads the CA from
    the web Secret this program writes: the CA exists only in the cluster. An external Vault is verified against
    the system roots."""
    if cfg.vault.mode == "external":
        return {}
    return {
        "env": [{"name": "CONCOURSE_VAULT_CA_CERT", "value": VAULT_CA_FILE}],
        "additionalVolumes": [
            {
                "name": "vault-ca",
                "secret": {"secretName": naming.VAULT_CA_SECRET, "items": [{"key": "ca.crt", "path": "ca.crt"}]},
            }
        ],
        "additionalVolumeMounts": [{"name": "vault-ca", "mountPath": VAULT_CA_DIR, "readOnly": True}],
    }


# No `email` scope: Entra ID sends neither `email_verified` nor, for users without a mailbox, `email`, and Dex's OIDC
# connector refuses a login that asked for the email scope and lacks either claim (dexidp/dex connector/oidc).
# Concourse names users by OIDC_USER_NAME_CLAIM, so nothing needs the address.
OIDC_SCOPE = "openid,profile"
OIDC_GROUPS_CLAIM = "groups"
# Entra ID puts the sign-in name (the UPN) in preferred_username; its tokens have no `username` claim.
OIDC_USER_NAME_CLAIM = "preferred_username"


def worker_tolerations() -> list[dict[str, str]]:
    """Tolerate exactly the worker pool's taint (`key=value:Effect`), so workers may land on its nodes."""
    key_value, effect = naming.WORKER_POOL_TAINT.split(":")
    key, value = key_value.split("=")
    return [{"key": key, "operator": "Equal", "value": value, "effect": effect}]


def local_users_line(users: Mapping[str, str]) -> str:
    """The `local-users` Secret value: `user:password` pairs separated by commas, as `concourse web` parses it."""
    for user, password in users.items():
        if any(c in password for c in ":,") or any(c in user for c in ":,"):
            raise ValueError(f"the local user {user!r} or its password contains ':' or ',' (the list separators)")
    return ",".join(f"{user}:{password}" for user, password in sorted(users.items()))


def web_secret_data(
    *,
    local_users: pulumi.Input[str],
    encryption_key: pulumi.Input[str],
    session_signing_key: pulumi.Input[str],
    tsa_host_key: pulumi.Input[str],
    worker_key_pub: pulumi.Input[str],
    postgres_user: pulumi.Input[str],
    postgres_password: pulumi.Input[str],
    postgres_ca_bundle: str,
    oidc_client_id: pulumi.Input[str],
    oidc_client_secret: pulumi.Input[str],
    vault_auth_param: pulumi.Input[str],
    influxdb_password: pulumi.Input[str] | None,
) -> dict[str, pulumi.Input[str]]:
    """Every key templates/web-deployment.yaml reads for the features the values turn on (InfluxDB's password only
    where the metrics emitter is on: parts.influxdb)."""
    data: dict[str, pulumi.Input[str]] = {
        "local-users": local_users,
        "encryption-key": encryption_key,
        "session-signing-key": session_signing_key,
        "host-key": tsa_host_key,
        "worker-key-pub": worker_key_pub,
        "postgresql-user": postgres_user,
        "postgresql-password": postgres_password,
        # The postgresql-keys volume projects all three; Azure needs no client certificate, so two stay empty.
        "postgresql-ca-cert": postgres_ca_bundle,
        "postgresql-client-cert": "",
        "postgresql-client-key": "",
        "oidc-client-id": oidc_client_id,
        "oidc-client-secret": oidc_client_secret,
        "vault-client-auth-param": vault_auth_param,
    }
    if influxdb_password is not None:
        data["influxdb-password"] = influxdb_password
    return data


def worker_secret_data(
    *, tsa_host_key_pub: pulumi.Input[str], worker_key: pulumi.Input[str]
) -> dict[str, pulumi.Input[str]]:
    """Every key templates/worker-statefulset.yaml reads: the TSA's public key and the worker's private key."""
    return {"host-key-pub": tsa_host_key_pub, "worker-key": worker_key}


def tsa_host(namespace: str) -> str:
    """Where a worker release reaches the web release's TSA: the chart's `<web release>-web-worker-gateway` Service
    (templates/web-worker-gateway-svc.yaml, port concourse.web.tsa.bindPort), by its cluster DNS name."""
    return f"{WEB_SECRET}-worker-gateway.{namespace}.svc.cluster.local:{TSA_PORT}"


def web_values(
    cfg: StackConfig,
    *,
    postgres_host: str,
    postgres_port: int,
    postgres_database: str,
    postgres_ca_bundle: str,
    oidc_issuer: str,
    admin_group_id: str,
    influxdb: InfluxTarget | None,
    web_secret_version: str,
) -> dict[str, Any]:
    """The web release's values: web only (`worker.enabled: false`), and no worker autoscaling, whose HPA the chart
    renders whenever `concourse.worker.autoscaling.maxReplicas` is set, worker or not. `web_secret_version`: the
    Secret's resourceVersion, as a pod annotation, so that a changed Secret (a rotated client secret or approle secret
    id, a new team user) rolls the web pods, which read it at start."""
    c = cfg.concourse
    host = cfg.dns.host("concourse")
    return {
        "web": {
            "replicas": c.web_replicas,
            "annotations": {SECRET_VERSION_ANNOTATION: web_secret_version},
            "ingress": {
                "enabled": True,
                "ingressClassName": naming.INGRESS_CLASS,
                "annotations": tls_annotations(),
                "hosts": [host],
                "tls": ingress_tls(host, f"{RELEASE}-web-tls"),
            },
            **web_volume_values(cfg),
            # The chart's requests (100m/128Mi) with limits, and the same for its migration init container.
            "resources": sizing.sized("100m", "128Mi"),
            "concourseMigration": {"resources": sizing.sized("100m", "128Mi")},
            # Both containers (web and its migration) take this context. They stay root: the chart mounts web's
            # keys 0400, owned by root, with no pod securityContext (fsGroup) to hand them to another user; but
            # root with no capability, no privilege escalation, the runtime's seccomp profile (ports over 1024) and a
            # read-only root: web keeps its state in PostgreSQL and streams artifacts between workers, so it writes
            # nothing but Go's temporary files (an emptyDir at /tmp).
            "securityContext": {**hardening.LOCKED_CONTAINER, "seccompProfile": hardening.RUNTIME_DEFAULT},
        },
        "worker": {"enabled": False},
        # No bundled database, and no Service left pointing at one (the chart renders it unless told not to).
        "postgresql": {"enabled": False, "service": {"enabled": False}},
        "secrets": {
            "create": False,
            # With secrets.create false the chart still wires CONCOURSE_POSTGRES_CA_CERT only when this is set.
            # It is the public CA bundle (no secret); the Secret's postgresql-ca-cert key carries the same PEM.
            "postgresCaCert": postgres_ca_bundle,
        },
        "concourse": {
            "web": {
                "externalUrl": idtoken.external_url(cfg),
                "encryption": {"enabled": True},
                "containerPlacementStrategy": c.container_placement_strategy,
                "baggageclaimResponseHeaderTimeout": c.baggageclaim_response_header_timeout,
                "maxBuildLogsToRetain": c.max_build_logs_to_retain,
                "defaultBuildLogsToRetain": c.default_build_logs_to_retain,
                "defaultDaysToRetainBuildLogs": c.default_days_to_retain_build_logs,
                "maxDaysToRetainBuildLogs": c.max_days_to_retain_build_logs,
                "postgres": {
                    "host": postgres_host,
                    "port": postgres_port,
                    "database": postgres_database,
                    "sslmode": "verify-ca",
                },
                "tsa": {"heartbeatInterval": c.heartbeat_interval, "bindPort": TSA_PORT},
                # Guardrails for about 400 jobs: one runaway task cannot take a worker, checks run half as often as
                # Concourse's default (webhooks still trigger them at once), credentials are cached.
                "defaultTaskTimeout": c.default_task_timeout,
                "defaultTaskMemoryLimit": c.default_task_memory_limit,
                "defaultTaskCpuLimit": c.default_task_cpu_limit,
                "resourceCheckingInterval": c.resource_checking_interval,
                "resourceTypeCheckingInterval": c.resource_checking_interval,
                "globalResourceCheckTimeout": c.resource_check_timeout,
                "secretCacheEnabled": True,
                "secretCacheDuration": c.secret_cache_duration,
                "apiMaxConns": c.api_max_connections,
                "backendMaxConns": c.backend_max_connections,
                # Two credential managers at once make Concourse pick one at random: Vault only.
                "kubernetes": {"enabled": False},
                "vault": {
                    "enabled": True,
                    "url": vault_address(cfg),
                    "authBackend": "approle",
                    "pathPrefix": cfg.vault.path_prefix,
                    "sharedPath": cfg.vault.shared_path,
                    "useAuthParam": True,
                    "useCaCert": False,
                    # Log in again before the approle token reaches its max TTL and can no longer be renewed.
                    "authBackendMaxTtl": f"{go_duration_seconds(cfg.vault.token_max_ttl) // 2}s",
                },
                "localAuth": {"enabled": True},
                "auth": {
                    "mainTeam": {"localUser": c.admin_user, "oidc": {"group": admin_group_id}},
                    "oidc": {
                        "enabled": True,
                        "displayName": "Entra ID",
                        "issuer": oidc_issuer,
                        "scope": OIDC_SCOPE,
                        "groupsKey": OIDC_GROUPS_CLAIM,
                        "userNameKey": OIDC_USER_NAME_CLAIM,
                        # Entra ID tokens never carry `email_verified` (concourse/concourse PR 6478 added this flag).
                        "skipEmailVerifiedValidation": True,
                    },
                },
                "prometheus": {"enabled": True, "serviceMonitor": {"enabled": True}},
                # Count every error web logs, by message (concourse_error_logs): Concourse has no metric of its
                # Vault client, and ConcourseVaultLoginFailing reads its login and renewal errors from this.
                "metrics": {"captureErrorMetrics": True},
                # Build metrics to InfluxDB, where the stack runs it (parts.influxdb); Prometheus's stay either way.
                **(
                    {
                        "influxdb": {
                            "enabled": True,
                            "url": influxdb.url,
                            "database": influxdb.database,
                            "username": influxdb.username,
                        }
                    }
                    if influxdb is not None
                    else {}
                ),
            },
        },
    }


def worker_pod_values(cfg: StackConfig) -> dict[str, Any]:
    """The worker release's values that shape the worker pod and its StatefulSet: everything the generation hashes.

    Worker only (`web.enabled: false`): the chart then takes the TSA's address from `concourse.worker.tsa.hosts`
    (templates/_helpers.tpl, concourse.worker.env) and refuses to render without it (templates/required-check.yaml).
    """
    c = cfg.concourse
    pool_label, pool_value = naming.WORKER_POOL_LABEL
    pod_label, pod_value = naming.WORKER_POD_LABEL
    return {
        "web": {"enabled": False},
        "worker": {
            "kind": "StatefulSet",
            "labels": {pod_label: pod_value},
            # No `replicas`: with concourse.worker.autoscaling the chart leaves the count to the HPA
            # (templates/worker-statefulset.yaml).
            # One worker per node, each requesting the node (components/sizing.py): the cluster autoscaler adds a
            # node exactly when the HPA adds a worker that finds none.
            "hardAntiAffinity": True,
            "resources": sizing.worker_requests(cfg),
            "nodeSelector": {pool_label: pool_value},
            "tolerations": worker_tolerations(),
            # Ready once Garden and Baggageclaim answer (the worker's health endpoint, worker/healthchecker.go), so
            # Helm's wait for a new generation means workers that can run builds; the chart sets no readiness probe.
            "readinessProbe": {"httpGet": {"path": "/", "port": "worker-hc"}, "periodSeconds": 10, "timeoutSeconds": 3},
            # The pre-stop hook retires the worker (shutdownSignal below); Kubernetes waits this long for running
            # builds to finish before it kills the pod: on scale-in, node drains, and when a generation is deleted.
            "terminationGracePeriodSeconds": c.worker_drain_seconds,
            # A retired worker comes back as a new worker: nothing of the old work directory is valid.
            "cleanUpWorkDirOnStart": True,
            # Scale-down and deletion of a generation delete the workers' volume claims: no orphaned disks (a claim
            # in use by a retiring pod stays until the pod is gone: kubernetes.io/pvc-protection).
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Delete"},
            # A generation's workers all start at once (the chart's default, stated because the install's wait
            # depends on it); a generation's pod template never changes, a change is the next generation.
            "podManagementPolicy": "Parallel",
        },
        "persistence": {"enabled": True, "worker": {"size": f"{c.worker_disk_gi}Gi"}},
        "postgresql": {"enabled": False, "service": {"enabled": False}},
        "secrets": {"create": False},
        "concourse": {
            "worker": {
                "ephemeral": True,
                "baggageclaim": {"driver": c.baggageclaim_driver},
                "shutdownSignal": "SIGUSR2",  # retire: the worker drains, then leaves the cluster for good
                # Keep the builds' forwarded connections for the whole grace period (the chart's default is 1h).
                "connectionDrainTimeout": f"{c.worker_drain_seconds}s",
                "tsa": {"hosts": [tsa_host(naming.NAMESPACES["concourse"])]},
            },
        },
    }


def worker_scaling_values(cfg: StackConfig) -> dict[str, Any]:
    """The worker release's values that only size the fleet (the HPA's bounds and behaviour, the disruption budget):
    a change updates the current generation in place, without replacing a worker."""
    return {
        # The chart always renders this PodDisruptionBudget; with two or more workers one may always go.
        "worker": {"minAvailable": 1},
        "concourse": {"worker": {"autoscaling": worker_autoscaling(cfg)}},
    }


def worker_values(cfg: StackConfig) -> dict[str, Any]:
    """The worker release's values: the pod's, with the scaling laid over them."""
    return sizing.merge(worker_pod_values(cfg), worker_scaling_values(cfg))


def worker_generation(pod_values: Mapping[str, Any], chart_version: str, key_fingerprints: Sequence[str]) -> str:
    """The worker generation: a hash of what a worker pod is made of. The pod values, the chart version (which also
    pins the image: the values set no image) and the fingerprints of the TSA host key and the worker key (a new key
    pair is a new worker Secret, which running workers read only at start). Equal inputs, equal generation, whatever
    the order of keys; a fingerprint names a public key and reveals nothing secret."""
    canonical = json.dumps(
        {"values": pod_values, "chart": chart_version, "keys": list(key_fingerprints)},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:GENERATION_LENGTH]


def worker_release_name(generation: str) -> str:
    return f"{WORKERS_RELEASE_PREFIX}-{generation}"


def worker_secret_name(release_name: str) -> str:
    """The Secret the chart's worker pods mount: `<release>-worker` (templates/worker-statefulset.yaml)."""
    return f"{release_name}-worker"


HPA_MAX_POLICY_PERIOD = 1800
"""The longest periodSeconds a HorizontalPodAutoscaler scaling policy accepts (autoscaling/v2 API reference)."""


def worker_autoscaling(cfg: StackConfig) -> dict[str, Any]:
    """Worker replicas follow the builds' CPU between concourse.workerReplicas and the worker pool's maxCount.

    The chart's own HPA (templates/worker-horizontal-pod-autoscaler.yaml) on the Resource metric CPU, which AKS's
    built-in metrics-server serves: builds run inside the worker pods, so their CPU is the workers'. Concourse's own
    metrics (containers per worker, pending builds) would need a custom-metrics adapter or KEDA, which the stack
    does not run; CPU is the signal available without one. Scale-in honours the drain: one worker at a time, no
    sooner than one drain period apart, after ten minutes of low load; the retiring worker gets its full grace
    period (terminationGracePeriodSeconds) to finish its builds.
    """
    c = cfg.concourse
    return {
        "minReplicas": c.worker_replicas,
        "maxReplicas": cfg.cluster.worker_pool.max_count,
        "builtInMetrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}},
            }
        ],
        "behavior": {
            "scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]},
            "scaleDown": {
                "stabilizationWindowSeconds": 600,
                "policies": [
                    {"type": "Pods", "value": 1, "periodSeconds": min(c.worker_drain_seconds, HPA_MAX_POLICY_PERIOD)}
                ],
            },
        },
    }


class Concourse(pulumi.ComponentResource):
    """The web release, the current worker generation's release, their Secrets and the keys and passwords in them."""

    admin_password: pulumi.Output[str]
    release: k8s.helm.v3.Release
    """The web release: what answers Concourse's API (the teams wait for it)."""
    workers: k8s.helm.v3.Release
    """The current worker generation's release."""

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: k8s.Provider,
        database: DatabaseEndpoint,
        login: OidcLogin,
        vault_auth_param: pulumi.Input[str],
        team_users: Mapping[str, pulumi.Output[str]],
        influxdb: InfluxTarget | None,
        worker_pool: pulumi.Resource,
        service_monitor_crds: Sequence[pulumi.Resource],
        vault_ca_issuer: pulumi.Resource | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`team_users`: service user -> password; `worker_pool`: the AKS node pool the workers are pinned to;
        `service_monitor_crds`: what installs the ServiceMonitor CRD; `vault_ca_issuer`: the internal CA's
        ClusterIssuer when Vault runs in the cluster (Concourse then trusts that CA)."""
        super().__init__("cdstack:services:Concourse", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        encryption_key = random.RandomPassword(
            "concourse-encryption-key", length=ENCRYPTION_KEY_LENGTH, special=False, opts=child
        )
        # Letters and digits only: `:` and `,` separate the local-users list.
        admin_password = random.RandomPassword("concourse-admin-password", length=32, special=False, opts=child)
        session_signing_key = tls.PrivateKey(
            "concourse-session-signing-key", algorithm="RSA", rsa_bits=RSA_BITS, opts=child
        )
        tsa_host_key = tls.PrivateKey("concourse-tsa-host-key", algorithm="RSA", rsa_bits=RSA_BITS, opts=child)
        worker_key = tls.PrivateKey("concourse-worker-key", algorithm="RSA", rsa_bits=RSA_BITS, opts=child)
        self.admin_password = pulumi.Output.secret(admin_password.result)

        passwords = {cfg.concourse.admin_user: admin_password.result, **team_users}
        local_users = pulumi.Output.all(**passwords).apply(local_users_line)

        ns = namespace(naming.NAMESPACES["concourse"], provider, self)
        self.namespace = ns
        web = secret(
            WEB_SECRET,
            ns,
            web_secret_data(
                local_users=local_users,
                encryption_key=encryption_key.result,
                session_signing_key=session_signing_key.private_key_pem,
                tsa_host_key=tsa_host_key.private_key_pem,
                worker_key_pub=worker_key.public_key_openssh,
                postgres_user=database.user,
                postgres_password=database.password,
                postgres_ca_bundle=database.ca_bundle,
                oidc_client_id=login.client_id,
                oidc_client_secret=login.client_secret,
                vault_auth_param=vault_auth_param,
                influxdb_password=influxdb.password if influxdb else None,
            ),
            provider,
            self,
        )
        # The worker Secret belongs to its generation: the chart's worker pods mount `<worker release>-worker`. A new
        # generation gets a new Secret (its name changes, so Pulumi replaces it create-before-delete, like the
        # release), and the old one goes after the old release (Pulumi deletes in reverse dependency order).
        pod_values = worker_pod_values(cfg)
        worker_release = pulumi.Output.all(
            tsa_host_key.public_key_fingerprint_sha256, worker_key.public_key_fingerprint_sha256
        ).apply(lambda keys: worker_release_name(worker_generation(pod_values, cfg.chart_version("concourse"), keys)))
        worker = k8s.core.v1.Secret(
            "concourse-worker-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=worker_release.apply(worker_secret_name), namespace=ns.metadata.name
            ),
            type="Opaque",
            string_data=pulumi.Output.secret(
                worker_secret_data(
                    tsa_host_key_pub=tsa_host_key.public_key_openssh, worker_key=worker_key.private_key_pem
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        # The web pods mount the CA's Secret by name: it must exist before they start (see the Secrets below).
        trust = (
            [
                internal_ca.certificate(
                    naming.VAULT_CA_SECRET,
                    ns.metadata.name,
                    vault_ca_certificate_spec(),
                    provider,
                    self,
                    depends_on=[vault_ca_issuer],
                )
            ]
            if vault_ca_issuer is not None
            else []
        )

        admin_group_id = login.group_object_ids[cfg.identity.admin_group]
        values = pulumi.Output.all(
            database.host, login.issuer_url, admin_group_id, web.metadata.resource_version
        ).apply(
            lambda args: web_values(
                cfg,
                postgres_host=args[0],
                postgres_port=database.port,
                postgres_database=database.database,
                postgres_ca_bundle=database.ca_bundle,
                oidc_issuer=args[1],
                admin_group_id=args[2],
                influxdb=influxdb,
                web_secret_version=args[3],
            )
        )
        self.release = release(
            RELEASE,
            "concourse",
            cfg,
            ns,
            values,
            provider,
            self,
            timeout_seconds=release_timeout_seconds(cfg),
            depends_on=[
                # The pods mount and read the Secret by name (the values cannot refer to it): it must exist before
                # the first pod starts, or the release waits on pods stuck in ContainerCreating.
                web,
                *trust,
                # The chart renders a ServiceMonitor; its kind must be known to the API server at install time.
                *service_monitor_crds,
            ],
        )
        # No wait on the web release: a worker that cannot reach the TSA yet retries every 5 s without exiting
        # (worker/beacon_runner.go), so both install side by side on a first `up`.
        self.workers = release(
            "concourse-workers",
            "concourse",
            cfg,
            ns,
            worker_values(cfg),
            provider,
            self,
            timeout_seconds=release_timeout_seconds(cfg),
            release_name=worker_release,
            depends_on=[
                # The pods mount their generation's Secret by name.
                worker,
                # The workers only schedule onto this pool (node selector and toleration): before it exists they
                # stay Pending and the atomic release would time out and roll back.
                worker_pool,
            ],
        )

        self.register_outputs({"adminPassword": self.admin_password, "url": f"https://{cfg.dns.host('concourse')}"})
