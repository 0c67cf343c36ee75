"""Alerts and dashboards are files an on-call engineer edits; this module finds, checks and reads them.

    alerts/prometheus/<topic>.yaml          Prometheus rule files (standard format), one PrometheusRule each
    alerts/prometheus/tests/<topic>_test.yaml   their promtool unit tests
    alerts/elastalert/<name>.yaml           ElastAlert 2 rules (the program adds the Slack alerter)
    alerts/elastalert/tests/<name>.yaml     a recorded failing and a healthy log document per rule
    dashboards/<name>.json                  Grafana dashboards, provisioned into one "cdstack" folder
    docs/runbooks.md                        one `## <AlertName>` section per alert

The program discovers every file: adding one, committing it and running the pipeline is the whole rollout. The
checks here are the house rules the engines do not enforce (severity, summary, a description with the numbers, a
runbook section that exists); promtool and ElastAlert's own loader check the rest in the tests. A broken file stops
the program before any resource exists, with the file named.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it (the pinned wheels are), else the pure-Python one."""

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = PROJECT_DIR / "alerts" / "prometheus"
ELASTALERT_DIR = PROJECT_DIR / "alerts" / "elastalert"
DASHBOARDS_DIR = PROJECT_DIR / "dashboards"
RUNBOOKS = PROJECT_DIR / "docs" / "runbooks.md"

SEVERITIES = ("critical", "warning", "info")
"""Alertmanager routes on these (a Slack channel each); a critical inhibits the warning of the same alert."""

DASHBOARD_FOLDER = "cdstack"
DATASOURCE_UIDS = ("prometheus", "influxdb", "elasticsearch")
"""The datasources Grafana is provisioned with (monitoring.py), by uid: a dashboard may use only these."""


class AlertFileError(ValueError):
    """A rule, dashboard or runbook file breaks a house rule; the message starts with the file's path."""


@dataclass(frozen=True)
class Alert:
    name: str
    file: str
    severity: str
    covers: str
    """The failure mode it is for (the `covers` annotation), for the alerts table."""
    runbook: str


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(PROJECT_DIR))
    except ValueError:
        return str(path)


def runbook_anchor(alert: str) -> str:
    """Where an alert's runbook section is: GitHub's anchor of the `## <name>` heading is the name in lower case."""
    return f"docs/runbooks.md#{alert.lower()}"


def runbook_sections(text: str) -> set[str]:
    """The anchors of the `## Section` headings of a Markdown file (GitHub lower-cases them)."""
    return {m.group(1).strip().lower() for m in re.finditer(r"^## +(\S+)\s*$", text, re.MULTILINE)}


def rule_files(folder: Path = PROMETHEUS_DIR) -> list[Path]:
    return sorted(folder.glob("*.yaml"))


def _check_alert(where: str, rule: dict[str, Any], sections: set[str]) -> list[str]:
    name = rule["alert"]
    labels = rule.get("labels") or {}
    annotations = rule.get("annotations") or {}
    problems = []
    if labels.get("severity") not in SEVERITIES:
        problems.append(f"alert {name}: labels.severity must be one of {', '.join(SEVERITIES)}")
    for key in ("summary", "description", "covers"):
        if not str(annotations.get(key, "")).strip():
            problems.append(f"alert {name}: annotations.{key} is missing")
    # The numbers: whoever is paged sees how far past the threshold it is, not only that it is.
    if "$value" not in str(annotations.get("description", "")):
        problems.append(f"alert {name}: annotations.description must show the number ({{{{ $value }}}})")
    runbook = annotations.get("runbook")
    if runbook != runbook_anchor(name):
        problems.append(f"alert {name}: annotations.runbook must be {runbook_anchor(name)}, got {runbook!r}")
    elif name.lower() not in sections:
        problems.append(f"alert {name}: docs/runbooks.md has no '## {name}' section")
    return [f"{where}: {p}" for p in problems]


def _parse_yaml(text: str) -> Any:
    """yaml.safe_load's value, parsed by libyaml (SafeLoader's constructor over a C scanner: the same Python values,
    about ten times faster; a plan reads these files eight times). A file libyaml rejects is parsed again by the
    pure-Python loader, whose error shows the offending line, so the message is what safe_load's would be."""
    try:
        return yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        return yaml.safe_load(text)


def load_rule_file(path: Path, sections: set[str]) -> dict[str, Any]:
    """One rule file, checked against the house rules; raises AlertFileError naming the file and every problem."""
    where = _relative(path)
    try:
        data = _parse_yaml(path.read_text())
    except yaml.YAMLError as error:
        raise AlertFileError(f"{where}: not YAML: {error}") from error
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, list) or not groups:
        raise AlertFileError(f"{where}: a rule file is a map with a non-empty `groups` list")
    problems: list[str] = []
    for group in groups:
        for rule in group.get("rules") or []:
            if "alert" in rule:
                problems += _check_alert(where, rule, sections)
            elif "record" not in rule:
                problems.append(f"{where}: group {group.get('name')}: a rule needs `alert` or `record`")
    if problems:
        raise AlertFileError("\n".join(problems))
    return data


def prometheus_rules(folder: Path = PROMETHEUS_DIR, runbooks: Path = RUNBOOKS) -> dict[str, dict[str, Any]]:
    """Every rule file by its stem: kube-prometheus-stack's additionalPrometheusRulesMap, one PrometheusRule each."""
    sections = runbook_sections(runbooks.read_text())
    return {path.stem: load_rule_file(path, sections) for path in rule_files(folder)}


