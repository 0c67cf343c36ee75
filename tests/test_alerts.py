"""The alert files, proven by the engines that run them: promtool checks and unit-tests every Prometheus rule file,
ElastAlert 2's own loader loads every log rule, and each log rule's query matches its failure and not a healthy line.

promtool comes from Debian's `prometheus` package and ElastAlert from .venv-elastalert; `make test` installs both.
A planted broken file of each kind fails with the file named.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import alerting, naming
from components.services import logging
from tests.logquery import matches
from tools import alerts as alerts_tool

PROMETHEUS = alerting.PROMETHEUS_DIR
RULE_FILES = alerting.rule_files()
TESTS_DIR = PROMETHEUS / "tests"
ELASTALERT_PYTHON = alerting.PROJECT_DIR / ".venv-elastalert" / "bin" / "python"
ELASTALERT_CHECK = alerting.PROJECT_DIR / "tools" / "elastalert_check.py"

GOOD_ALERT = {
    "alert": "PlantedAlert",
    "expr": "up == 0",
    "for": "5m",
    "labels": {"severity": "warning"},
    "annotations": {
        "summary": "s",
        "description": "{{ $value }} down",
        "covers": "a planted failure",
        "runbook": "docs/runbooks.md#plantedalert",
    },
}


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: `make test` installs Debian's prometheus package (apt-get, as root)")
    return subprocess.run([path, *map(str, args)], capture_output=True, text=True, check=False)


def planted(tmp_path: Path, name: str, rule: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"groups": [{"name": "planted", "rules": [rule]}]}))
    return path


def alert_names(path: Path) -> set[str]:
    data = yaml.safe_load(path.read_text())
    return {rule["alert"] for group in data["groups"] for rule in group["rules"] if "alert" in rule}


# --- Prometheus rule files --------------------------------------------------------------------------------------


def test_the_program_ships_every_rule_file_as_one_prometheus_rule():
    assert [p.stem for p in RULE_FILES] == sorted(alerting.prometheus_rules())
    assert {"concourse", "probes", "vault", "consul", "certificates", "nodes", "backups"} <= {
        p.stem for p in RULE_FILES
    }


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_accepts_the_rule_file(path: Path):
    result = promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(path: Path):
    test_file = TESTS_DIR / f"{path.stem}_test.yaml"
    assert test_file.exists(), f"{path.name} has no promtool unit test at {test_file}"
    assert yaml.safe_load(test_file.read_text())["rule_files"] == [f"../{path.name}"]
    result = promtool("test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_every_alert_has_a_firing_and_a_silent_case(path: Path):
    tests = yaml.safe_load((TESTS_DIR / f"{path.stem}_test.yaml").read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    for alert in alert_names(path):
        mine = [case for case in cases if case["alertname"] == alert]
        assert any(case.get("exp_alerts") for case in mine), f"{path.name}: {alert} is never tested firing"
        assert any(not case.get("exp_alerts") for case in mine), f"{path.name}: {alert} is never tested silent"
        for case in mine:
            for expected in case.get("exp_alerts") or []:
                # The whole annotation set: the description's rendered number is part of what is tested.
                assert "description" in expected.get("exp_annotations", {}), f"{path.name}: {alert}"


def test_no_stray_unit_test_files():
    assert {p.name for p in TESTS_DIR.glob("*.yaml")} == {f"{p.stem}_test.yaml" for p in RULE_FILES}


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rule_files_name_only_namespaces_the_stack_creates(path: Path):
    used = set(re.findall(r'namespace="([^"]+)"', path.read_text()))
    assert used <= set(naming.NAMESPACES.values()), sorted(used - set(naming.NAMESPACES.values()))


def test_a_planted_bad_promql_fails_promtool_naming_the_file(tmp_path: Path):
    path = planted(tmp_path, "broken.yaml", {**GOOD_ALERT, "expr": "sum(rate(up[5m]) > "})
    result = promtool("check", "rules", path)
    assert result.returncode != 0
    assert "broken.yaml" in result.stdout + result.stderr


def test_the_house_rules_accept_a_complete_alert(tmp_path: Path):
    planted(tmp_path, "fine.yaml", GOOD_ALERT)
    runbooks = tmp_path / "runbooks.md"
    runbooks.write_text("# Runbooks\n\n## PlantedAlert\n\nDo this.\n")
    assert alerting.prometheus_rules(tmp_path, runbooks)["fine"]["groups"][0]["rules"] == [GOOD_ALERT]


@pytest.mark.parametrize(
    "change,message",
    [
        ({"labels": {}}, "labels.severity must be one of critical, warning, info"),
        ({"labels": {"severity": "page"}}, "labels.severity must be one of"),
        ({"annotations": {**GOOD_ALERT["annotations"], "runbook": ""}}, "annotations.runbook must be"),
        (
            {
                "alert": "NoSection",
                "annotations": {**GOOD_ALERT["annotations"], "runbook": "docs/runbooks.md#nosection"},
            },
            "docs/runbooks.md has no '## NoSection' section",
        ),
        ({"annotations": {**GOOD_ALERT["annotations"], "description": "down"}}, "must show the number"),
        ({"annotations": {k: v for k, v in GOOD_ALERT["annotations"].items() if k != "summary"}}, "summary is missing"),
    ],
)
def test_a_planted_rule_missing_a_house_rule_fails_naming_the_file(tmp_path: Path, change: dict, message: str):
    planted(tmp_path, "planted.yaml", {**GOOD_ALERT, **change})
    runbooks = tmp_path / "runbooks.md"
    runbooks.write_text("## PlantedAlert\n")
    with pytest.raises(alerting.AlertFileError) as raised:
        alerting.prometheus_rules(tmp_path, runbooks)
    assert str(raised.value).startswith(str(tmp_path / "planted.yaml"))
    assert message in str(raised.value)


def test_every_runbook_section_belongs_to_an_alert():
    sections = alerting.runbook_sections(alerting.RUNBOOKS.read_text())
    alerts = {a.name.lower() for a in alerting.alerts()}
    log_rules = set(alerting.elastalert_rules())
    assert alerts <= sections
    assert sections - alerts - log_rules == {"watchdog"}


# --- ElastAlert rule files ------------------------------------------------------------------------------------------


def elastalert_check(folder: Path) -> subprocess.CompletedProcess[str]:
    if not ELASTALERT_PYTHON.exists():
        pytest.fail(f"{ELASTALERT_PYTHON} is missing: `make test` creates it from requirements-elastalert.txt")
    return subprocess.run(
        [str(ELASTALERT_PYTHON), str(ELASTALERT_CHECK), str(folder)], capture_output=True, text=True, check=False
    )


def write_rules(folder: Path, rules: dict[str, dict[str, Any]]) -> None:
    for name, rule in rules.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(rule, sort_keys=False))


@pytest.mark.parametrize("webhook", ["https://hooks.slack.com/services/T0/B0/X", None])
def test_elastalert_loads_every_rule_the_program_ships(tmp_path: Path, webhook: str | None):
    rules = logging.elastalert_rules("#cd-alerts", webhook)
    write_rules(tmp_path, rules)
    result = elastalert_check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(re.findall(r"^loaded (\S+)\.yaml: ", result.stdout, re.MULTILINE)) == sorted(rules)


def test_a_planted_invalid_elastalert_rule_fails_naming_the_file(tmp_path: Path):
    rules = logging.elastalert_rules("#cd-alerts", None)
    rules["tls-handshake-timeouts"]["num_events"] = "three"
    write_rules(tmp_path, rules)
    result = elastalert_check(tmp_path)
    assert result.returncode == 1
    assert "tls-handshake-timeouts.yaml" in result.stdout


def test_every_elastalert_rule_has_samples_and_a_runbook():
    samples = {p.stem for p in (alerting.ELASTALERT_DIR / "tests").glob("*.yaml")}
    assert samples == set(alerting.elastalert_rules())
    sections = alerting.runbook_sections(alerting.RUNBOOKS.read_text())
    for name, rule in alerting.elastalert_rules().items():
        assert name in sections, name
        assert f"docs/runbooks.md#{name}" in rule["alert_text"], name


def query_of(rule: dict[str, Any]) -> str:
    [clause] = rule["filter"]
    return clause["query"]["query_string"]["query"]


@pytest.mark.parametrize("name", sorted(alerting.elastalert_rules()))
def test_each_log_rule_matches_its_failure_and_not_a_healthy_line(name: str):
    query = query_of(alerting.elastalert_rules()[name])
    samples = yaml.safe_load((alerting.ELASTALERT_DIR / "tests" / f"{name}.yaml").read_text())
    assert samples["failing"] and samples["healthy"]
    for document in samples["failing"]:
        assert matches(query, document), f"{name} misses: {document['message']}"
    for document in samples["healthy"]:
        assert not matches(query, document), f"{name} matches a healthy line: {document['message']}"


def test_the_query_evaluator_tokenizes_like_elasticsearch():
    line = {"message": "atc.db.failed-to-open-db-retrying: dial tcp: connection refused"}
    assert not matches('message:"failed"', line)  # glued to the dotted session name, as in Elasticsearch
    assert matches('message:"connection refused"', line)
    assert not matches('message:"refused connection"', line)
    assert matches("kubernetes.container.name:*web*", {"kubernetes": {"container": {"name": "concourse-web"}}})
    assert not matches('kubernetes.namespace:"concourse"', {"kubernetes": {"namespace": "concourse-x"}})


def test_the_manual_alerts_table_is_current():
    assert alerts_tool.current_block() == alerts_tool.table(), "docs/alerts.md's table is stale: make alerts WRITE=1"
    assert "| ConcourseWorkersStalled | `alerts/prometheus/concourse.yaml` | warning |" in alerts_tool.table()
    assert (
        "| tls-handshake-timeouts | `alerts/elastalert/tls-handshake-timeouts.yaml` | warning |" in alerts_tool.table()
    )


# --- metric names ---------------------------------------------------------------------------------------------------

PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
PROMQL_WORDS |= {"inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: what is left once strings, label matchers, ranges, grouping
    clauses, function calls, keywords and numbers are removed."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\boffset\s+-?[0-9a-z]+", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        following = expr[match.end() :].lstrip()[:1]
        if following != "(" and match.group().lower() not in PROMQL_WORDS:
            names.add(match.group())
    return names


def known_metrics() -> set[str]:
    listed = yaml.safe_load((alerting.PROJECT_DIR / "alerts" / "metrics.yaml").read_text())
    return {name for names in listed.values() for name in names}


def test_metric_names_are_extracted_from_promql():
    expr = 'sum by (pod) (rate(a_total{x="b_c", y=~"d"}[5m])) / on (pod) group_left() max(b_gauge) > 0.5 and c'
    assert metric_names(expr) == {"a_total", "b_gauge", "c"}
    assert metric_names("sum(d_gauge) - sum(d_gauge offset 30m) > 20") == {"d_gauge"}


def test_rules_and_dashboards_read_only_metrics_checked_against_their_source():
    exprs = [
        (path.name, rule.get("expr", ""))
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]
    exprs += [
        (f"{name}.json", q) for name, d in alerting.dashboards().items() for _, q in alerting.prometheus_queries(d)
    ]
    unknown = {
        (where, metric) for where, expr in exprs for metric in metric_names(expr.replace("$__", "")) - known_metrics()
    }
    assert not unknown, f"metrics not in alerts/metrics.yaml (check the exporter's source): {sorted(unknown)}"


def test_a_planted_misspelt_metric_is_caught():
    assert metric_names("sum(kube_statefulset_spec_replicas) > 0") - known_metrics() == {
        "kube_statefulset_spec_replicas"
    }
