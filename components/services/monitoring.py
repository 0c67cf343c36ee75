"""Monitoring and alerting: Prometheus, Alertmanager to Slack and Grafana (kube-prometheus-stack), InfluxDB for
Concourse's build metrics, Telegraf probing every public host into the same InfluxDB, and the blackbox exporter probing
TLS and DNS from every node for the alerts.

Alerts and dashboards are files, not code: alerts/prometheus/*.yaml become PrometheusRules, dashboards/*.json
labelled ConfigMaps in Grafana's "cdstack" folder (components/alerting.py finds and checks them). This module only
wires them in, with the routing: a Slack channel per severity, warnings inhibited under the matching critical, and
the Watchdog dead-man's switch sent to an external heartbeat.

InfluxDB 2 (not InfluxDB 3 Core) because its chart keeps data on a persistent volume with a bucket retention that
the stack configures (`observability.influxdbRetention`), and InfluxDB 2 is the line Concourse's 1.x-API emitter
is known to work with. The 1.x write API needs a v1 user and a DBRP mapping: the image's first-start init script
creates both (the script sits in a ConfigMap of ours, not the chart's: the chart mounts its own 0744 and root-owned,
which the image's entrypoint would not run as the unprivileged user InfluxDB runs as; the password it sets comes from a
Secret through the environment). InfluxDB 3 Core accepts 1.x writes without that step, but its chart (0.1.0) is new,
keeps data in an object store or a file volume without a retention setting per database, and wants a hand-made
admin-token file.

Every secret is generated here (or, for the Slack webhook and the heartbeat URL, supplied by a person as `secure:`
values) and lands only in Kubernetes Secrets the charts reference by name; the values builders never see a secret.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import alert_facts, alerting, catalog, hardening, naming, sizing
from components.config import secrets as config_secrets
from components.config.schema import ObservabilityConfig, StackConfig
from components.endpoints import InfluxTarget, SearchReader
from components.services import release

NAMESPACE = naming.NAMESPACES["monitoring"]

PROMETHEUS_STACK = "kube-prometheus-stack"
# The chart's Services (templates/prometheus/service.yaml, templates/alertmanager/service.yaml: the release's fullname,
# which is the release name when it contains the chart's name) and their default ports.
PROMETHEUS_SERVICE = f"{PROMETHEUS_STACK}-prometheus"
PROMETHEUS_PORT = 9090
ALERTMANAGER_SERVICE = f"{PROMETHEUS_STACK}-alertmanager"
ALERTMANAGER_PORT = 9093
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

BLACKBOX = "blackbox-exporter"
DASHBOARD_LABEL = "grafana_dashboard"
"""kube-prometheus-stack's Grafana sidecar loads every ConfigMap with this label (grafana.sidecar.dashboards.label)."""
FOLDER_ANNOTATION = "grafana_folder"


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


# The Alertmanager config mounts Secrets at this path (alertmanagerSpec.secrets): URLs never enter the config.
SECRETS_PATH = "/etc/alertmanager/secrets"
HEARTBEAT_SECRET = "alertmanager-heartbeat"
HEARTBEAT_URL_KEY = "url"

INHIBIT_EQUAL = ["alertname", "namespace", "pod", "name", "persistentvolumeclaim", "node", "instance", "worker"]
"""A critical silences the warning of the same alert about the same object: the same name and these labels (a label
neither carries counts as equal, so an alert without an object label matches on its name alone)."""


SMOKE_RECEIVER = "smoke"
"""Alertmanager's receiver for the end-to-end smoke's test alert (tools/smoke_e2e.py checks the routing)."""


