"""Monitoring and alerting: Prometheus, Alertmanager to Slack and Grafana (kube-prometheus-stack), InfluxDB for
Concourse's build metrics, and Telegraf probing every public host into the same InfluxDB.

InfluxDB 2 (not InfluxDB 3 Core) because its chart keeps data on a persistent volume with a bucket retention that
the stack configures (`observability.influxdbRetention`), and InfluxDB 2 is the line Concourse's 1.x-API emitter
is known to work with. The 1.x write API needs a v1 user and a DBRP mapping: the image's first-start init script
creates both (the script sits in the chart's ConfigMap; the password it sets comes from a Secret through the
environment). InfluxDB 3 Core accepts 1.x writes without that step, but its chart (0.1.0) is new, keeps data in an
object store or a file volume without a retention setting per database, and wants a hand-made admin-token file.

Every secret is generated here (or, for the Slack webhook, supplied by a person as a `secure:` value) and lands
only in Kubernetes Secrets the charts reference by name; the values builders below never see a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import catalog, config, naming
from components.config import StackConfig
from components.endpoints import InfluxTarget, SearchReader
from components.services import release

NAMESPACE = naming.NAMESPACES["monitoring"]

PROMETHEUS_STACK = "kube-prometheus-stack"
INFLUXDB = "influxdb"
TELEGRAF = "telegraf"

GRAFANA_ADMIN_USER = "admin"
GRAFANA_ADMIN_SECRET = "grafana-admin"
GRAFANA_ELASTICSEARCH_SECRET = "grafana-elasticsearch"
ALERTMANAGER_SLACK_SECRET = "alertmanager-slack"
SLACK_WEBHOOK_KEY = "webhook-url"
INFLUXDB_AUTH_SECRET = "influxdb-auth"
INFLUXDB_V1_SECRET = "influxdb-v1"

# The one 1.x-API login of InfluxDB: Concourse's emitter and Telegraf write with it, Grafana reads with it.
INFLUXDB_ORG = "cdstack"
INFLUXDB_DATABASE = "metrics"
INFLUXDB_V1_USER = "metrics"
INFLUXDB_PASSWORD_ENV = "INFLUXDB_PASSWORD"
ELASTICSEARCH_PASSWORD_ENV = "ELASTICSEARCH_PASSWORD"
# fullnameOverride makes the chart's Service exactly `influxdb` (port 80) instead of `influxdb-influxdb2`.
INFLUXDB_URL = f"http://{INFLUXDB}.{NAMESPACE}.svc:80"

# Alert thresholds, each explained where it is used.
CERT_WARN_DAYS = 14
CERT_CRITICAL_DAYS = 3
WORKER_VOLUME_FREE_RATIO = 0.15

CONCOURSE_NS = naming.NAMESPACES["concourse"]
VAULT_NS = naming.NAMESPACES["secrets"]


def influx_target(password: pulumi.Output[str]) -> InfluxTarget:
    """Where Concourse writes: fixed names and the generated password, so Concourse waits on the password only."""
    return InfluxTarget(url=INFLUXDB_URL, database=INFLUXDB_DATABASE, username=INFLUXDB_V1_USER, password=password)


def _ingress(host: str, tls_secret: str) -> dict[str, Any]:
    """Grafana's ingress (same shape in kube-prometheus-stack's and the grafana chart's values)."""
    return {
        "enabled": True,
        "ingressClassName": naming.INGRESS_CLASS,
        "annotations": {"cert-manager.io/cluster-issuer": naming.CLUSTER_ISSUER},
        "hosts": [host],
        "tls": [{"secretName": tls_secret, "hosts": [host]}],
    }


def _rule(alert: str, expr: str, duration: str, severity: str, summary: str) -> dict[str, Any]:
    return {
        "alert": alert,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {"summary": summary},
    }


