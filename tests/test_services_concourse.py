"""Concourse: every setting of the operator's deployment at the chart's real paths; its Secrets; its release."""

from __future__ import annotations

from datetime import date
from typing import Any

import pulumi
import pytest

from components import catalog, naming
from components.concourse.limits import release_timeout_seconds
from components.config.rules import check_rules
from components.services import concourse
from components.services.release import HISTORY
from tests.conftest import stack_config
from tests.services import (
    ADMIN_GROUP_ID,
    CA_BUNDLE,
    HELM_RELEASE,
    assert_release,
    at,
    database,
    influxdb,
    login,
    plan_services,
    stack_cfg,
    strings_in,
)

SECRET = "kubernetes:core/v1:Secret"


def values_of(cfg: Any) -> dict[str, Any]:
    """The web release's values."""
    return concourse.web_values(
        cfg,
        postgres_host="psql-contoso-staging.postgres.database.azure.com",
        postgres_port=5432,
        postgres_database="concourse",
        postgres_ca_bundle=CA_BUNDLE,
        oidc_issuer="https://login.microsoftonline.com/tenant-id/v2.0",
        admin_group_id=ADMIN_GROUP_ID,
        influxdb=influxdb() if cfg.parts.influxdb else None,
        web_secret_version="4711",
    )


@pytest.fixture
def values() -> dict[str, Any]:
    return values_of(stack_cfg("staging"))


@pytest.fixture
def workers() -> dict[str, Any]:
    return concourse.worker_values(stack_cfg("staging"))


def test_a_changed_secret_rolls_the_pods_that_read_it(values: dict[str, Any], workers: dict[str, Any]):
    """The chart only checksums Secrets it renders itself; the web pods roll through their Secret's resourceVersion.
    A worker Secret belongs to its generation (a new key pair is a new generation): no version to follow."""
    assert at(values, "web.annotations") == {concourse.SECRET_VERSION_ANNOTATION: "4711"}
    assert "annotations" not in workers["worker"]


def test_each_release_renders_only_its_half(values: dict[str, Any], workers: dict[str, Any]):
    """web.enabled/worker.enabled gate every web and worker template except the HPA (gated on autoscaling alone)
    and the pre-stop ConfigMap (always rendered, named after the release): the web release sets no autoscaling."""
    assert (at(values, "worker.enabled"), at(workers, "web.enabled")) == (False, False)
    assert "worker" not in values["concourse"] and "persistence" not in values
    assert "web" not in workers["concourse"]
    # Neither renders the bundled database nor a Service pointing at one.
    for half in (values, workers):
        assert at(half, "postgresql") == {"enabled": False, "service": {"enabled": False}}
        assert at(half, "secrets.create") is False


def test_workers_dial_the_web_releases_tsa(values: dict[str, Any], workers: dict[str, Any]):
    # templates/web-worker-gateway-svc.yaml: `<web release>-web-worker-gateway`, port concourse.web.tsa.bindPort.
    assert at(values, "concourse.web.tsa.bindPort") == concourse.TSA_PORT == 2222
    assert at(workers, "concourse.worker.tsa.hosts") == [
        f"{concourse.RELEASE}-web-worker-gateway.concourse.svc.cluster.local:2222"
    ]