def alertmanager_config(obs: ObservabilityConfig, slack_enabled: bool, heartbeat_enabled: bool) -> dict[str, Any]:
    """Route by severity to a Slack channel each (or to 'null' while no webhook is configured), Watchdog to the
    heartbeat, and inhibit warnings while the critical of the same alert fires.

    Receivers and routes are lists, which Helm replaces rather than merges: the 'null' receiver stays listed.
    """
    # The end-to-end smoke's test alert (tools/smoke_e2e.py, label smoke="true") has a receiver of its own, without a
    # notifier: the smoke checks that Alertmanager routed it there, and no person is paged by a deploy.
    receivers: list[dict[str, Any]] = [{"name": "null"}, {"name": SMOKE_RECEIVER}]
    routes: list[dict[str, Any]] = [
        # The dead-man's switch: always firing; re-sent every heartbeat interval so the external check hears it.
        {
            "receiver": "heartbeat" if heartbeat_enabled else "null",
            "matchers": ['alertname = "Watchdog"'],
            "group_wait": "0s",
            "group_interval": obs.heartbeat_interval,
            "repeat_interval": obs.heartbeat_interval,
        },
        # kube-prometheus-stack's InfoInhibitor exists only to inhibit info alerts (below); it is not news.
        {"receiver": "null", "matchers": ['alertname = "InfoInhibitor"']},
        {"receiver": SMOKE_RECEIVER, "matchers": ['smoke = "true"']},
    ]
    if heartbeat_enabled:
        receivers.append(
            {
                "name": "heartbeat",
                # url_file: prometheus/alertmanager config/notifiers.go WebhookConfig.
                "webhook_configs": [
                    {"url_file": f"{SECRETS_PATH}/{HEARTBEAT_SECRET}/{HEARTBEAT_URL_KEY}", "send_resolved": False}
                ],
            }
        )
    default_receiver = "null"
    if slack_enabled:
        for severity in alerting.SEVERITIES:
            receivers.append(
                {
                    "name": f"slack-{severity}",
                    "slack_configs": [
                        {
                            "api_url_file": f"{SECRETS_PATH}/{ALERTMANAGER_SLACK_SECRET}/{SLACK_WEBHOOK_KEY}",
                            "channel": obs.channel_for(severity),
                            "send_resolved": True,
                            "title": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} "
                            "({{ .CommonLabels.severity }})",
                            "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\n"
                            "Runbook: {{ .Annotations.runbook }}\n{{ end }}",
                        }
                    ],
                }
            )
            routes.append({"receiver": f"slack-{severity}", "matchers": [f'severity = "{severity}"']})
        # An alert without a known severity (a chart's own rule, a typo) still reaches people, as a warning.
        default_receiver = "slack-warning"
    return {
        "route": {"receiver": default_receiver, "group_by": ["alertname", "namespace"], "routes": routes},
        "receivers": receivers,
        "inhibit_rules": [
            {
                "source_matchers": ['severity = "critical"'],
                "target_matchers": ['severity = "warning"'],
                "equal": INHIBIT_EQUAL,
            },
            {
                "source_matchers": ['alertname = "InfoInhibitor"'],
                "target_matchers": ['severity = "info"'],
                "equal": ["namespace"],
            },
        ],
    }


NOT_RUN_HERE = ("kubeProxy", "kubeEtcd", "kubeScheduler", "kubeControllerManager")
"""What kube-prometheus-stack scrapes and alerts on by default but this stack cannot see: the Cilium dataplane
replaces kube-proxy, and AKS runs etcd, the scheduler and the controller manager out of reach. Left on, they fire
KubeProxyDown, TargetDown and the like forever. `<key>.enabled: false` drops the ServiceMonitor and the rule groups:
each of the chart's templates/prometheus/rules-1.14/{etcd,kube-scheduler.rules,kubernetes-system-scheduler,
kubernetes-system-controller-manager,kubernetes-system-kube-proxy}.yaml is guarded by `.Values.<key>.enabled` as
well as by its `defaultRules.rules.<group>` switch, so those switches are not set (the audit found them dead)."""
REPLACED_DEFAULT_ALERTS = ("KubeNodeNotReady", "KubeNodePressure")
"""The chart's alerts that alerts/prometheus/nodes.yaml replaces with this stack's runbooks: each failure pages once."""
VAULT_POD_LABELS = "pods=[vault-active,vault-sealed]"
"""Vault's Kubernetes service registration labels its pods; kube-state-metrics exports only allowed labels
(`--metric-labels-allowlist`), and alerts/prometheus/vault.yaml reads these two from kube_pod_labels."""


VAULT_METRICS_JOB = "vault"
"""The PodMonitor of Vault's metrics listener; Prometheus names its job `monitoring/vault` (alerts/prometheus/vault.yaml
VaultMetricsMissing)."""


