"""Monitoring: kube-prometheus-stack, InfluxDB and Telegraf values, alert rules, Secrets, and the releases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components import alert_facts, alerting, catalog, naming
from components.config import schema
from components.endpoints import SearchReader
from components.services import logging as logging_module
from components.services import monitoring
from components.services.logging import Logging
from components.services.monitoring import Monitoring
from tests.services import (
    WITH_WEBHOOK,
    assert_release,
    names_of,
    plan_services,
    release_values,
    secret_string,
    snapshot_target,
    stack_cfg,
)
from tools import offline

SENTINEL = "SENTINEL-secret-value-7f3a"
SEARCH = SearchReader(
    url="https://elasticsearch-es-http.logging.svc:9200",
    index="filebeat-*",
    username="grafana",
    password=secret_string(SENTINEL),
)
RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"


def all_values(stack: str, slack: bool) -> dict[str, Any]:
    cfg = stack_cfg(stack)
    return {
        "kube-prometheus-stack": monitoring.prometheus_stack_values(cfg, slack, SEARCH),
        "influxdb2": monitoring.influxdb_values(cfg),
        "telegraf": monitoring.telegraf_values(cfg),
    }


def test_prometheus_keeps_its_data_and_sees_every_monitor_and_rule():
    spec = all_values("prod", True)["kube-prometheus-stack"]["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "30d"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "100Gi"
    assert claim["accessModes"] == ["ReadWriteOnce"]
    for kind in ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False


NOT_RUN_HERE = {"kubeProxy", "kubeEtcd", "kubeScheduler", "kubeControllerManager"}


def test_what_cilium_replaces_and_aks_hides_is_neither_scraped_nor_alerted():
    """Issue 10 item 12: no kube-proxy under Cilium; etcd, scheduler, controller manager are AKS's."""
    values = all_values("staging", False)["kube-prometheus-stack"]
    for component in NOT_RUN_HERE:
        assert values[component] == {"enabled": False}
    # Their rule groups go with them (each rules template also reads `.Values.<component>.enabled`): the
    # defaultRules.rules switches would be dead settings. That each key is the chart's and changes the rendered
    # manifests is the audit's dead-settings check (make audit; tests/test_real_charts.py with the pinned charts).
    assert "rules" not in values["defaultRules"]
    # The chart's node alerts that alerts/prometheus/nodes.yaml replaces, so each failure pages once.
    assert values["defaultRules"]["disabled"] == {"KubeNodeNotReady": True, "KubeNodePressure": True}
    assert {"NodeNotReady", "NodeDiskPressure"} <= {a.name for a in alerting.alerts()}


def test_kube_state_metrics_exports_the_vault_pod_labels_the_vault_alerts_read():
    values = all_values("staging", False)["kube-prometheus-stack"]
    assert values["kube-state-metrics"] == {"metricLabelsAllowlist": ["pods=[vault-active,vault-sealed]"]}
    vault_rules = (alerting.PROMETHEUS_DIR / "vault.yaml").read_text()
    assert "label_vault_active" in vault_rules and "label_vault_sealed" in vault_rules


def receivers_of(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in config["receivers"]}


def test_alertmanager_routes_each_severity_to_its_slack_channel_through_a_mounted_secret_file():
    cfg = stack_cfg("prod", observability={"slackChannel": "#cd-alerts", "slackChannels": {"critical": "#cd-pages"}})
    config = monitoring.alertmanager_config(cfg.observability, slack_enabled=True, heartbeat_enabled=False)
    receivers = receivers_of(config)
    assert set(receivers) == {"null", "smoke", "slack-critical", "slack-warning", "slack-info"}
    channels = {name: r["slack_configs"][0]["channel"] for name, r in receivers.items() if name.startswith("slack-")}
    assert channels == {"slack-critical": "#cd-pages", "slack-warning": "#cd-alerts", "slack-info": "#cd-alerts"}
    for name in channels:
        slack = receivers[name]["slack_configs"][0]
        assert slack["api_url_file"] == "/etc/alertmanager/secrets/alertmanager-slack/webhook-url"
        assert "api_url" not in slack
        assert "{{ .Annotations.runbook }}" in slack["text"] and "{{ .Annotations.description }}" in slack["text"]
    by_severity = {r["matchers"][0]: r["receiver"] for r in config["route"]["routes"] if "severity" in r["matchers"][0]}
    assert by_severity == {f'severity = "{s}"': f"slack-{s}" for s in ("critical", "warning", "info")}
    assert config["route"]["receiver"] == "slack-warning"  # an alert without a known severity still reaches people