def test_the_generation_follows_the_worker_pod_and_nothing_else():
    cfg = stack_cfg("staging")
    pod = concourse.worker_pod_values(cfg)
    keys = ["SHA256:host", "SHA256:worker"]
    generation = concourse.worker_generation(pod, "20.1.3", keys)
    assert len(generation) == concourse.GENERATION_LENGTH and int(generation, 16) >= 0
    # Pure: the same inputs in any key order give the same generation.
    assert concourse.worker_generation(dict(reversed(list(pod.items()))), "20.1.3", keys) == generation
    # A new chart (and so image), a new key, a changed pod setting: a new generation.
    assert concourse.worker_generation(pod, "20.1.4", keys) != generation
    assert concourse.worker_generation(pod, "20.1.3", ["SHA256:host", "SHA256:other"]) != generation
    drained = concourse.worker_pod_values(stack_cfg("staging", concourse={"workerDrainSeconds": 7200}))
    assert concourse.worker_generation(drained, "20.1.3", keys) != generation
    # The HPA's bounds and the PDB only size the fleet: not part of the pod, so the generation stays.
    bigger = stack_cfg("staging", concourse={"workerReplicas": 3})
    assert concourse.worker_pod_values(bigger) == pod
    assert concourse.worker_scaling_values(bigger) != concourse.worker_scaling_values(cfg)
    name = concourse.worker_release_name(generation)
    assert name == f"concourse-workers-{generation}" and len(concourse.worker_secret_name(name)) <= 52


def test_operator_tuning_at_the_chart_paths(values: dict[str, Any]):
    web = "concourse.web"
    assert at(values, f"{web}.encryption.enabled") is True
    assert at(values, f"{web}.containerPlacementStrategy") == "volume-locality"
    assert at(values, f"{web}.baggageclaimResponseHeaderTimeout") == "2m"
    assert at(values, f"{web}.maxBuildLogsToRetain") == 2000
    assert at(values, f"{web}.defaultBuildLogsToRetain") == 500
    assert at(values, f"{web}.defaultDaysToRetainBuildLogs") == 30
    assert at(values, f"{web}.maxDaysToRetainBuildLogs") == 90
    assert at(values, f"{web}.tsa.heartbeatInterval") == "120s"


def test_tuning_follows_config():
    cfg = stack_cfg(
        "staging",
        concourse={
            "containerPlacementStrategy": "limit-active-tasks",
            "baggageclaimResponseHeaderTimeout": "5m",
            "maxBuildLogsToRetain": 100,
            "defaultBuildLogsToRetain": 50,
            "heartbeatInterval": "60s",
            "workerDiskGi": 512,
            "webReplicas": 3,
            "workerReplicas": 7,
            "workerDrainSeconds": 7200,
        },
    )
    values, workers = values_of(cfg), concourse.worker_values(cfg)
    assert at(values, "concourse.web.containerPlacementStrategy") == "limit-active-tasks"
    assert at(values, "concourse.web.baggageclaimResponseHeaderTimeout") == "5m"
    assert at(values, "concourse.web.maxBuildLogsToRetain") == 100
    assert at(values, "concourse.web.defaultBuildLogsToRetain") == 50
    assert at(values, "concourse.web.tsa.heartbeatInterval") == "60s"
    assert at(workers, "persistence.worker.size") == "512Gi"
    assert at(values, "web.replicas") == 3
    assert at(workers, "concourse.worker.autoscaling.minReplicas") == 7
    assert at(workers, "worker.terminationGracePeriodSeconds") == 7200
    assert at(workers, "concourse.worker.connectionDrainTimeout") == "7200s"


def test_external_postgres_with_ca_verification(values: dict[str, Any]):
    assert at(values, "postgresql.enabled") is False
    assert at(values, "postgresql.service.enabled") is False
    assert at(values, "concourse.web.postgres") == {
        "host": "psql-contoso-staging.postgres.database.azure.com",
        "port": 5432,
        "database": "concourse",
        "sslmode": "verify-ca",
    }
    # The chart wires CONCOURSE_POSTGRES_CA_CERT only when this is non-empty, even with secrets.create false.
    assert at(values, "secrets.postgresCaCert") == CA_BUNDLE