def vault_pod_monitor() -> dict[str, Any]:
    """Prometheus reads the active Vault server's metrics listener (services/secrets.py metrics_hcl), without a token.

    Only the active server: standbys do not answer /v1/sys/metrics (Vault API docs, /sys/metrics), and Vault's
    service registration labels the active pod `vault-active: "true"`. TLS without verification: Vault's CA is in the
    vault namespace, and a PodMonitor's TLS secrets must be in its own (this one is rendered into monitoring by
    kube-prometheus-stack's prometheus.additionalPodMonitors); the metrics are unauthenticated anyway, the
    connection stays encrypted, and the vault chart's own ServiceMonitor makes the same choice by default."""
    return {
        "name": VAULT_METRICS_JOB,
        "namespaceSelector": {"matchNames": [naming.NAMESPACES["secrets"]]},
        "selector": {"matchLabels": {"app.kubernetes.io/name": "vault", "component": "server", "vault-active": "true"}},
        "podMetricsEndpoints": [
            {
                "port": "metrics",
                "path": "/v1/sys/metrics",
                "params": {"format": ["prometheus"]},
                "scheme": "https",
                "interval": "30s",
                "tlsConfig": {"insecureSkipVerify": True},
            }
        ],
    }


def influxdb_datasource() -> dict[str, Any]:
    """Grafana's InfluxDB datasource (build metrics), where the stack runs InfluxDB."""
    return {
        "name": "InfluxDB",
        "uid": "influxdb",
        "type": "influxdb",
        "access": "proxy",
        "url": INFLUXDB_URL,
        "user": INFLUXDB_V1_USER,
        "jsonData": {"dbName": INFLUXDB_DATABASE, "httpMode": "GET"},
        "secureJsonData": {"password": f"${{{INFLUXDB_PASSWORD_ENV}}}"},
    }


def elasticsearch_datasource(search: SearchReader) -> dict[str, Any]:
    """Grafana's log datasource, where the stack runs Elasticsearch."""
    return {
        "name": "Elasticsearch",
        "uid": "elasticsearch",
        "type": "elasticsearch",
        "access": "proxy",
        "url": search.url,
        "basicAuth": True,
        "basicAuthUser": search.username,
        # ECK's self-signed CA lives in the logging namespace, which Grafana's pod cannot mount: the in-cluster hop
        # is encrypted but the server certificate is not verified.
        "jsonData": {"index": search.index, "timeField": "@timestamp", "tlsSkipVerify": True},
        "secureJsonData": {"basicAuthPassword": f"${{{ELASTICSEARCH_PASSWORD_ENV}}}"},
    }


def grafana_hardening() -> dict[str, Any]:
    """Grafana as nobody under a read-only root (its sidecars' context is in `sidecar`). The image runs as any user
    that can write its data path; the chart keeps /var/lib/grafana and the search index (/var/lib/grafana-search) on
    emptyDirs and the sidecars write only into theirs (grafana subchart templates/_pod.tpl). Grafana's other paths,
    /tmp and its logs path (/var/log/grafana, the chart's grafana.ini paths.logs), get an emptyDir each."""
    return {
        "securityContext": {**hardening.pod_context(), "fsGroup": hardening.NOBODY},
        "containerSecurityContext": {**hardening.LOCKED_CONTAINER, "seccompProfile": hardening.RUNTIME_DEFAULT},
        "extraEmptyDirMounts": [
            {"name": "tmp", "mountPath": hardening.TMP},
            {"name": "logs", "mountPath": "/var/log/grafana"},
        ],
    }