def test_a_critical_inhibits_the_warning_of_the_same_alert_about_the_same_object():
    config = monitoring.alertmanager_config(stack_cfg("prod").observability, True, False)
    [severity_rule] = [r for r in config["inhibit_rules"] if r["source_matchers"] == ['severity = "critical"']]
    assert severity_rule["target_matchers"] == ['severity = "warning"']
    assert severity_rule["equal"][0] == "alertname"
    # The pairs in the rule files share the alert name and every label the inhibition compares.
    for pair in ("ConcourseWorkerDiskFilling", "CertificateExpiresSoon"):
        assert {a.severity for a in alerting.alerts() if a.name == pair} == {"warning", "critical"}


def test_watchdog_goes_to_the_heartbeat_every_interval_or_to_null_without_one():
    obs = stack_cfg("prod", observability={"slackChannel": "#cd-alerts", "heartbeatInterval": "2m"}).observability
    config = monitoring.alertmanager_config(obs, slack_enabled=True, heartbeat_enabled=True)
    [watchdog] = [r for r in config["route"]["routes"] if r["matchers"] == ['alertname = "Watchdog"']]
    assert config["route"]["routes"][0] is watchdog  # before the severity routes: never to Slack
    assert watchdog["receiver"] == "heartbeat"
    assert (watchdog["repeat_interval"], watchdog["group_interval"]) == ("2m", "2m")
    [webhook] = receivers_of(config)["heartbeat"]["webhook_configs"]
    assert webhook == {"url_file": "/etc/alertmanager/secrets/alertmanager-heartbeat/url", "send_resolved": False}
    without = monitoring.alertmanager_config(obs, slack_enabled=True, heartbeat_enabled=False)
    assert without["route"]["routes"][0]["receiver"] == "null"
    assert "heartbeat" not in receivers_of(without)


def test_both_secrets_are_mounted_when_both_are_configured():
    values = monitoring.prometheus_stack_values(stack_cfg("prod"), True, SEARCH, heartbeat_enabled=True)
    assert values["alertmanager"]["alertmanagerSpec"]["secrets"] == ["alertmanager-slack", "alertmanager-heartbeat"]


def test_without_a_webhook_everything_goes_to_null_and_no_secret_is_mounted():
    alertmanager = all_values("staging", False)["kube-prometheus-stack"]["alertmanager"]
    assert alertmanager["alertmanagerSpec"]["secrets"] == []
    assert alertmanager["config"]["route"]["receiver"] == "null"
    assert [r["name"] for r in alertmanager["config"]["receivers"]] == ["null", "smoke"]  # neither notifies


def test_rules_are_the_rule_files_and_the_recorded_facts_in_the_non_deprecated_map():
    values = all_values("staging", False)["kube-prometheus-stack"]
    rules = dict(values["additionalPrometheusRulesMap"])
    assert rules.pop(alert_facts.RULE) == alert_facts.rules(stack_cfg("staging"))
    every = alerting.prometheus_rules()
    # Vault on Raft (the shipped stacks): no Consul, so no Consul alerts.
    assert rules == {k: v for k, v in every.items() if k != "consul"}
    assert set(rules) == {p.stem for p in alerting.rule_files()} - {"consul"}
    assert "additionalPrometheusRules" not in values
    on_consul = stack_cfg("staging", vault={"storage": "consul"})
    assert monitoring.prometheus_rules(on_consul) == every


def test_no_alert_is_defined_in_python():
    source = Path(monitoring.__file__).read_text() + Path(logging_module.__file__).read_text()
    assert "expr" not in source and "query_string" not in source and "severity:" not in source


