"""The backup freshness alerts, judged by promtool (rule syntax and the unit tests beside them), and their runbooks."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.conftest import PROJECT_DIR

RULES = PROJECT_DIR / "alerts" / "prometheus" / "backups.yaml"
TESTS = PROJECT_DIR / "alerts" / "prometheus" / "tests" / "backups_test.yaml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False, cwd=PROJECT_DIR)


@pytest.mark.exhaustive  # test_alerts.py runs the same two promtool commands on the same files, for every rule file
def test_rules_are_valid_and_their_unit_tests_pass():
    check = promtool("check", "rules", str(RULES))
    assert check.returncode == 0, check.stdout + check.stderr
    test = promtool("test", "rules", str(TESTS))
    assert test.returncode == 0, test.stdout + test.stderr


def test_every_alert_follows_the_conventions():
    runbooks = (PROJECT_DIR / "docs" / "runbooks.md").read_text()
    alerts = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in alerts} == {"BackupTooOld", "BackupNeverSucceeded"}
    for rule in alerts:
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert {"summary", "description", "runbook"} <= set(rule["annotations"])
        assert rule["annotations"]["runbook"] == f"docs/runbooks.md#{rule['alert'].lower()}"
        assert f"\n## {rule['alert']}\n" in runbooks