def prometheus_stack_values(
    cfg: StackConfig, slack_enabled: bool, search: SearchReader | None, heartbeat_enabled: bool = False
) -> dict[str, Any]:
    """kube-prometheus-stack: Prometheus, Alertmanager, Grafana (its `grafana.*` is the grafana subchart).

    The rules are the files of alerts/prometheus (one PrometheusRule each, named after the file). Grafana's InfluxDB
    and Elasticsearch datasources (and the Secrets carrying their passwords) only where those parts run: `search` is
    None without Elasticsearch."""
    obs = cfg.observability
    host = cfg.dns.host("grafana")
    selectors = ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig")
    mounted = [ALERTMANAGER_SLACK_SECRET] if slack_enabled else []
    mounted += [HEARTBEAT_SECRET] if heartbeat_enabled else []
    datasources = [influxdb_datasource()] if cfg.parts.influxdb else []
    env_secrets = [{"name": INFLUXDB_V1_SECRET}] if cfg.parts.influxdb else []
    if search is not None:
        datasources.append(elasticsearch_datasource(search))
        env_secrets.append({"name": GRAFANA_ELASTICSEARCH_SECRET})
    return {
        **{key: {"enabled": False} for key in NOT_RUN_HERE},
        "defaultRules": {"disabled": dict.fromkeys(REPLACED_DEFAULT_ALERTS, True)},
        # One PrometheusRule per file; the chart renders each entry's `groups` with toYaml and no tpl
        # (templates/prometheus/additionalPrometheusRules.yaml), so `{{ $value }}` reaches Prometheus untouched.
        # Plus the config's thresholds the build-path alerts compare against, as recorded constants (alert_facts.py).
        "additionalPrometheusRulesMap": {**prometheus_rules(cfg), alert_facts.RULE: alert_facts.rules(cfg)},
        "kube-state-metrics": {"metricLabelsAllowlist": [VAULT_POD_LABELS]},
        # node-exporter reads /proc and /sys read-only as nobody (the chart's securityContext): it needs no
        # capability and no privilege escalation, and runs under the runtime's seccomp profile.
        "prometheus-node-exporter": {
            "securityContext": {"seccompProfile": hardening.RUNTIME_DEFAULT},
            "containerSecurityContext": hardening.LOCKED_CONTAINER,
        },
        # Helm installs crds/ once and never upgrades it: the chart's CRD upgrade job (a pre-install/pre-upgrade
        # hook, kube-prometheus-stack charts/crds/templates/upgrade/) applies this chart version's CRDs server-side
        # before the operator starts, so a chart bump brings its CRDs along. busybox pinned (the chart says latest).
        "crds": {"upgradeJob": {"enabled": True, "image": {"busybox": {"tag": catalog.IMAGES["busybox"]}}}},
        # The admission webhook's certificate jobs (kube-webhook-certgen, a static binary) run as nobody rather than
        # the chart's uid 2000 (under the high-UID bar); its non-root and seccomp settings stay.
        "prometheusOperator": {
            "admissionWebhooks": {
                job: {"securityContext": {"runAsUser": hardening.NOBODY, "runAsGroup": hardening.NOBODY}}
                for job in ("patch", "createSecretJob")
            }
        },
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
            },
            "additionalPodMonitors": [vault_pod_monitor()] if cfg.vault.mode == "in-cluster" else [],
        },
        "alertmanager": {
            "config": alertmanager_config(obs, slack_enabled, heartbeat_enabled),
            "alertmanagerSpec": {"secrets": mounted},
        },
        "grafana": {
            "admin": {
                "existingSecret": GRAFANA_ADMIN_SECRET,
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            },
            # Datasource passwords reach Grafana as environment variables, which its provisioning expands.
            "envFromSecrets": env_secrets,
            "sidecar": {
                "securityContext": {**hardening.LOCKED_CONTAINER, "seccompProfile": hardening.RUNTIME_DEFAULT},
                "datasources": {"defaultDatasourceEnabled": True},  # the Prometheus datasource, uid "prometheus"
                # Dashboards from labelled ConfigMaps (dashboard_configmaps), each in the folder its annotation names.
                "dashboards": {
                    "enabled": True,
                    "label": DASHBOARD_LABEL,
                    "folderAnnotation": FOLDER_ANNOTATION,
                    "provider": {"foldersFromFilesStructure": True},
                },
            },
            "additionalDataSources": datasources,
            "ingress": _ingress(host, "grafana-tls"),
            **grafana_hardening(),
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


INFLUXDB_INIT_CONFIGMAP = "influxdb-init-scripts"
"""The first-start script's ConfigMap (INFLUXDB_INIT_SCRIPT), mounted executable for any user."""

INFLUXDB_INIT_DIR = "/docker-entrypoint-initdb.d"
"""Where the image's entrypoint runs executable `*.sh` files from on first start (influxdata-docker
influxdb/2.7/entrypoint.sh USER_SCRIPT_DIR, `find -executable` then run-parts)."""


def influxdb_values(cfg: StackConfig) -> dict[str, Any]:
    """InfluxDB 2: one bucket with the configured retention, a v1 login for the 1.x write API.

    It runs as nobody from the start, under a read-only root: the image's entrypoint steps down from root itself
    (gosu, which needs capabilities) but runs as given otherwise, and writes only the data volume, its config directory
    /etc/influxdb2 (INFLUX_CONFIGS_PATH, an anonymous VOLUME in the image) and /tmp/config.json during setup
    (influxdata-docker influxdb/2.7/Dockerfile and entrypoint.sh). The chart gives the pod no securityContext value
    but sets fsGroup from the container's runAsGroup (influxdb2 2.1.2 templates/statefulset.yaml), which makes the
    data volume writable to it."""
    obs = cfg.observability
    config_dir, config_mount = hardening.scratch("config", "/etc/influxdb2")
    tmp, tmp_mount = hardening.scratch("tmp")
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
        # The chart's own init ConfigMap is off: it would take our script's path with mode 0744 (module docstring).
        "initScripts": {"enabled": False},
        "volumes": [
            {"name": "init-scripts", "configMap": {"name": INFLUXDB_INIT_CONFIGMAP, "defaultMode": 0o555}},
            config_dir,
            tmp,
        ],
        "mountPoints": [
            {"name": "init-scripts", "mountPath": INFLUXDB_INIT_DIR, "readOnly": True},
            config_mount,
            tmp_mount,
        ],
        "securityContext": {
            **hardening.LOCKED_CONTAINER,
            "runAsNonRoot": True,
            "runAsUser": hardening.NOBODY,
            "runAsGroup": hardening.NOBODY,
            "seccompProfile": hardening.RUNTIME_DEFAULT,
        },
        # One replica: a PodDisruptionBudget with minAvailable 1 would block every node drain and AKS upgrade.
        "pdb": {"create": False},
    }