def test_blackbox_probes_every_public_host_and_dns_from_every_node():
    values = monitoring.blackbox_values(stack_cfg("prod"))
    assert values["kind"] == "DaemonSet"
    assert values["tolerations"] == [{"operator": "Exists"}]
    assert values["resources"]["requests"] == {"cpu": "10m", "memory": "32Mi"}  # one pod on every node
    targets = {t["name"]: t for t in values["serviceMonitor"]["targets"]}
    assert targets["tls-concourse"]["url"] == "https://ci.cd.contoso.com"
    assert targets["tls-concourse"]["module"] == "https_tls"
    assert {n for n in targets if n.startswith("tls-")} == {f"tls-{h}" for h in schema.DEFAULT_HOST_LABELS}
    dns_ip = stack_cfg("prod").network.dns_service_ip
    assert targets["dns-cluster"]["url"] == targets["dns-external"]["url"] == dns_ip
    modules = values["config"]["modules"]
    assert set(modules) == {t["module"] for t in targets.values()}
    assert modules["https_tls"]["http"]["fail_if_not_ssl"] is True
    assert modules["dns_external"]["dns"]["query_name"] == "ci.cd.contoso.com"
    relabel = values["serviceMonitor"]["defaults"]["additionalRelabeling"]
    assert relabel == [{"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"}]
    # The probe alerts select on these target names.
    probes = (alerting.PROMETHEUS_DIR / "probes.yaml").read_text()
    assert 'target=~"tls-.+"' in probes and 'target=~"dns-.+"' in probes


def test_dashboards_show_consul_only_where_it_runs():
    def panels(cfg: Any) -> dict[str, list[str]]:
        maps = monitoring.dashboard_configmaps(cfg)
        loaded = {name: json.loads(next(iter(m["data"].values()))) for name, m in maps.items()}
        return {name: [p.get("title", "") for p in alerting.panels_of(d)] for name, d in loaded.items()}

    raft, consul = panels(stack_cfg("prod")), panels(stack_cfg("prod", vault={"storage": "consul"}))
    assert any("Consul" in title for title in consul["dashboard-vault-consul"])
    assert not any("Consul" in title for titles in raft.values() for title in titles)
    assert "Vault servers ready" in raft["dashboard-vault-consul"]  # Vault's own panels stay
    for name, titles in raft.items():
        assert titles, f"{name} lost every panel"
    title = json.loads(
        next(iter(monitoring.dashboard_configmaps(stack_cfg("prod"))["dashboard-vault-consul"]["data"].values()))
    )["title"]
    assert "Consul" not in title


def test_dashboards_are_labelled_configmaps_in_the_cdstack_folder():
    maps = monitoring.dashboard_configmaps(stack_cfg("staging"))
    assert set(maps) == {f"dashboard-{p.stem}" for p in alerting.DASHBOARDS_DIR.glob("*.json")}
    for dashboard in maps.values():
        assert dashboard["labels"] == {"grafana_dashboard": "1"}
        assert dashboard["annotations"] == {"grafana_folder": "cdstack"}
        [text] = dashboard["data"].values()
        json.loads(text)
    sidecar = all_values("prod", False)["kube-prometheus-stack"]["grafana"]["sidecar"]["dashboards"]
    assert sidecar["label"] == "grafana_dashboard"
    assert sidecar["folderAnnotation"] == "grafana_folder"
    assert sidecar["provider"]["foldersFromFilesStructure"] is True


def test_grafana_admin_from_a_secret_and_datasources_for_prometheus_influxdb_elasticsearch():
    grafana = all_values("staging", False)["kube-prometheus-stack"]["grafana"]
    assert grafana["admin"] == {
        "existingSecret": "grafana-admin",
        "userKey": "admin-user",
        "passwordKey": "admin-password",
    }
    assert grafana["sidecar"]["datasources"]["defaultDatasourceEnabled"] is True  # Prometheus
    sources = {s["type"]: s for s in grafana["additionalDataSources"]}
    assert set(sources) == {"influxdb", "elasticsearch"}
    influx = sources["influxdb"]
    assert influx["url"] == "http://influxdb.monitoring.svc:80"
    assert influx["jsonData"]["dbName"] == monitoring.INFLUXDB_DATABASE
    assert influx["secureJsonData"] == {"password": "${INFLUXDB_PASSWORD}"}
    search = sources["elasticsearch"]
    assert search["url"] == SEARCH.url
    assert search["basicAuthUser"] == "grafana"
    assert search["secureJsonData"] == {"basicAuthPassword": "${ELASTICSEARCH_PASSWORD}"}
    # The ${VAR}s above come from these Secrets' keys.
    assert grafana["envFromSecrets"] == [{"name": "influxdb-v1"}, {"name": "grafana-elasticsearch"}]