def test_workers_are_ephemeral_overlay_on_the_worker_pool_and_leave_cleanly(workers: dict[str, Any]):
    assert at(workers, "concourse.worker.ephemeral") is True
    assert at(workers, "concourse.worker.baggageclaim.driver") == "overlay"
    assert at(workers, "concourse.worker.shutdownSignal") == "SIGUSR2"  # retire, not land
    assert at(workers, "persistence.enabled") is True
    assert at(workers, "persistence.worker.size") == "256Gi"
    assert at(workers, "worker.kind") == "StatefulSet"
    floor = at(workers, "concourse.worker.autoscaling.minReplicas")
    assert floor >= 2 and floor - at(workers, "worker.minAvailable") >= 1  # the PDB lets a drain proceed
    label, value = naming.WORKER_POOL_LABEL
    assert at(workers, "worker.nodeSelector") == {label: value}
    assert at(workers, "worker.tolerations") == [
        {"key": "cdstack.io/pool", "operator": "Equal", "value": "concourse-workers", "effect": "NoSchedule"}
    ]
    assert at(workers, "worker.terminationGracePeriodSeconds") == 3600
    assert at(workers, "concourse.worker.connectionDrainTimeout") == "3600s"
    assert at(workers, "worker.cleanUpWorkDirOnStart") is True
    assert at(workers, "worker.persistentVolumeClaimRetentionPolicy") == {
        "whenDeleted": "Delete",
        "whenScaled": "Delete",
    }


def test_vault_is_the_only_credential_manager(values: dict[str, Any]):
    assert at(values, "concourse.web.kubernetes.enabled") is False
    assert at(values, "concourse.web.vault") == {
        "enabled": True,
        "url": "https://vault.vault.svc.cluster.local:8200",
        "authBackend": "approle",
        "pathPrefix": "/concourse",
        "sharedPath": "shared",
        "useAuthParam": True,
        "useCaCert": False,
        "authBackendMaxTtl": "7200s",  # half of vault.tokenMaxTtl (4h): re-login before renewal stops
    }


def test_guardrails_for_hundreds_of_jobs(values: dict[str, Any]):
    web = at(values, "concourse.web")
    assert (web["defaultTaskTimeout"], web["defaultTaskMemoryLimit"], web["defaultTaskCpuLimit"]) == ("2h", "4GB", 1024)
    assert (web["resourceCheckingInterval"], web["globalResourceCheckTimeout"]) == ("2m", "15m")
    assert (web["secretCacheEnabled"], web["secretCacheDuration"]) == (True, "5m")
    assert (web["apiMaxConns"], web["backendMaxConns"]) == (10, 50)


def test_entra_id_login_and_main_team(values: dict[str, Any]):
    assert at(values, "concourse.web.auth.oidc") == {
        "enabled": True,
        "displayName": "Entra ID",
        "issuer": "https://login.microsoftonline.com/tenant-id/v2.0",
        "scope": "openid,profile",  # no email scope: Dex would demand email and email_verified claims
        "groupsKey": "groups",
        "userNameKey": "preferred_username",
        "skipEmailVerifiedValidation": True,  # Entra ID never sends email_verified
    }
    assert at(values, "concourse.web.auth.mainTeam.oidc.group") == ADMIN_GROUP_ID
    assert at(values, "concourse.web.auth.mainTeam.localUser") == "admin"  # not the chart's demo user `test`
    assert at(values, "concourse.web.localAuth.enabled") is True


def test_metrics_url_ingress_and_replicas(values: dict[str, Any]):
    assert at(values, "concourse.web.prometheus") == {"enabled": True, "serviceMonitor": {"enabled": True}}
    # concourse_error_logs, where ConcourseVaultLoginFailing reads the credential manager's errors.
    assert at(values, "concourse.web.metrics.captureErrorMetrics") is True
    assert at(values, "concourse.web.influxdb") == {
        "enabled": True,
        "url": "http://influxdb2.monitoring.svc.cluster.local",
        "database": "concourse",
        "username": "concourse",
    }
    host = "ci.staging.cd.contoso.com"
    assert at(values, "concourse.web.externalUrl") == f"https://{host}"
    assert at(values, "web.ingress") == {
        "enabled": True,
        "ingressClassName": naming.INGRESS_CLASS,
        "annotations": {"cert-manager.io/cluster-issuer": naming.CLUSTER_ISSUER},
        "hosts": [host],
        "tls": [{"secretName": "concourse-web-tls", "hosts": [host]}],
    }
    assert at(values, "web.replicas") == 1
    assert at(values_of(stack_cfg("prod")), "web.replicas") == 2