def telegraf_values(cfg: StackConfig) -> dict[str, Any]:
    """Telegraf probes every public host from inside the cluster (availability, latency, certificate expiry)."""
    urls = [f"https://{cfg.dns.host(service)}" for service in cfg.public_services()]
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
        # Its inputs (HTTP and TLS probes) need no raw socket and it writes nothing; the image's entrypoint execs
        # Telegraf as the user it is given when that is not root (influxdata-docker telegraf/1.39/alpine/entrypoint.sh).
        "securityContext": hardening.pod_context(),
        "containerSecurityContext": hardening.LOCKED_CONTAINER,
    }


BLACKBOX_MODULES: dict[str, Any] = {
    # HTTPS through the public address: the public name resolves to the load balancer's IP, so the probe takes the
    # path users take; probe_http_duration_seconds{phase="tls"} is the handshake (blackbox_exporter prober/http.go).
    "https_tls": {
        "prober": "http",
        "timeout": "10s",
        "http": {
            "valid_http_versions": ["HTTP/1.1", "HTTP/2.0"],
            "follow_redirects": True,  # Vault, Grafana and Kibana redirect / to their login pages
            "fail_if_not_ssl": True,
            "preferred_ip_protocol": "ip4",
        },
    },
}


def _dns_module(name: str) -> dict[str, Any]:
    return {
        "prober": "dns",
        "timeout": "5s",
        "dns": {
            "query_name": name,
            "query_type": "A",
            "valid_rcodes": ["NOERROR"],
            "transport_protocol": "udp",
            "preferred_ip_protocol": "ip4",
        },
    }


def blackbox_values(cfg: StackConfig) -> dict[str, Any]:
    """prometheus-blackbox-exporter as a DaemonSet: every node probes every public host over HTTPS and resolves an
    in-cluster and an external name through the cluster DNS service (alerts/prometheus/probes.yaml).

    A ServiceMonitor scrapes every endpoint of the Service, so each node's pod runs each probe and the `node` label
    says which node saw a failure (chart 11.17.2: templates/servicemonitor.yaml, daemonset.yaml). Telegraf keeps its
    http_response and x509_cert probes: they feed the availability history in InfluxDB; the alerts use these.
    """
    dns_server = cfg.network.dns_service_ip
    targets = [
        {"name": f"tls-{service}", "url": f"https://{cfg.dns.host(service)}", "module": "https_tls"}
        for service in cfg.public_services()
    ]
    targets += [
        {"name": "dns-cluster", "url": dns_server, "module": "dns_cluster"},
        {"name": "dns-external", "url": dns_server, "module": "dns_external"},
    ]
    return {
        "kind": "DaemonSet",
        # Every node, the tainted Concourse worker pool's too: that is where builds hit TLS and DNS failures.
        "tolerations": [{"operator": "Exists"}],
        # A static binary that writes nothing: it runs as nobody (the chart's container default is uid 1000, under
        # the high-UID bar) under the runtime's seccomp profile.
        "podSecurityContext": hardening.pod_context(),
        "securityContext": {"runAsUser": hardening.NOBODY, "runAsGroup": hardening.NOBODY},
        # One small pod per node: probing every 30 s needs little; the limit keeps a runaway probe off the node.
        "resources": sizing.sized("10m", "32Mi"),
        "config": {
            "modules": {
                **BLACKBOX_MODULES,
                "dns_cluster": _dns_module("kubernetes.default.svc.cluster.local"),
                # A public name of this stack: CoreDNS forwards it to Azure DNS, the path every external lookup takes.
                "dns_external": _dns_module(cfg.dns.host("concourse")),
            }
        },
        "serviceMonitor": {
            "enabled": True,
            "defaults": {
                "interval": "30s",
                "scrapeTimeout": "15s",
                "additionalRelabeling": [{"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"}],
            },
            "targets": targets,
        },
    }


