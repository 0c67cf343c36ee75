"""Alertmanager's routing, checked by Alertmanager's own amtool: the config loads, each severity reaches its Slack
receiver, Watchdog never reaches Slack.

amtool comes from Debian's `prometheus-alertmanager` package (`make test` installs it). Debian's amtool is 0.25,
older than the `url_file` of webhook receivers (Alertmanager 0.26, prometheus/alertmanager PR 3223) that the
heartbeat receiver uses and the cluster's Alertmanager (kube-prometheus-stack 88) supports: for that one config the
only complaint allowed is that field.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from components.services import monitoring
from tests.services import stack_cfg

OBSERVABILITY = stack_cfg(
    "prod", observability={"slackChannel": "#cd-alerts", "slackChannels": {"critical": "#cd-pages"}}
).observability


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("amtool")
    if path is None:
        pytest.fail("amtool is missing: `make test` installs Debian's prometheus-alertmanager package")
    return subprocess.run([path, *args], capture_output=True, text=True, check=False)


def write_config(tmp_path: Path, slack: bool, heartbeat: bool) -> Path:
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(monitoring.alertmanager_config(OBSERVABILITY, slack, heartbeat)))
    return path


def receiver_for(config: Path, *labels: str) -> str:
    result = amtool("config", "routes", "test", f"--config.file={config}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("slack", [True, False])
def test_amtool_accepts_the_config(tmp_path: Path, slack: bool):
    result = amtool("check-config", str(write_config(tmp_path, slack, heartbeat=False)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_heartbeat_config_differs_only_by_the_newer_url_file(tmp_path: Path):
    result = amtool("check-config", str(write_config(tmp_path, True, heartbeat=True)))
    output = result.stdout + result.stderr
    assert result.returncode == 0 or "field url_file not found" in output, output
    assert output.count("not found") <= 1, output


@pytest.mark.parametrize("severity", ["critical", "warning", "info"])
def test_each_severity_reaches_its_slack_receiver(tmp_path: Path, severity: str):
    config = write_config(tmp_path, True, heartbeat=False)
    assert receiver_for(config, "alertname=ConcourseWorkersStalled", f"severity={severity}") == f"slack-{severity}"


def test_watchdog_and_info_inhibitor_never_reach_slack_and_unknown_severities_do(tmp_path: Path):
    config = write_config(tmp_path, True, heartbeat=False)
    assert receiver_for(config, "alertname=Watchdog", "severity=none") == "null"
    assert receiver_for(config, "alertname=InfoInhibitor", "severity=none") == "null"
    assert receiver_for(config, "alertname=SomeChartAlert", "severity=page") == "slack-warning"


def test_without_slack_everything_goes_to_null(tmp_path: Path):
    config = write_config(tmp_path, False, heartbeat=False)
    assert receiver_for(config, "alertname=VaultSealed", "severity=critical") == "null"


@pytest.mark.parametrize("slack", [True, False])
def test_the_smoke_test_alert_reaches_its_own_receiver_never_slack(tmp_path: Path, slack: bool):
    """tools/smoke_e2e.py posts an alert labelled smoke="true" after each `up` and checks where it went."""
    config = write_config(tmp_path, slack, heartbeat=False)
    assert receiver_for(config, "alertname=CdstackSmoke", "smoke=true", "severity=critical") == "smoke"