def test_the_chart_renders_no_secret_and_no_demo_credentials(values: dict[str, Any]):
    assert at(values, "secrets.create") is False
    assert not any("test:test" in s for s in strings_in(values))


SENTINELS = {
    "local_users": "admin:local-users-sentinel",
    "encryption_key": "encryption-key-sentinel",
    "session_signing_key": "session-signing-key-sentinel",
    "tsa_host_key": "tsa-host-key-sentinel",
    "worker_key_pub": "worker-key-pub-sentinel",
    "postgres_user": "postgres-user-sentinel",
    "postgres_password": "postgres-password-sentinel",
    "oidc_client_id": "oidc-client-id-sentinel",
    "oidc_client_secret": "oidc-client-secret-sentinel",
    "vault_auth_param": "role_id:sentinel,secret_id:sentinel",
    "influxdb_password": "influxdb-password-sentinel",
}


def test_web_secret_has_every_key_the_web_templates_read():
    data = concourse.web_secret_data(postgres_ca_bundle=CA_BUNDLE, **SENTINELS)
    assert set(data) == {
        "local-users",
        "encryption-key",
        "session-signing-key",
        "host-key",
        "worker-key-pub",
        "postgresql-user",
        "postgresql-password",
        "postgresql-ca-cert",
        "postgresql-client-cert",
        "postgresql-client-key",
        "oidc-client-id",
        "oidc-client-secret",
        "vault-client-auth-param",
        "influxdb-password",
    }
    assert data["postgresql-ca-cert"] == CA_BUNDLE
    assert data["vault-client-auth-param"] == "role_id:sentinel,secret_id:sentinel"
    worker = concourse.worker_secret_data(tsa_host_key_pub="host-pub-sentinel", worker_key="worker-key-sentinel")
    assert worker == {"host-key-pub": "host-pub-sentinel", "worker-key": "worker-key-sentinel"}


def test_no_secret_value_reaches_the_values(values: dict[str, Any]):
    everything = strings_in(values)
    for sentinel in [*SENTINELS.values(), "host-pub-sentinel", "worker-key-sentinel"]:
        assert not any(sentinel in s for s in everything), sentinel


def test_local_users_line():
    assert concourse.local_users_line({"payments-bot": "p2", "admin": "p1"}) == "admin:p1,payments-bot:p2"
    with pytest.raises(ValueError, match="payments-bot"):
        concourse.local_users_line({"payments-bot": "a,b"})