def test_grafana_is_public_with_tls_from_the_cluster_issuer():
    ingress = all_values("staging", False)["kube-prometheus-stack"]["grafana"]["ingress"]
    assert ingress["enabled"] is True
    assert ingress["ingressClassName"] == naming.INGRESS_CLASS
    assert ingress["annotations"] == {"cert-manager.io/cluster-issuer": naming.CLUSTER_ISSUER}
    assert ingress["hosts"] == ["grafana.staging.cd.contoso.com"]
    assert ingress["tls"] == [{"secretName": "grafana-tls", "hosts": ["grafana.staging.cd.contoso.com"]}]


def test_influxdb_gives_concourse_a_v1_login_and_keeps_data_for_the_configured_retention():
    values = all_values("staging", False)["influxdb2"]
    assert values["image"]["tag"] == catalog.IMAGES["influxdb2"]
    assert values["fullnameOverride"] == "influxdb"
    assert values["adminUser"]["existingSecret"] == monitoring.INFLUXDB_AUTH_SECRET
    assert values["adminUser"]["retention_policy"] == "30d"
    assert values["adminUser"]["bucket"] == monitoring.INFLUXDB_DATABASE
    assert values["persistence"] == {"enabled": True, "size": "20Gi"}
    assert values["pdb"] == {"create": False}
    script = monitoring.INFLUXDB_INIT_SCRIPT
    assert "influx v1 dbrp create" in script and "--db metrics" in script
    assert "influx v1 auth create" in script and '--password "$INFLUXDB_PASSWORD"' in script
    assert values["env"] == [
        {
            "name": "INFLUXDB_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "influxdb-v1", "key": "INFLUXDB_PASSWORD"}},
        }
    ]


