"""Dashboards: JSON Grafana accepts, datasources the stack provisions, and every PromQL expression parsed by promtool.

promtool has no "parse this expression" command, so every query of a dashboard becomes a recording rule of one
generated rule file and `promtool check rules` parses them all; Grafana's own variables ($__rate_interval and the
like) are replaced by a duration first, as Grafana does before it sends a query.

grafana-foundation-sdk is not used: its Python models build dashboards but do not reject a wrong datasource uid
or a broken query, which are the mistakes these tests are for; the checks below are Grafana's own limits (a uid
of at most 40 characters, panels with a position) plus this stack's datasources.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import alerting
from tests.test_alerts import promtool

DASHBOARDS = alerting.dashboards()
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def as_promql(expr: str) -> str:
    for variable, duration in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, duration)
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def parse_with_promtool(tmp_path: Path, name: str, dashboard: dict[str, Any]) -> tuple[int, str]:
    queries = alerting.prometheus_queries(dashboard)
    rules = [
        {"record": f"dashboard:query_{i}:{name.replace('-', '_')}", "expr": as_promql(q)}
        for i, (_, q) in enumerate(queries)
    ]
    path = tmp_path / f"dashboard-{name}.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": name, "rules": rules}]}))
    result = promtool("check", "rules", path)
    return result.returncode, result.stdout + result.stderr


def test_the_dashboards_the_issue_asks_for_exist_in_one_folder():
    assert set(DASHBOARDS) == {"concourse", "vault-consul", "probes", "overview"}
    assert alerting.DASHBOARD_FOLDER == "cdstack"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_promql_of_the_dashboard_parses(tmp_path: Path, name: str):
    assert alerting.prometheus_queries(DASHBOARDS[name]), f"{name} has no Prometheus query"
    code, output = parse_with_promtool(tmp_path, name, DASHBOARDS[name])
    assert code == 0, output


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_reads_a_provisioned_datasource(name: str):
    for panel in alerting.panels_of(DASHBOARDS[name]):
        assert panel["datasource"]["uid"] in alerting.DATASOURCE_UIDS, panel["title"]


def test_the_concourse_dashboard_covers_builds_queue_workers_containers_volumes_web():
    text = json.dumps(DASHBOARDS["concourse"])
    for metric in (
        "concourse_builds_running",
        "concourse_steps_waiting",
        "concourse_workers_registered",
        "concourse_workers_containers",
        "concourse_workers_volumes",
        "concourse_http_responses_duration_seconds",
        "concourse_db_connections",
    ):
        assert metric in text, metric


def test_every_build_path_alert_has_a_panel_on_the_concourse_dashboard():
    groups = {
        group["name"]: group["rules"]
        for stem in ("concourse", "vault")
        for group in yaml.safe_load((alerting.PROMETHEUS_DIR / f"{stem}.yaml").read_text())["groups"]
    }
    build_path = {rule["alert"] for name in ("concourse-build-path", "vault-requests") for rule in groups[name]}
    described = " ".join(panel.get("description", "") for panel in alerting.panels_of(DASHBOARDS["concourse"]))
    assert {alert for alert in build_path if alert not in described} == set()
    assert build_path >= {"ConcourseStepsWaitingTooLong", "ConcourseChecksLagging", "VaultRequestsSlow"}


def test_a_planted_broken_query_fails_promtool_naming_the_dashboard(tmp_path: Path):
    broken = json.loads(json.dumps(DASHBOARDS["overview"]))
    broken["panels"][0]["targets"][0]["expr"] = "count(ALERTS{alertstate=firing})"
    code, output = parse_with_promtool(tmp_path, "overview", broken)
    assert code != 0
    assert "dashboard-overview.yaml" in output


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda d: d["panels"][0].update(datasource={"type": "prometheus", "uid": "prom"}), "is not one the stack"),
        (lambda d: d.update(uid="x" * 41), "uid must be 1-40"),
        (lambda d: d.pop("title"), "title is missing"),
        (lambda d: d["panels"][1].pop("gridPos"), "gridPos is missing"),
    ],
)
def test_a_planted_broken_dashboard_fails_naming_the_file(tmp_path: Path, change: Any, message: str):
    dashboard = json.loads(json.dumps(DASHBOARDS["probes"]))
    change(dashboard)
    (tmp_path / "planted.json").write_text(json.dumps(dashboard))
    with pytest.raises(alerting.AlertFileError) as raised:
        alerting.dashboards(tmp_path)
    assert str(raised.value).startswith(str(tmp_path / "planted.json"))
    assert message in str(raised.value)


def test_not_json_and_duplicate_uids_fail_naming_the_file(tmp_path: Path):
    (tmp_path / "a.json").write_text(json.dumps(DASHBOARDS["probes"]))
    (tmp_path / "b.json").write_text(json.dumps(DASHBOARDS["probes"]))
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(alerting.AlertFileError) as raised:
        alerting.dashboards(tmp_path)
    assert re.search(r"b\.json: uid 'cdstack-probes' is also .*a\.json's", str(raised.value))
    assert "c.json: not JSON" in str(raised.value)


def test_the_canary_alerts_have_a_panel_with_the_canary_build_duration_and_outcome():
    canary_alerts = {
        rule["alert"]
        for group in yaml.safe_load((alerting.PROMETHEUS_DIR / "canary.yaml").read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    panels = [p for p in alerting.panels_of(DASHBOARDS["concourse"]) if p["title"].startswith("Canary builds")]
    described = " ".join(panel.get("description", "") for panel in panels)
    assert canary_alerts == {"ConcourseCanaryFailing", "ConcourseCanaryNotScheduled"}
    assert all(alert in described for alert in canary_alerts)
    exprs = " ".join(target["expr"] for panel in panels for target in panel["targets"])
    assert 'concourse_builds_duration_seconds_sum{team="cdstack-smoke", pipeline="canary", job="canary"}' in exprs
    assert 'sum by (status) (increase(concourse_builds_finished{team="cdstack-smoke"' in exprs
