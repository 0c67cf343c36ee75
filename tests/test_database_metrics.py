"""PostgreSQL's metrics in the plan of every stack: the exporter's identity with Monitoring Reader on exactly the
server, federated to the exporter's service account, the probe reading that server's metrics the alert file uses,
and the connection limit recorded from the stack's SKU. Planted mistakes show each check can fail."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from components import alerting, catalog, naming
from components.azure.metrics_reader import MONITORING_READER
from components.config import schema
from components.services import database_metrics
from tests.conftest import Planner, stack_config
from tools import offline

RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
SERVER = "azure-native:dbforpostgresql:Server"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
FEDERATION = "azure-native:managedidentity:FederatedIdentityCredential"
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
ALERT_FILE = alerting.PROMETHEUS_DIR / "postgres.yaml"


def alert_file_reads() -> set[str]:
    """The azure_postgresql_* series and the recorded limit that alerts/prometheus/postgres.yaml reads."""
    text = "\n".join(
        rule["expr"] for group in yaml.safe_load(ALERT_FILE.read_text())["groups"] for rule in group["rules"]
    )
    return set(re.findall(r"\b(?:azure_postgresql_[a-z_]+|cdstack:[a-z_:]+)", text))


def metrics_problems(plan: offline.Plan, cfg: schema.StackConfig) -> list[str]:
    """What is wrong with PostgreSQL's metrics path in a plan, as sentences."""
    releases = [r for r in plan.by_type(RELEASE) if r.name == database_metrics.RELEASE]
    if not releases:
        return ["no azure-metrics-exporter release"]
    values: dict[str, Any] = releases[0].inputs["values"]
    problems = []
    server = plan.get(SERVER, "postgres")
    identity = plan.get(IDENTITY, "postgres-metrics-identity")
    client_id = offline.OUTPUTS[identity.type](identity.name, identity.inputs)["clientId"]
    account = values["serviceAccount"]
    if account["annotations"].get("azure.workload.identity/client-id") != client_id:
        problems.append("the exporter's service account names another identity")
    if values.get("podLabels", {}).get("azure.workload.identity/use") != "true":
        problems.append("the exporter's pod does not use workload identity")
    federation = plan.get(FEDERATION, "postgres-metrics-federation")
    subject = f"system:serviceaccount:{naming.NAMESPACES['monitoring']}:{account['name']}"
    if federation.inputs["subject"] != subject or identity.urn not in federation.dependencies:
        problems.append("the identity is not federated to the exporter's service account")
    roles = [
        r
        for r in plan.by_type(ROLE_ASSIGNMENT)
        if identity.urn in r.property_dependencies.get("principalId", [])
        and r.inputs["roleDefinitionId"].endswith(MONITORING_READER)
    ]
    if not roles:
        problems.append("the exporter's identity has no Monitoring Reader role")
    elif any(r.property_dependencies.get("scope") != [server.urn] for r in roles):
        problems.append("the exporter's role is not scoped to exactly the PostgreSQL server")
    [probe] = values["prometheus"]["metricProbes"]["probes"]
    params = probe["params"]
    if roles and params["target"] != [roles[0].inputs["scope"]]:
        problems.append("the probe reads another resource than the one the identity may read")
    produced = {
        params["template"][0].format(name=params["name"][0], metric=m, aggregation=a)
        for m in params["metric"]
        for a in params["aggregation"]
    }
    missing = sorted({m for m in alert_file_reads() if m.startswith("azure_")} - produced)
    if missing:
        problems.append(f"the alerts read series the probe does not produce: {missing}")
    limits = [r for r in plan.by_type(RULE) if r.name == database_metrics.LIMIT_RULE]
    expected = catalog.postgres_user_connections(catalog.POSTGRES_SKUS[cfg.database.sku_name])
    if not limits:
        problems.append("no recorded connection limit")
    else:
        [rule] = limits[0].inputs["spec"]["groups"][0]["rules"]
        if rule["record"] not in alert_file_reads():
            problems.append("the alerts read another connection limit than the one recorded")
        if rule["expr"] != f"vector({expected})":
            problems.append(f"the recorded limit is {rule['expr']}, not {cfg.database.sku_name}'s {expected}")
    return problems


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_postgres_metrics_are_wired_in_every_stack(stack: str, shared_plan: Planner):
    assert metrics_problems(shared_plan(stack), offline.load_config(stack)) == []


@pytest.mark.parametrize(
    ("mistake", "problem"),
    [
        ("drop the role", "the exporter's identity has no Monitoring Reader role"),
        ("role on the resource group", "the exporter's role is not scoped to exactly the PostgreSQL server"),
        ("federate another account", "the identity is not federated to the exporter's service account"),
        ("drop a metric", "the alerts read series the probe does not produce: ['azure_postgresql_storage_percent"),
        ("limit of another SKU", "the recorded limit is vector(35), not Standard_B2ms's 844"),
        ("drop the exporter", "no azure-metrics-exporter release"),
    ],
)
def test_planted_mistakes_are_caught(mistake: str, problem: str, shared_plan: Planner):
    plan = shared_plan("staging")
    cfg = offline.load_config("staging")
    role = plan.get(ROLE_ASSIGNMENT, "postgres-metrics-reader")
    release = plan.get(RELEASE, database_metrics.RELEASE)
    if mistake == "drop the role":
        plan.registrations.remove(role)
    elif mistake == "role on the resource group":
        role.property_dependencies["scope"] = [plan.get("azure-native:resources:ResourceGroup", "resource-group").urn]
    elif mistake == "federate another account":
        plan.get(FEDERATION, "postgres-metrics-federation").inputs["subject"] = "system:serviceaccount:monitoring:x"
    elif mistake == "drop a metric":
        release.inputs["values"]["prometheus"]["metricProbes"]["probes"][0]["params"]["metric"].remove(
            "storage_percent"
        )
    elif mistake == "limit of another SKU":
        plan.get(RULE, database_metrics.LIMIT_RULE).inputs["spec"]["groups"][0]["rules"][0]["expr"] = "vector(35)"
    else:
        plan.registrations.remove(release)
    assert any(p.startswith(problem) for p in metrics_problems(plan, cfg)), metrics_problems(plan, cfg)


def test_the_limit_follows_the_configured_sku(shared_plan: Planner):
    raw = stack_config("staging")
    raw["cdstack:database"] = {**raw.get("cdstack:database", {}), "skuName": "Standard_B4ms"}
    plan = shared_plan("staging", raw)
    [rule] = plan.get(RULE, database_metrics.LIMIT_RULE).inputs["spec"]["groups"][0]["rules"]
    assert rule["expr"] == "vector(1703)"  # 16 GiB of memory: Microsoft's table
    assert rule["labels"]["sku"] == "Standard_B4ms"


def test_the_exporter_waits_for_the_monitoring_crds_and_its_role(shared_plan: Planner):
    plan = shared_plan("staging")
    release = plan.get(RELEASE, database_metrics.RELEASE)
    waits = set(release.dependencies)
    assert plan.get(RELEASE, "kube-prometheus-stack").urn in waits  # the ServiceMonitor's CRD
    # The client id is handed out only once the role exists: the first scrape finds it effective.
    assert plan.get(ROLE_ASSIGNMENT, "postgres-metrics-reader").urn in release.property_dependencies["values"]