def alerts(folder: Path = PROMETHEUS_DIR) -> list[Alert]:
    """Every alert of every rule file, for the table; an alert defined twice (per severity) is listed per rule."""
    found = []
    for stem, data in prometheus_rules(folder).items():
        for group in data["groups"]:
            for rule in group.get("rules") or []:
                if "alert" in rule:
                    annotations = rule["annotations"]
                    found.append(
                        Alert(
                            rule["alert"],
                            f"alerts/prometheus/{stem}.yaml",
                            rule["labels"]["severity"],
                            " ".join(str(annotations["covers"]).split()),
                            annotations["runbook"],
                        )
                    )
    return found


def elastalert_rules(folder: Path = ELASTALERT_DIR) -> dict[str, dict[str, Any]]:
    """Every ElastAlert rule file by its stem. The alerter is not in the file: the program adds it (it carries the
    Slack webhook, a secret)."""
    rules = {}
    for path in sorted(folder.glob("*.yaml")):
        rule = _parse_yaml(path.read_text())
        where = _relative(path)
        if not isinstance(rule, dict) or rule.get("name") != path.stem:
            raise AlertFileError(f"{where}: an ElastAlert rule file is a map whose `name` is its file name")
        if "alert" in rule:
            raise AlertFileError(f"{where}: leave `alert` out; the program adds the Slack alerter")
        rules[path.stem] = rule
    return rules


def panels_of(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    found = []
    for panel in dashboard.get("panels") or []:
        found.append(panel)
        found += panel.get("panels") or []
    return found


def _check_dashboard(where: str, dashboard: Any) -> list[str]:
    if not isinstance(dashboard, dict):
        return [f"{where}: a dashboard is a JSON object"]
    problems = []
    uid = dashboard.get("uid")
    # Grafana refuses a uid longer than 40 characters; a fixed uid keeps links stable across re-provisioning.
    if not isinstance(uid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid):
        problems.append(f"uid must be 1-40 letters, digits, '-' or '_', got {uid!r}")
    if not str(dashboard.get("title", "")).strip():
        problems.append("title is missing")
    if not isinstance(dashboard.get("schemaVersion"), int):
        problems.append("schemaVersion is missing")
    panels = panels_of(dashboard)
    if not panels:
        problems.append("has no panels")
    for panel in panels:
        name = panel.get("title") or f"panel {panel.get('id')}"
        if not isinstance(panel.get("gridPos"), dict):
            problems.append(f"panel {name!r}: gridPos is missing")
        for source in [panel.get("datasource"), *(t.get("datasource") for t in panel.get("targets") or [])]:
            if source is not None and (not isinstance(source, dict) or source.get("uid") not in DATASOURCE_UIDS):
                problems.append(
                    f"panel {name!r}: datasource {source!r} is not one the stack provisions {DATASOURCE_UIDS}"
                )
    return [f"{where}: {p}" for p in problems]


def prometheus_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every Prometheus target, for promtool to parse."""
    return [
        (panel.get("title", ""), target["expr"])
        for panel in panels_of(dashboard)
        for target in panel.get("targets") or []
        if (target.get("datasource") or panel.get("datasource") or {}).get("uid") == "prometheus" and "expr" in target
    ]


def dashboards(folder: Path = DASHBOARDS_DIR) -> dict[str, dict[str, Any]]:
    """Every dashboard by its file stem, parsed and checked; a broken file fails naming the file."""
    found: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    uids: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        where = _relative(path)
        try:
            dashboard = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            problems.append(f"{where}: not JSON: {error}")
            continue
        problems += _check_dashboard(where, dashboard)
        if isinstance(dashboard, dict):
            uid = str(dashboard.get("uid"))
            if uid in uids:
                problems.append(f"{where}: uid {uid!r} is also {uids[uid]}'s")
            uids[uid] = where
            found[path.stem] = dashboard
    if problems:
        raise AlertFileError("\n".join(problems))
    return found


LOG_ALERT_SEVERITY = "warning"
"""ElastAlert has no severity label: its rules post to the warning channel (services/logging.py)."""


def log_alerts(folder: Path = ELASTALERT_DIR) -> list[Alert]:
    """The ElastAlert rules as table rows: the failure mode is the rule's description."""
    return [
        Alert(name, f"alerts/elastalert/{name}.yaml", LOG_ALERT_SEVERITY, rule["description"], runbook_anchor(name))
        for name, rule in elastalert_rules(folder).items()
    ]


def alerts_table(found: list[Alert], page_dir: str) -> str:
    """The Markdown table `make alerts` prints and docs/alerts.md embeds. Runbook links are relative to the folder
    of the page that embeds it (`page_dir`, from the project's root), as GitHub resolves them."""
    lines = ["| alert | file | severity | failure mode it covers | runbook |", "|---|---|---|---|---|"]
    for alert in sorted(found, key=lambda a: (a.file, a.name, SEVERITIES.index(a.severity))):
        link = posixpath.relpath(alert.runbook, page_dir)
        lines.append(f"| {alert.name} | `{alert.file}` | {alert.severity} | {alert.covers} | [{alert.name}]({link}) |")
    return "\n".join(lines)