CONSUL_RULE_FILES = ("consul",)
"""alerts/prometheus files about Consul: loaded only where Vault's store is Consul (they would watch nothing)."""
CONSUL_QUERY = "consul"
"""A dashboard panel whose queries name this shows Consul: dropped where there is no Consul (an empty panel)."""


def prometheus_rules(cfg: StackConfig) -> dict[str, dict[str, Any]]:
    """The rule files this stack's Prometheus loads: every file, Consul's only where Vault runs on Consul."""
    consul = cfg.vault.in_cluster_store == "consul"
    return {
        stem: rules for stem, rules in alerting.prometheus_rules().items() if consul or stem not in CONSUL_RULE_FILES
    }


def without_consul(dashboard: dict[str, Any]) -> dict[str, Any]:
    """The dashboard without its Consul panels (their queries name Consul's pods), and "Consul" out of its title."""

    def shows_consul(panel: dict[str, Any]) -> bool:
        return any(CONSUL_QUERY in query for _, query in alerting.prometheus_queries({"panels": [panel]}))

    panels = [
        {**panel, "panels": [p for p in panel["panels"] if not shows_consul(p)]} if panel.get("panels") else panel
        for panel in dashboard.get("panels") or []
        if not shows_consul(panel)
    ]
    title = str(dashboard.get("title", "")).replace(" and Consul", "")
    return {**dashboard, "title": title, "panels": panels}


def dashboard_configmaps(cfg: StackConfig) -> dict[str, dict[str, Any]]:
    """Every dashboards/*.json as a ConfigMap's name, labels, annotations and data: the Grafana sidecar loads it into
    the one "cdstack" folder. Without Consul (Vault on Raft, or external), Consul's panels are left out."""
    consul = cfg.vault.in_cluster_store == "consul"
    return {
        f"dashboard-{stem}": {
            "labels": {DASHBOARD_LABEL: "1"},
            "annotations": {FOLDER_ANNOTATION: alerting.DASHBOARD_FOLDER},
            "data": {
                f"{stem}.json": json.dumps(dashboard if consul else without_consul(dashboard), indent=1, sort_keys=True)
            },
        }
        for stem, dashboard in alerting.dashboards().items()
    }


def secret_data(
    grafana_admin_password: pulumi.Input[str], influx_v1_password: pulumi.Input[str] | None
) -> dict[str, Mapping[str, pulumi.Input[str]]]:
    """The monitoring Secrets that do not depend on another component, by name (InfluxDB's v1 login only where
    InfluxDB runs)."""
    data: dict[str, Mapping[str, pulumi.Input[str]]] = {
        GRAFANA_ADMIN_SECRET: {"admin-user": GRAFANA_ADMIN_USER, "admin-password": grafana_admin_password}
    }
    if influx_v1_password is not None:
        data[INFLUXDB_V1_SECRET] = {INFLUXDB_PASSWORD_ENV: influx_v1_password}
    return data