def build(cfg: Any, k8s: Any, with_crd_source: bool = False) -> None:
    """Concourse alone, on fakes of what the platform, login, Vault access, teams and monitoring hand it."""
    crds = [pulumi.CustomResource("test:index:Crds", "monitoring-crds")] if with_crd_source else []
    concourse.Concourse(
        "concourse",
        cfg,
        k8s,
        database=database(),
        login=login(),
        vault_auth_param=pulumi.Output.secret("role_id:r,secret_id:s"),
        team_users={"payments-bot": pulumi.Output.secret("team-password")},
        influxdb=influxdb(),
        worker_pool=pulumi.CustomResource("test:index:NodePool", "worker-pool"),
        service_monitor_crds=crds,
    )


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_release_and_secrets_under_the_mock_engine(stack: str):
    plan = plan_services(stack, build)
    release = assert_release(
        plan, "concourse", "concourse", naming.NAMESPACES["concourse"], release_timeout_seconds(stack_cfg(stack))
    )
    assert release.inputs["maxHistory"] == HISTORY
    web = plan.get(SECRET, "concourse-web-secret")
    worker = plan.get(SECRET, "concourse-worker-secret")
    workers = plan.get(HELM_RELEASE, "concourse-workers")
    generation = workers.inputs["name"].removeprefix("concourse-workers-")
    assert len(generation) == concourse.GENERATION_LENGTH
    assert web.inputs["metadata"]["name"] == "concourse-web"  # the names the chart's templates read
    assert worker.inputs["metadata"]["name"] == f"concourse-workers-{generation}-worker"
    assert web.inputs["stringData"] == worker.inputs["stringData"] == "[secret]"
    assert web.urn in release.dependencies and worker.urn not in release.dependencies
    assert worker.urn in workers.dependencies and web.urn not in workers.dependencies
    assert (workers.inputs["timeout"], workers.inputs["atomic"]) == (release_timeout_seconds(stack_cfg(stack)), True)
    # The values are plain settings: had any secret flowed in, the whole map would be a secret.
    values = release.inputs["values"]
    assert values != "[secret]"
    assert "[secret]" not in strings_in(values)
    assert at(values, "concourse.web.postgres.host") == "psql-contoso-test.postgres.database.azure.com"
    assert at(values, "concourse.web.auth.mainTeam.oidc.group") == ADMIN_GROUP_ID


def test_web_waits_for_the_service_monitor_crd_and_workers_for_their_pool():
    plan = plan_services("staging", lambda cfg, k8s: build(cfg, k8s, with_crd_source=True))
    web = plan.get(HELM_RELEASE, "concourse").dependencies
    workers = plan.get(HELM_RELEASE, "concourse-workers").dependencies
    crds, pool = plan.get("test:index:Crds", "monitoring-crds").urn, plan.get("test:index:NodePool", "worker-pool").urn
    assert crds in web and crds not in workers  # only the web release renders the ServiceMonitor
    assert pool in workers and pool not in web


def test_generated_keys_and_passwords():
    plan = plan_services("staging", build)
    key = plan.get("random:index/randomPassword:RandomPassword", "concourse-encryption-key")
    assert key.inputs["length"] == 32
    admin = plan.get("random:index/randomPassword:RandomPassword", "concourse-admin-password")
    assert admin.inputs["special"] is False  # `:` and `,` would break the local-users list
    for name in ("concourse-session-signing-key", "concourse-tsa-host-key", "concourse-worker-key"):
        assert plan.get("tls:index/privateKey:PrivateKey", name).inputs["algorithm"] == "RSA"


def test_the_support_calendar_never_admits_a_minor_that_keeps_retired_workers_disks():
    # The chart's PVC retention policy (delete with the worker) needs Kubernetes 1.32 or later.
    assert all(int(minor.split(".")[1]) >= 32 for minor in catalog.KUBERNETES_MINORS)
    cluster = {**stack_config("staging")["cdstack:cluster"], "kubernetesVersion": "1.31"}
    problems = check_rules(stack_cfg("staging", cluster=cluster), date(2026, 11, 29))
    assert [(key, value) for key, value, _ in problems] == [("cdstack:cluster.kubernetesVersion", "1.31")]


def test_workers_fill_their_nodes_and_follow_load_between_the_configured_bounds(workers: dict[str, Any]):
    # One worker per Standard_D4ds_v5 node (staging): 4 cores less 140m kube-reserved less the 1000m allowance.
    assert at(workers, "worker.hardAntiAffinity") is True
    assert at(workers, "worker.resources.requests.cpu") == "2860m"
    scaling = at(workers, "concourse.worker.autoscaling")
    assert (scaling["minReplicas"], scaling["maxReplicas"]) == (2, 4)  # concourse.workerReplicas, workerPool.maxCount
    assert scaling["builtInMetrics"][0]["resource"]["name"] == "cpu"
    down = scaling["behavior"]["scaleDown"]
    assert down["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 1800}]  # one drain at a time
    assert "replicas" not in at(workers, "worker")  # the HPA owns the count