def alert_rules() -> dict[str, Any]:
    """The failures operators of this stack actually hit, as PrometheusRule groups (additionalPrometheusRulesMap)."""
    worker_pvc = f'namespace="{CONCOURSE_NS}", persistentvolumeclaim=~"concourse-work-dir-.*"'
    vault_ready = f'kube_pod_container_status_ready{{namespace="{VAULT_NS}", container="vault"}}'
    concourse = [
        # Every web replica reports the same database count, so max() de-duplicates. A worker stalls about two
        # heartbeat intervals after its last heartbeat; five minutes more rules out a slow heartbeat.
        _rule(
            "ConcourseWorkersStalled",
            'max(concourse_workers_registered{state="stalled"}) > 0',
            "5m",
            "warning",
            "{{ $value }} Concourse worker(s) stalled: builds on them hang until they are pruned or come back.",
        ),
        _rule(
            "ConcourseNoRunningWorkers",
            'max(concourse_workers_registered{state="running"}) < 1',
            "5m",
            "critical",
            "No Concourse worker is running: no build or check can start.",
        ),
        # The web ServiceMonitor's job is its `<release>-web-prometheus` Service; absent() also fires when every web
        # pod is gone, not only when the scrape fails.
        _rule(
            "ConcourseWebDown",
            f'absent(up{{namespace="{CONCOURSE_NS}", job=~".+-web-prometheus"}} == 1)',
            "5m",
            "critical",
            "No Concourse web instance answers Prometheus: the UI, API and scheduling are down.",
        ),
        # The worker StatefulSet's volume claim template is `concourse-work-dir`; a full volume fails every build.
        _rule(
            "ConcourseWorkerVolumeFilling",
            f"kubelet_volume_stats_available_bytes{{{worker_pvc}}}"
            f" / kubelet_volume_stats_capacity_bytes{{{worker_pvc}}} < {WORKER_VOLUME_FREE_RATIO}",
            "15m",
            "warning",
            "Concourse worker volume {{ $labels.persistentvolumeclaim }} has less than 15% free.",
        ),
        # concourse_db_connections is the open connections of each of web's database pools (sql.DB stats). Web
        # queries the database every few seconds, so a broken connection is closed at once and no new one can be
        # opened while PostgreSQL is unreachable: the sum per pod falls to zero. (concourse_db_queries_total is no
        # signal: it counts queries before they run, so it keeps rising while every query fails.)
        _rule(
            "ConcourseDatabaseUnreachable",
            f'sum by (pod) (concourse_db_connections{{namespace="{CONCOURSE_NS}"}}) == 0',
            "5m",
            "critical",
            "Concourse web {{ $labels.pod }} holds no PostgreSQL connection: the database is unreachable.",
        ),
    ]
    vault = [
        # The Vault chart's readiness probe fails while a server is sealed, so readiness is the seal state
        # (kube-state-metrics needs nothing from Vault). No ready server: Concourse cannot resolve any ((var)).
        _rule(
            "VaultUnavailable",
            f"sum({vault_ready}) == 0 or absent({vault_ready})",
            "5m",
            "critical",
            "No Vault server is unsealed and ready: Concourse cannot read credentials.",
        ),
        _rule(
            "VaultServerSealed",
            f"{vault_ready} == 0",
            "15m",
            "warning",
            "Vault server {{ $labels.pod }} is sealed or not running (auto-unseal through Key Vault failing?).",
        ),
    ]
    # Let's Encrypt certificates renew 30 days before expiry: 14 days left means renewal has failed for two weeks.
    expiry = "certmanager_certificate_expiration_timestamp_seconds - time()"
    certificates = [
        _rule(
            "CertificateExpiresSoon",
            f"{expiry} < {CERT_WARN_DAYS} * 86400",
            "1h",
            "warning",
            "Certificate {{ $labels.namespace }}/{{ $labels.name }} expires in under 14 days: renewal is failing.",
        ),
        _rule(
            "CertificateExpiresVerySoon",
            f"{expiry} < {CERT_CRITICAL_DAYS} * 86400",
            "10m",
            "critical",
            "Certificate {{ $labels.namespace }}/{{ $labels.name }} expires in under 3 days.",
        ),
    ]
    return {
        "cdstack": {
            "groups": [
                {"name": "concourse", "rules": concourse},
                {"name": "vault", "rules": vault},
                {"name": "certificates", "rules": certificates},
            ]
        }
    }


