"""The config thresholds the build-path alerts compare against: recorded from each stack's configuration, with the
names the rule files read, in a rule file promtool accepts."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from components import alert_facts, alerting
from tests.services import stack_cfg
from tests.test_alerts import promtool


def test_prod_records_its_thresholds_and_the_default_task_memory_in_bytes():
    assert alert_facts.recorded(stack_cfg("prod")) == {
        "cdstack:concourse_step_wait:threshold_seconds": 600,
        "cdstack:concourse_check_lag:threshold_seconds": 600,
        "cdstack:concourse_default_task_memory_limit:bytes": 4 * 2**30,
        "cdstack:concourse_canary:period_seconds": 900,
    }


def test_a_config_change_moves_the_recorded_threshold():
    base = stack_cfg("staging")
    cfg = stack_cfg(
        "staging",
        observability={**base.observability.model_dump(by_alias=True), "stepWaitAlertMinutes": 25},
        concourse={**base.concourse.model_dump(by_alias=True), "defaultTaskMemoryLimit": "512MB"},
    )
    rules = alert_facts.rules(cfg)["groups"][0]["rules"]
    assert {"record": alert_facts.STEP_WAIT, "expr": "vector(1500)"} in rules
    assert {"record": alert_facts.TASK_MEMORY, "expr": f"vector({512 * 2**20})"} in rules


def test_concourse_reads_memory_units_as_binary():
    assert [alert_facts.memory_limit_bytes(v) for v in ("1KB", "3MB", "4GB")] == [1024, 3 * 2**20, 4 * 2**30]


def test_the_rule_files_read_exactly_the_recorded_facts(tmp_path: Path):
    recorded = set(alert_facts.recorded(stack_cfg("prod")))
    read = set()
    for path in alerting.rule_files():
        read |= set(re.findall(r"cdstack:concourse_[a-z_]+:[a-z_]+", path.read_text()))
    assert read == recorded
    path = tmp_path / "alert-facts.yaml"
    path.write_text(yaml.safe_dump(alert_facts.rules(stack_cfg("prod"))))
    result = promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr
