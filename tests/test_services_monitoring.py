"""Monitoring: kube-prometheus-stack, InfluxDB and Telegraf values, alert rules, Secrets, and the releases."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components import catalog, naming
from components.endpoints import SearchReader
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


def test_aks_hidden_control_plane_is_not_scraped():
    values = all_values("staging", False)["kube-prometheus-stack"]
    for component in ("kubeEtcd", "kubeControllerManager", "kubeScheduler"):
        assert values[component] == {"enabled": False}


def test_alertmanager_posts_to_slack_through_a_mounted_secret_file():
    alertmanager = all_values("prod", True)["kube-prometheus-stack"]["alertmanager"]
    assert alertmanager["alertmanagerSpec"]["secrets"] == [monitoring.ALERTMANAGER_SLACK_SECRET]
    config = alertmanager["config"]
    assert config["route"]["receiver"] == "slack"
    receivers = {r["name"]: r for r in config["receivers"]}
    assert set(receivers) == {"null", "slack"}
    slack = receivers["slack"]["slack_configs"][0]
    assert slack["api_url_file"] == "/etc/alertmanager/secrets/alertmanager-slack/webhook-url"
    assert slack["channel"] == "#cd-alerts"
    assert "api_url" not in slack
    # Watchdog is the always-firing heartbeat: it must keep going to 'null', never to Slack.
    assert config["route"]["routes"] == [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]


def test_without_a_webhook_everything_goes_to_null_and_no_secret_is_mounted():
    alertmanager = all_values("staging", False)["kube-prometheus-stack"]["alertmanager"]
    assert alertmanager["alertmanagerSpec"]["secrets"] == []
    assert alertmanager["config"]["route"]["receiver"] == "null"
    assert [r["name"] for r in alertmanager["config"]["receivers"]] == ["null"]


def rules_by_name() -> dict[str, dict[str, Any]]:
    groups = monitoring.alert_rules()["cdstack"]["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def test_alert_rules_cover_the_failures_operators_hit():
    rules = rules_by_name()
    assert set(rules) == {
        "ConcourseWorkersStalled",
        "ConcourseNoRunningWorkers",
        "ConcourseWebDown",
        "ConcourseWorkerVolumeFilling",
        "ConcourseDatabaseUnreachable",
        "VaultUnavailable",
        "VaultServerSealed",
        "CertificateExpiresSoon",
        "CertificateExpiresVerySoon",
    }
    assert 'concourse_workers_registered{state="stalled"}) > 0' in rules["ConcourseWorkersStalled"]["expr"]
    assert 'concourse_workers_registered{state="running"}' in rules["ConcourseNoRunningWorkers"]["expr"]
    assert "concourse-work-dir-" in rules["ConcourseWorkerVolumeFilling"]["expr"]
    assert "kubelet_volume_stats_available_bytes" in rules["ConcourseWorkerVolumeFilling"]["expr"]
    assert "concourse_db_connections" in rules["ConcourseDatabaseUnreachable"]["expr"]
    assert 'namespace="vault"' in rules["VaultUnavailable"]["expr"]
    assert "certmanager_certificate_expiration_timestamp_seconds" in rules["CertificateExpiresSoon"]["expr"]
    assert all(rule["labels"]["severity"] in {"warning", "critical"} for rule in rules.values())
    assert all(rule["annotations"]["summary"] and rule["for"] for rule in rules.values())


@pytest.mark.parametrize("name", sorted(rules_by_name()))
def test_alert_expressions_are_balanced(name: str):
    expr = rules_by_name()[name]["expr"]
    for opening, closing in ("()", "{}", "[]"):
        depth = 0
        for char in expr:
            depth += (char == opening) - (char == closing)
            assert depth >= 0, f"{name}: unbalanced {opening}{closing} in {expr}"
        assert depth == 0, f"{name}: unbalanced {opening}{closing} in {expr}"
    assert expr.count('"') % 2 == 0


def test_rules_go_in_the_non_deprecated_map():
    values = all_values("staging", False)["kube-prometheus-stack"]
    assert values["additionalPrometheusRulesMap"] == monitoring.alert_rules()
    assert "additionalPrometheusRules" not in values


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
    script = values["initScripts"]["scripts"]["init.sh"]
    assert values["initScripts"]["enabled"] is True
    assert "influx v1 dbrp create" in script and "--db metrics" in script
    assert "influx v1 auth create" in script and '--password "$INFLUXDB_PASSWORD"' in script
    assert values["env"] == [
        {
            "name": "INFLUXDB_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "influxdb-v1", "key": "INFLUXDB_PASSWORD"}},
        }
    ]


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
    logging = Logging("logging", cfg, provider)
    return Monitoring("monitoring", cfg, provider, logging.search_reader)


@pytest.fixture(scope="module")
def prod_plan() -> offline.Plan:
    return plan_services("prod", build_monitoring, WITH_WEBHOOK)


@pytest.mark.parametrize(
    "name,chart_key",
    [("kube-prometheus-stack", "kube-prometheus-stack"), ("influxdb", "influxdb2"), ("telegraf", "telegraf")],
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
    assert deps("influxdb") == {"monitoring-namespace", "influxdb-auth-secret", "influxdb-v1-secret"}
    assert deps("telegraf") == {"monitoring-namespace", "influxdb-v1-secret"}
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
def test_observability_in_the_stack_waits_for_nothing_of_concourse(stack: str, plan_of):
    plan = plan_of(stack)
    cluster_provider = plan.by_type("pulumi:providers:kubernetes")
    assert len(cluster_provider) == 1
    names = ["kube-prometheus-stack", "influxdb", "telegraf", "eck-operator", "eck-stack", "elastalert2", "chartmuseum"]
    for name in names:
        registration = plan.get(RELEASE, name)
        assert registration.provider.startswith(cluster_provider[0].urn), name
        waits_on = closure(plan, registration.urn)
        assert not [urn for urn in waits_on if "concourse" in urn.split("::")[-1] and "chartmuseum" not in urn], name
        assert not [urn for urn in waits_on if "azuread" in urn], name  # nor on the Concourse login app


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_stack_outputs_name_the_logins_never_a_password(stack: str, plan_of):
    outputs = plan_of(stack).outputs
    assert outputs["grafanaAdminUser"] == "admin"
    assert outputs["grafanaAdminSecret"] == "monitoring/grafana-admin"
    assert outputs["chartmuseumUser"] == "charts"
    assert outputs["chartmuseumAuthSecret"] == "chartmuseum/chartmuseum-auth"
    assert offline.SECRET not in json.dumps(outputs)


def test_prometheus_stack_crds_follow_chart_upgrades():
    upgrade = all_values("staging", False)["kube-prometheus-stack"]["crds"]["upgradeJob"]
    assert upgrade["enabled"] is True
    assert upgrade["image"]["busybox"]["tag"] == catalog.IMAGES["busybox"] != "latest"