def test_influxdb_runs_unprivileged_and_its_first_start_script_is_executable_for_that_user():
    values = all_values("staging", False)["influxdb2"]
    context = values["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] >= 10000
    assert context["readOnlyRootFilesystem"] is True and context["capabilities"] == {"drop": ["ALL"]}
    # The chart's own init ConfigMap (mode 0744, root-owned) would not run as nobody: ours, world-executable, does.
    assert values["initScripts"] == {"enabled": False}
    volumes = {v["name"]: v for v in values["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in values["mountPoints"]}
    init = volumes[mounts[monitoring.INFLUXDB_INIT_DIR]]["configMap"]
    assert init["name"] == monitoring.INFLUXDB_INIT_CONFIGMAP and init["defaultMode"] & 0o001
    # What the image's entrypoint writes besides the data volume: its config directory and the setup config in /tmp.
    assert "emptyDir" in volumes[mounts["/etc/influxdb2"]] and "emptyDir" in volumes[mounts["/tmp"]]


def test_influx_target_is_built_from_names_and_the_password_only():
    target = monitoring.influx_target(secret_string(SENTINEL))
    assert target.url == "http://influxdb.monitoring.svc:80"
    assert (target.database, target.username, target.password) == ("metrics", "metrics", SENTINEL)


def test_telegraf_writes_probes_of_every_public_host_with_the_v1_login():
    values = all_values("prod", False)["telegraf"]
    assert values["envFromSecret"] == "influxdb-v1"
    [output] = values["config"]["outputs"]
    assert output["influxdb"]["urls"] == [monitoring.INFLUXDB_URL]
    assert output["influxdb"]["password"] == "${INFLUXDB_PASSWORD}"
    inputs = {next(iter(i)): next(iter(i.values())) for i in values["config"]["inputs"]}
    assert inputs["http_response"]["urls"] == [
        "https://ci.cd.contoso.com",
        "https://vault.cd.contoso.com",
        "https://grafana.cd.contoso.com",
        "https://kibana.cd.contoso.com",
        "https://charts.cd.contoso.com",
    ]
    assert "https://ci.cd.contoso.com:443" in inputs["x509_cert"]["sources"]
    assert values["pdb"] == {"create": False}


@pytest.mark.parametrize("slack", [True, False])
def test_no_secret_appears_in_any_values(slack: bool):
    text = json.dumps(all_values("prod", slack))
    assert SENTINEL not in text
    assert "hooks.slack.com" not in text


def test_generated_secrets_land_in_their_kubernetes_secrets():
    data = monitoring.secret_data(secret_string("admin-sentinel"), secret_string("v1-sentinel"))
    assert data["grafana-admin"] == {"admin-user": "admin", "admin-password": "admin-sentinel"}
    assert data["influxdb-v1"] == {"INFLUXDB_PASSWORD": "v1-sentinel"}


def build_monitoring(cfg, provider):
    logging = Logging("logging", cfg, provider, snapshot_target())
    return Monitoring("monitoring", cfg, provider, logging.search_reader)


@pytest.fixture(scope="module")
def prod_plan() -> offline.Plan:
    return plan_services("prod", build_monitoring, WITH_WEBHOOK)


@pytest.mark.parametrize(
    "name,chart_key",
    [
        ("kube-prometheus-stack", "kube-prometheus-stack"),
        ("influxdb", "influxdb2"),
        ("telegraf", "telegraf"),
        ("blackbox-exporter", "prometheus-blackbox-exporter"),
    ],
)
def test_releases_are_pinned_atomic_and_timed(prod_plan: offline.Plan, name: str, chart_key: str):
    assert_release(prod_plan, name, chart_key, "monitoring")


def test_releases_wait_only_for_the_secrets_they_mount(prod_plan: offline.Plan):
    def deps(name: str) -> set[str]:
        return names_of(prod_plan, prod_plan.get(RELEASE, name).dependencies)

    assert deps("kube-prometheus-stack") == {
        "monitoring-namespace",
        "alertmanager-slack-secret",
        "grafana-admin-secret",
        "grafana-elasticsearch-secret",
        "influxdb-v1-secret",
    }
    assert deps("influxdb") == {
        "monitoring-namespace",
        "influxdb-auth-secret",
        "influxdb-v1-secret",
        "influxdb-init-scripts",
    }
    assert deps("telegraf") == {"monitoring-namespace", "influxdb-v1-secret"}
    assert deps("blackbox-exporter") == {"monitoring-namespace", "kube-prometheus-stack"}  # the ServiceMonitor CRD
    # Grafana's Elasticsearch password comes from the reader password, not from the logging releases.
    assert names_of(prod_plan, prod_plan.get(SECRET, "grafana-elasticsearch-secret").dependencies) == {
        "grafana-reader-password",
        "monitoring-namespace",
    }


def test_secret_values_stay_secret_and_out_of_helm(prod_plan: offline.Plan):
    for registration in prod_plan.by_type(SECRET):
        assert registration.inputs["stringData"] == offline.SECRET
    for registration in prod_plan.by_type(RELEASE):
        text = json.dumps(registration.inputs["values"])
        assert offline.SECRET not in text, registration.name
        assert offline.SECURE_PLACEHOLDER not in text, registration.name


def test_the_webhook_secret_exists_only_when_the_stack_has_one(prod_plan: offline.Plan):
    assert prod_plan.get(SECRET, "alertmanager-slack-secret").inputs["metadata"]["name"] == "alertmanager-slack"
    values = release_values(prod_plan, "kube-prometheus-stack")
    assert values["alertmanager"]["alertmanagerSpec"]["secrets"] == ["alertmanager-slack"]

    warnings: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(monitoring.pulumi.log, "warn", lambda message, *args, **kwargs: warnings.append(message))
        plan = plan_services("prod", build_monitoring)
    assert not [r for r in plan.by_type(SECRET) if r.name == "alertmanager-slack-secret"]
    assert release_values(plan, "kube-prometheus-stack")["alertmanager"]["config"]["route"]["receiver"] == "null"
    assert any(w.startswith("PRODUCTION STACK WITHOUT ALERTS: Alertmanager has no Slack") for w in warnings), warnings


def test_staging_without_a_webhook_warns_plainly():
    warnings: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(monitoring.pulumi.log, "warn", lambda message, *args, **kwargs: warnings.append(message))
        plan_services("staging", build_monitoring)
    assert any("Alertmanager has no Slack webhook" in w for w in warnings), warnings
    assert not any("PRODUCTION" in w for w in warnings)


def closure(plan: offline.Plan, urn: str) -> set[str]:
    """Every resource `urn` waits on, directly or through others."""
    by_urn = {r.urn: r for r in plan.registrations}
    seen: set[str] = set()
    todo = list(by_urn[urn].dependencies)
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += by_urn[current].dependencies if current in by_urn else []
    return seen


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_observability_in_the_stack_waits_for_nothing_of_concourse(stack: str, shared_plan):
    plan = shared_plan(stack)
    cluster_provider = plan.by_type("pulumi:providers:kubernetes")
    assert len(cluster_provider) == 1
    names = ["kube-prometheus-stack", "influxdb", "telegraf", "blackbox-exporter", "eck-operator", "eck-stack"]
    names += ["elastalert2", "chartmuseum"]
    for name in names:
        registration = plan.get(RELEASE, name)
        assert registration.provider.startswith(cluster_provider[0].urn), name
        waits_on = closure(plan, registration.urn)
        assert not [urn for urn in waits_on if "concourse" in urn.split("::")[-1] and "chartmuseum" not in urn], name
        assert not [urn for urn in waits_on if "azuread" in urn], name  # nor on the Concourse login app


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_stack_outputs_name_the_logins_never_a_password(stack: str, shared_plan):
    outputs = shared_plan(stack).outputs
    assert outputs["grafanaAdminUser"] == "admin"
    assert outputs["grafanaAdminSecret"] == "monitoring/grafana-admin"
    assert outputs["chartmuseumUser"] == "charts"
    assert outputs["chartmuseumAuthSecret"] == "chartmuseum/chartmuseum-auth"
    assert outputs["elasticsearchReaderSecret"] == "logging/elasticsearch-grafana-reader"  # ECK's file-realm viewer
    assert offline.SECRET not in json.dumps(outputs)


def test_the_plan_provisions_every_dashboard_as_a_labelled_configmap(prod_plan: offline.Plan):
    maps = {r.name: r for r in prod_plan.by_type("kubernetes:core/v1:ConfigMap") if r.name.startswith("dashboard-")}
    assert set(maps) == {f"dashboard-{p.stem}" for p in alerting.DASHBOARDS_DIR.glob("*.json")}
    for registration in maps.values():
        metadata = registration.inputs["metadata"]
        assert metadata["labels"] == {"grafana_dashboard": "1"}
        assert metadata["annotations"] == {"grafana_folder": "cdstack"}


def test_a_heartbeat_url_becomes_a_mounted_secret_and_the_watchdog_receiver():
    plan = plan_services("prod", build_monitoring, {**WITH_WEBHOOK, "cdstack:heartbeatUrl": {"secure": "v1:hb"}})
    secret = plan.get(SECRET, "alertmanager-heartbeat-secret")
    assert secret.inputs["metadata"]["name"] == "alertmanager-heartbeat"
    assert secret.inputs["stringData"] == offline.SECRET
    alertmanager = release_values(plan, "kube-prometheus-stack")["alertmanager"]
    assert alertmanager["alertmanagerSpec"]["secrets"] == ["alertmanager-slack", "alertmanager-heartbeat"]
    assert alertmanager["config"]["route"]["routes"][0]["receiver"] == "heartbeat"
    assert "alertmanager-heartbeat-secret" in names_of(plan, plan.get(RELEASE, "kube-prometheus-stack").dependencies)


def test_prometheus_stack_crds_follow_chart_upgrades():
    upgrade = all_values("staging", False)["kube-prometheus-stack"]["crds"]["upgradeJob"]
    assert upgrade["enabled"] is True
    assert upgrade["image"]["busybox"]["tag"] == catalog.IMAGES["busybox"] != "latest"
