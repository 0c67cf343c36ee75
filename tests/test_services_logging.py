"""Logging: ECK operator and eck-stack values (Elasticsearch, Kibana, Filebeat), log retention, ElastAlert 2."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from components import alerting, catalog, naming
from components.services import logging
from components.services.logging import Logging
from tests.services import (
    WITH_WEBHOOK,
    assert_release,
    names_of,
    plan_services,
    secret_string,
    snapshot_target,
    stack_cfg,
)
from tools import offline

RELEASE = "kubernetes:helm.sh/v3:Release"
WEBHOOK = "https://hooks.slack.com/services/SENTINEL/WEBHOOK"


def test_elasticsearch_is_sized_from_config():
    es = logging.stack_values(stack_cfg("prod"))["eck-elasticsearch"]
    assert es["fullnameOverride"] == "elasticsearch"
    [node_set] = es["nodeSets"]
    assert node_set["count"] == 3
    [claim] = node_set["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "elasticsearch-data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "200Gi"
    assert es["volumeClaimDeletePolicy"] == "DeleteOnScaledownOnly"
    assert es["auth"] == {"fileRealm": [{"secretName": logging.GRAFANA_READER_SECRET}]}
    staging = logging.stack_values(stack_cfg("staging"))["eck-elasticsearch"]["nodeSets"][0]
    assert staging["count"] == 1
    assert staging["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "50Gi"


def test_kibana_uses_that_elasticsearch_behind_the_ingress_with_tls():
    kibana = logging.stack_values(stack_cfg("staging"))["eck-kibana"]
    assert kibana["elasticsearchRef"] == {"name": "elasticsearch"}
    assert kibana["config"]["status.allowAnonymous"] is True  # the smoke test reads /api/status without a login
    ingress = kibana["ingress"]
    assert ingress["enabled"] is True
    assert ingress["className"] == naming.INGRESS_CLASS
    assert ingress["annotations"] == {"cert-manager.io/cluster-issuer": naming.CLUSTER_ISSUER}
    assert ingress["hosts"] == [{"host": "kibana.staging.cd.contoso.com", "path": "/"}]
    assert ingress["tls"] == {"enabled": True, "secretName": "kibana-tls"}
    # TLS ends at the ingress: Kibana itself serves plain HTTP to it.
    assert kibana["http"] == {"tls": {"selfSignedCertificate": {"disabled": True}}}
    assert kibana["config"]["server.publicBaseUrl"] == "https://kibana.staging.cd.contoso.com"


def test_filebeat_ships_every_nodes_container_logs_to_that_elasticsearch():
    beats = logging.stack_values(stack_cfg("prod"))["eck-beats"]
    assert beats["enabled"] is True
    assert beats["type"] == "filebeat"
    assert beats["elasticsearchRef"] == {"name": "elasticsearch"}
    [source] = beats["config"]["filebeat.inputs"]
    assert source["paths"] == ["/var/log/containers/*.log"]
    spec = beats["daemonSet"]["podTemplate"]["spec"]
    assert spec["tolerations"] == [{"operator": "Exists"}]  # the tainted Concourse worker pool too
    mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert {"/var/log/containers", "/var/log/pods", logging.ILM_MOUNT} <= mounts
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["ilm-policy"]["configMap"]["name"] == logging.ILM_CONFIGMAP
    assert beats["clusterRoleBinding"]["subjects"] == [{"kind": "ServiceAccount", "name": "filebeat"}]
    assert spec["serviceAccountName"] == beats["serviceAccount"]["name"] == "filebeat"


def test_log_retention_is_an_ilm_policy_filebeat_installs_and_reapplies_on_change():
    cfg = stack_cfg("staging")
    policy = logging.log_retention_policy(cfg.observability.log_retention_days)
    assert policy["policy"]["phases"]["delete"] == {"min_age": "14d", "actions": {"delete": {}}}
    assert policy["policy"]["phases"]["hot"]["actions"]["rollover"]["max_age"] == "1d"
    beats = logging.stack_values(cfg)["eck-beats"]
    assert beats["config"]["setup.ilm.policy_file"] == f"{logging.ILM_MOUNT}/policy.json"
    assert beats["config"]["setup.ilm.overwrite"] is True
    annotations = beats["daemonSet"]["podTemplate"]["metadata"]["annotations"]
    assert annotations == {"cdstack.io/log-retention-days": "14"}


def test_elastalert_talks_verified_tls_with_ecks_ca_and_elastic_password():
    es = logging.elastalert_values()["elasticsearch"]
    assert es["host"] == "elasticsearch-es-http.logging.svc"
    assert (es["useSsl"], es["verifyCerts"]) == ("True", "True")
    assert es["credentialsSecret"] == "elasticsearch-es-elastic-user"
    assert es["credentialsSecretPasswordKey"] == "elastic"
    assert es["caCerts"] == "/certs/ca.crt"
    [volume] = es["certsVolumes"]
    assert volume["secret"]["secretName"] == "elasticsearch-es-http-certs-public"
    assert es["certsVolumeMounts"] == [{"name": volume["name"], "mountPath": "/certs", "readOnly": True}]


def test_elastalert_rules_come_from_a_secret_never_from_values():
    values = logging.elastalert_values()
    assert values["secretRulesName"] == logging.ELASTALERT_RULES_SECRET
    assert values["secretRulesList"] == sorted(p.stem for p in alerting.ELASTALERT_DIR.glob("*.yaml"))
    assert "rules" not in values


def test_rules_are_the_rule_files_with_the_slack_alerter():
    rules = logging.elastalert_rules("#cd-alerts", WEBHOOK)
    assert set(rules) == {
        "concourse-vault-lookups-failing",
        "tls-handshake-timeouts",
        "concourse-database-errors",
        "vault-access-denied",
        "vault-root-token-used",
    }
    for name, rule in rules.items():
        assert {k: v for k, v in rule.items() if not k.startswith(("alert", "slack_"))} == {
            k: v for k, v in alerting.elastalert_rules()[name].items() if not k.startswith("alert")
        }
        assert rule["alert"] == ["slack"]
        assert rule["slack_webhook_url"] == WEBHOOK
        assert rule["slack_channel_override"] == "#cd-alerts"
        assert rule["index"] == logging.LOG_INDEX
        yaml.safe_load(yaml.safe_dump(rule))  # the Secret holds each rule as YAML text


def test_without_a_webhook_the_rules_only_log_matches():
    for rule in logging.elastalert_rules("#cd-alerts", None).values():
        assert rule["alert"] == ["debug"]
        assert "slack_webhook_url" not in rule


def test_no_secret_appears_in_any_values():
    reader = logging.search_reader(secret_string("SENTINEL-reader-password"))
    assert reader.password == "SENTINEL-reader-password"
    text = json.dumps([logging.stack_values(stack_cfg("prod")), logging.elastalert_values()])
    assert "SENTINEL" not in text
    assert "hooks.slack.com" not in text


def build_logging(cfg, provider):
    return Logging("logging", cfg, provider, snapshot_target())


@pytest.fixture(scope="module")
def plans() -> dict[str, offline.Plan]:
    return {stack: plan_services(stack, build_logging, WITH_WEBHOOK) for stack in ("staging", "prod")}


@pytest.mark.parametrize(
    "name,chart_key,awaited",
    [("eck-operator", "eck-operator", True), ("eck-stack", "eck-stack", True), ("elastalert2", "elastalert2", False)],
)
def test_releases_are_pinned_atomic_and_timed(plans: dict[str, offline.Plan], name: str, chart_key: str, awaited):
    """ElastAlert is the one release `up` does not wait for: nothing in the stack needs it ready."""
    assert_release(plans["prod"], name, chart_key, "logging", awaited=awaited)


def test_eck_stack_waits_for_the_operator_and_is_protected_in_production(plans: dict[str, offline.Plan]):
    prod = plans["prod"]
    stack = prod.get(RELEASE, "eck-stack")
    assert names_of(prod, stack.dependencies) == {
        "logging-namespace",
        "eck-operator",
        "elasticsearch-grafana-reader-secret",
        "filebeat-ilm-policy-configmap",
        # Snapshots: the pods' service account (workload identity) and the keystore naming the storage account.
        "elasticsearch-sa",
        "elasticsearch-azure-keystore-secret",
    }
    assert stack.protect is True
    assert plans["staging"].get(RELEASE, "eck-stack").protect is False
    assert catalog.CHARTS["eck-stack"].timeout_seconds >= 1200  # Elasticsearch needs far more than 5 minutes


def test_elastalert_waits_for_the_elasticsearch_secrets_and_its_rules(plans: dict[str, offline.Plan]):
    prod = plans["prod"]
    assert names_of(prod, prod.get(RELEASE, "elastalert2").dependencies) == {
        "logging-namespace",
        "eck-stack",
        "elastalert-rules-secret",
    }
    rules = prod.get("kubernetes:core/v1:Secret", "elastalert-rules-secret")
    assert rules.inputs["stringData"] == offline.SECRET
    # Helm does not wait for the Elasticsearch resource: ElastAlert's own wait covers Elasticsearch's first start.
    assert catalog.CHARTS["elastalert2"].timeout_seconds >= 600


def test_ilm_configmap_carries_the_configured_retention(plans: dict[str, offline.Plan]):
    configmap = plans["prod"].get("kubernetes:core/v1:ConfigMap", "filebeat-ilm-policy-configmap")
    assert configmap.inputs["metadata"]["name"] == logging.ILM_CONFIGMAP
    policy: dict[str, Any] = json.loads(configmap.inputs["data"]["policy.json"])
    assert policy == logging.log_retention_policy(14)


def test_no_secret_reaches_helm(plans: dict[str, offline.Plan]):
    for registration in plans["prod"].by_type(RELEASE):
        text = json.dumps(registration.inputs["values"])
        assert offline.SECRET not in text and offline.SECURE_PLACEHOLDER not in text, registration.name