class Monitoring(pulumi.ComponentResource):
    """kube-prometheus-stack, InfluxDB and Telegraf (parts.influxdb) in the monitoring namespace. Waits for nothing of
    Concourse. `search` is Elasticsearch's reader login, None where the stack runs no Elasticsearch."""

    influx_target: InfluxTarget | None
    """Where Concourse writes build metrics; None without InfluxDB."""

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: k8s.Provider,
        search: SearchReader | None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:services:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = release.namespace(NAMESPACE, provider, self)
        self.namespace = ns

        def password(purpose: str) -> pulumi.Output[str]:
            return random.RandomPassword(f"{purpose}-password", length=32, special=False, opts=child).result

        influx_password = password("influxdb-v1") if cfg.parts.influxdb else None
        self.influx_target = influx_target(influx_password) if influx_password is not None else None
        self.grafana_admin_user = GRAFANA_ADMIN_USER

        secrets = {
            key: release.secret(key, ns, data, provider, self)
            for key, data in secret_data(password("grafana-admin"), influx_password).items()
        }
        if search is not None:
            secrets[GRAFANA_ELASTICSEARCH_SECRET] = release.secret(
                GRAFANA_ELASTICSEARCH_SECRET, ns, {ELASTICSEARCH_PASSWORD_ENV: search.password}, provider, self
            )

        webhook = config_secrets.secret("slackWebhookUrl")
        if webhook is None:
            warn_no_webhook(cfg, "Alertmanager", "every alert goes to the 'null' receiver")
        else:
            secrets[ALERTMANAGER_SLACK_SECRET] = release.secret(
                ALERTMANAGER_SLACK_SECRET, ns, {SLACK_WEBHOOK_KEY: webhook}, provider, self
            )
        heartbeat = config_secrets.secret("heartbeatUrl")
        if heartbeat is None:
            pulumi.log.warn(
                "Alertmanager has no heartbeatUrl: the Watchdog dead-man's switch goes nowhere, so nobody notices if "
                "alerting itself dies. Set it with `pulumi config set --secret heartbeatUrl <url>` on stack "
                f"{cfg.stack}."
            )
        else:
            secrets[HEARTBEAT_SECRET] = release.secret(
                HEARTBEAT_SECRET, ns, {HEARTBEAT_URL_KEY: heartbeat}, provider, self
            )

        # depends_on: the charts mount these Secrets by name; pods cannot start (and the atomic install would wait
        # out its timeout) until they exist.
        self.prometheus_stack = release.release(
            PROMETHEUS_STACK,
            PROMETHEUS_STACK,
            cfg,
            ns,
            prometheus_stack_values(cfg, webhook is not None, search, heartbeat_enabled=heartbeat is not None),
            provider,
            self,
            depends_on=list(secrets.values()),
        )
        if cfg.parts.influxdb:
            self._build_metrics(cfg, ns, provider, secrets[INFLUXDB_V1_SECRET], password)
        # After kube-prometheus-stack: its CRDs define the ServiceMonitors this chart renders.
        self.blackbox = release.release(
            BLACKBOX,
            "prometheus-blackbox-exporter",
            cfg,
            ns,
            blackbox_values(cfg),
            provider,
            self,
            depends_on=[self.prometheus_stack],
        )
        for name, dashboard in dashboard_configmaps(cfg).items():
            k8s.core.v1.ConfigMap(
                name,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=name,
                    namespace=ns.metadata.name,
                    labels=dashboard["labels"],
                    annotations=dashboard["annotations"],
                ),
                data=dashboard["data"],
                opts=pulumi.ResourceOptions(parent=self, provider=provider),
            )
        self.register_outputs({"grafanaAdminUser": self.grafana_admin_user})

    def _build_metrics(
        self,
        cfg: StackConfig,
        ns: k8s.core.v1.Namespace,
        provider: k8s.Provider,
        v1_secret: k8s.core.v1.Secret,
        password: Callable[[str], pulumi.Output[str]],
    ) -> None:
        """InfluxDB and Telegraf (parts.influxdb), both waiting on the Secrets they read by name."""
        influx_auth = release.secret(
            INFLUXDB_AUTH_SECRET,
            ns,
            {"admin-password": password("influxdb-admin"), "admin-token": password("influxdb-admin-token")},
            provider,
            self,
        )
        init_scripts = k8s.core.v1.ConfigMap(
            INFLUXDB_INIT_CONFIGMAP,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=INFLUXDB_INIT_CONFIGMAP, namespace=ns.metadata.name),
            data={"init.sh": INFLUXDB_INIT_SCRIPT},
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        release.release(
            INFLUXDB,
            "influxdb2",
            cfg,
            ns,
            influxdb_values(cfg),
            provider,
            self,
            # admin login, the v1 password and the first-start script, by name
            depends_on=[influx_auth, v1_secret, init_scripts],
        )
        release.release(
            TELEGRAF,
            TELEGRAF,
            cfg,
            ns,
            telegraf_values(cfg),
            provider,
            self,
            depends_on=[v1_secret],  # its environment comes from this Secret, by name
        )


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