def alertmanager_config(slack_channel: str, slack_enabled: bool) -> dict[str, Any]:
    """Route everything to Slack (or to 'null' while no webhook is configured); Watchdog always to 'null'.

    Receivers and routes are lists, which Helm replaces rather than merges: the 'null' receiver stays listed.
    """
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    default_receiver = "null"
    if slack_enabled:
        default_receiver = "slack"
        receivers.append(
            {
                "name": "slack",
                "slack_configs": [
                    {
                        # Mounted from alertmanagerSpec.secrets: the URL never enters the Alertmanager config.
                        "api_url_file": f"/etc/alertmanager/secrets/{ALERTMANAGER_SLACK_SECRET}/{SLACK_WEBHOOK_KEY}",
                        "channel": slack_channel,
                        "send_resolved": True,
                        "title": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}",
                        "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
                    }
                ],
            }
        )
    return {
        "route": {
            "receiver": default_receiver,
            "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}],
        },
        "receivers": receivers,
    }


def prometheus_stack_values(cfg: StackConfig, slack_enabled: bool, search: SearchReader) -> dict[str, Any]:
    """kube-prometheus-stack: Prometheus, Alertmanager, Grafana (its `grafana.*` is the grafana subchart)."""
    obs = cfg.observability
    host = cfg.dns.host("grafana")
    selectors = ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig")
    return {
        # AKS runs etcd, the controller manager and the scheduler out of reach: their scrapers would only alert.
        "kubeEtcd": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        # Helm installs crds/ once and never upgrades it: the chart's CRD upgrade job (a pre-install/pre-upgrade
        # hook, kube-prometheus-stack charts/crds/templates/upgrade/) applies this chart version's CRDs server-side
        # before the operator starts, so a chart bump brings its CRDs along. busybox pinned (the chart says latest).
        "crds": {"upgradeJob": {"enabled": True, "image": {"busybox": {"tag": catalog.IMAGES["busybox"]}}}},
        "additionalPrometheusRulesMap": alert_rules(),
        "prometheus": {
            "prometheusSpec": {
                "retention": obs.prometheus_retention,
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": f"{obs.prometheus_storage_gi}Gi"}},
                        }
                    }
                },
                # Without these, Prometheus selects only objects labelled with its own release: Concourse's
                # ServiceMonitor and every other chart's would be ignored.
                **{f"{s}SelectorNilUsesHelmValues": False for s in selectors},
            }
        },
        "alertmanager": {
            "config": alertmanager_config(obs.slack_channel, slack_enabled),
            "alertmanagerSpec": {"secrets": [ALERTMANAGER_SLACK_SECRET] if slack_enabled else []},
        },
        "grafana": {
            "admin": {
                "existingSecret": GRAFANA_ADMIN_SECRET,
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            },
            # Datasource passwords reach Grafana as environment variables, which its provisioning expands.
            "envFromSecrets": [{"name": INFLUXDB_V1_SECRET}, {"name": GRAFANA_ELASTICSEARCH_SECRET}],
            "sidecar": {"datasources": {"defaultDatasourceEnabled": True}},  # the Prometheus datasource
            "additionalDataSources": [
                {
                    "name": "InfluxDB",
                    "uid": "influxdb",
                    "type": "influxdb",
                    "access": "proxy",
                    "url": INFLUXDB_URL,
                    "user": INFLUXDB_V1_USER,
                    "jsonData": {"dbName": INFLUXDB_DATABASE, "httpMode": "GET"},
                    "secureJsonData": {"password": f"${{{INFLUXDB_PASSWORD_ENV}}}"},
                },
                {
                    "name": "Elasticsearch",
                    "uid": "elasticsearch",
                    "type": "elasticsearch",
                    "access": "proxy",
                    "url": search.url,
                    "basicAuth": True,
                    "basicAuthUser": search.username,
                    # ECK's self-signed CA lives in the logging namespace, which Grafana's pod cannot mount: the
                    # in-cluster hop is encrypted but the server certificate is not verified.
                    "jsonData": {"index": search.index, "timeField": "@timestamp", "tlsSkipVerify": True},
                    "secureJsonData": {"basicAuthPassword": f"${{{ELASTICSEARCH_PASSWORD_ENV}}}"},
                },
            ],
            "ingress": _ingress(host, "grafana-tls"),
        },
    }


INFLUXDB_INIT_SCRIPT = f"""#!/bin/bash
# First start only (the image runs this after its own setup): give Concourse's 1.x-API emitter, Telegraf and
# Grafana a v1 login on the initial bucket and map the 1.x database name onto it.
set -euo pipefail
influx v1 dbrp create --org "$DOCKER_INFLUXDB_INIT_ORG" --bucket-id "$DOCKER_INFLUXDB_INIT_BUCKET_ID" \\
  --db {INFLUXDB_DATABASE} --rp autogen --default
influx v1 auth create --org "$DOCKER_INFLUXDB_INIT_ORG" --username {INFLUXDB_V1_USER} \\
  --password "${INFLUXDB_PASSWORD_ENV}" \\
  --read-bucket "$DOCKER_INFLUXDB_INIT_BUCKET_ID" --write-bucket "$DOCKER_INFLUXDB_INIT_BUCKET_ID"
"""


def influxdb_values(cfg: StackConfig) -> dict[str, Any]:
    """InfluxDB 2: one bucket with the configured retention, a v1 login for the 1.x write API."""
    obs = cfg.observability
    return {
        "fullnameOverride": INFLUXDB,
        "image": {"tag": catalog.IMAGES["influxdb2"]},
        "adminUser": {
            "organization": INFLUXDB_ORG,
            "bucket": INFLUXDB_DATABASE,
            "user": "admin",
            "retention_policy": obs.influxdb_retention,
            "existingSecret": INFLUXDB_AUTH_SECRET,
        },
        "persistence": {"enabled": True, "size": f"{obs.influxdb_storage_gi}Gi"},
        "env": [
            {
                "name": INFLUXDB_PASSWORD_ENV,
                "valueFrom": {"secretKeyRef": {"name": INFLUXDB_V1_SECRET, "key": INFLUXDB_PASSWORD_ENV}},
            }
        ],
        # Same key as the chart's example script, which it replaces (that one would download a template at start).
        "initScripts": {"enabled": True, "scripts": {"init.sh": INFLUXDB_INIT_SCRIPT}},
        # One replica: a PodDisruptionBudget with minAvailable 1 would block every node drain and AKS upgrade.
        "pdb": {"create": False},
    }


def telegraf_values(cfg: StackConfig) -> dict[str, Any]:
    """Telegraf probes every public host from inside the cluster (availability, latency, certificate expiry)."""
    urls = [f"https://{cfg.dns.host(service)}" for service in config.DEFAULT_HOST_LABELS]
    return {
        "envFromSecret": INFLUXDB_V1_SECRET,
        "config": {
            "outputs": [
                {
                    "influxdb": {
                        "urls": [INFLUXDB_URL],
                        "database": INFLUXDB_DATABASE,
                        "username": INFLUXDB_V1_USER,
                        "password": f"${{{INFLUXDB_PASSWORD_ENV}}}",  # Telegraf expands it from the environment
                        "skip_database_creation": True,  # the v1 login may write, not create databases
                    }
                }
            ],
            "inputs": [
                {"http_response": {"urls": urls, "response_timeout": "10s", "method": "GET"}},
                {"x509_cert": {"sources": [f"{url}:443" for url in urls]}},
            ],
        },
        # Nothing listens for pushes (the default statsd input is replaced), and one replica must not block drains.
        "service": {"enabled": False},
        "pdb": {"create": False},
    }


def secret_data(
    grafana_admin_password: pulumi.Input[str], influx_v1_password: pulumi.Input[str]
) -> dict[str, Mapping[str, pulumi.Input[str]]]:
    """The monitoring Secrets that do not depend on another component, by name."""
    return {
        GRAFANA_ADMIN_SECRET: {"admin-user": GRAFANA_ADMIN_USER, "admin-password": grafana_admin_password},
        INFLUXDB_V1_SECRET: {INFLUXDB_PASSWORD_ENV: influx_v1_password},
    }


class Monitoring(pulumi.ComponentResource):
    """kube-prometheus-stack, InfluxDB and Telegraf in the monitoring namespace. Waits for nothing of Concourse."""

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: k8s.Provider,
        search: SearchReader,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:services:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = release.namespace(NAMESPACE, provider, self)

        def password(purpose: str) -> pulumi.Output[str]:
            return random.RandomPassword(f"{purpose}-password", length=32, special=False, opts=child).result

        influx_password = password("influxdb-v1")
        self.influx_target = influx_target(influx_password)
        self.grafana_admin_user = GRAFANA_ADMIN_USER

        secrets = {
            key: release.secret(key, ns, data, provider, self)
            for key, data in secret_data(password("grafana-admin"), influx_password).items()
        }
        secrets[GRAFANA_ELASTICSEARCH_SECRET] = release.secret(
            GRAFANA_ELASTICSEARCH_SECRET, ns, {ELASTICSEARCH_PASSWORD_ENV: search.password}, provider, self
        )
        influx_auth = release.secret(
            INFLUXDB_AUTH_SECRET,
            ns,
            {"admin-password": password("influxdb-admin"), "admin-token": password("influxdb-admin-token")},
            provider,
            self,
        )

        webhook = config.secret("slackWebhookUrl")
        if webhook is None:
            warn_no_webhook(cfg, "Alertmanager", "every alert goes to the 'null' receiver")
        else:
            secrets[ALERTMANAGER_SLACK_SECRET] = release.secret(
                ALERTMANAGER_SLACK_SECRET, ns, {SLACK_WEBHOOK_KEY: webhook}, provider, self
            )

        # depends_on: the charts mount these Secrets by name; pods cannot start (and the atomic install would wait
        # out its timeout) until they exist.
        self.prometheus_stack = release.release(
            PROMETHEUS_STACK,
            PROMETHEUS_STACK,
            cfg,
            ns,
            prometheus_stack_values(cfg, webhook is not None, search),
            provider,
            self,
            depends_on=list(secrets.values()),
        )
        self.influxdb = release.release(
            INFLUXDB,
            "influxdb2",
            cfg,
            ns,
            influxdb_values(cfg),
            provider,
            self,
            depends_on=[influx_auth, secrets[INFLUXDB_V1_SECRET]],  # admin login and the v1 password, by name
        )
        self.telegraf = release.release(
            TELEGRAF,
            TELEGRAF,
            cfg,
            ns,
            telegraf_values(cfg),
            provider,
            self,
            depends_on=[secrets[INFLUXDB_V1_SECRET]],  # its environment comes from this Secret, by name
        )
        self.register_outputs({"grafanaAdminUser": self.grafana_admin_user})


def warn_no_webhook(cfg: StackConfig, who: str, fallback: str) -> None:
    """No `secure:` slackWebhookUrl: the stack still deploys, but alerts reach nobody. Say so, louder in production."""
    where = f"`pulumi config set --secret slackWebhookUrl <url>` on stack {cfg.stack}"
    if cfg.production:
        pulumi.log.warn(
            f"PRODUCTION STACK WITHOUT ALERTS: {who} has no Slack webhook, so {fallback} and nobody is told. "
            f"Set it with {where} and run `pulumi up` again."
        )
    else:
        pulumi.log.warn(f"{who} has no Slack webhook: {fallback}. Set it with {where}.")
