"""The numbers from config that the build-path alerts compare against, recorded in Prometheus as constant series.

The rule files stay plain Prometheus rule files, which promtool tests as they are and an on-call engineer edits
without knowing the program; a threshold that belongs to the stack's configuration reaches them as a series instead
of a template. This is the pattern services/database_metrics.py set for the PostgreSQL connection limit: the
program records `vector(<number>)` under a `cdstack:` name, the rule divides or compares by it with
`on () group_left ()`, and a config change moves the threshold with the next `up`, with no edit of the rule file.

Recorded here (one PrometheusRule, `alert-facts`, in kube-prometheus-stack's additionalPrometheusRulesMap):
- STEP_WAIT: observability.stepWaitAlertMinutes in seconds (alerts/prometheus/concourse.yaml,
  ConcourseStepsWaitingTooLong);
- CHECK_LAG: observability.checkLagAlertMinutes in seconds (ConcourseChecksLagging);
- TASK_MEMORY: concourse.defaultTaskMemoryLimit in bytes, the memory a task that sets no `container_limits` may take
  (ConcourseWorkerMemoryExhausted: a worker with less free than this cannot take one more such task). Concourse
  reads KB, MB and GB as binary units (atc/container_limits.go ParseMemoryLimit, v8.1.1).
- CANARY_PERIOD: canary.intervalMinutes in seconds, the canary pipeline's period (alerts/prometheus/canary.yaml:
  ConcourseCanaryFailing and ConcourseCanaryNotScheduled fire after 3 periods).

A range or a `for:` cannot come from a series, so the expressions that use these are written for any value the
config accepts (the step-wait alert looks back one hour; stepWaitAlertMinutes is at most 60).
"""

from __future__ import annotations

import re
from typing import Any

from components.config.schema import StackConfig

RULE = "alert-facts"
STEP_WAIT = "cdstack:concourse_step_wait:threshold_seconds"
CHECK_LAG = "cdstack:concourse_check_lag:threshold_seconds"
TASK_MEMORY = "cdstack:concourse_default_task_memory_limit:bytes"
CANARY_PERIOD = "cdstack:concourse_canary:period_seconds"

_BINARY_UNITS = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}


def memory_limit_bytes(limit: str) -> int:
    """Bytes of a Concourse memory limit as config accepts it (`4GB`): Concourse's units are binary."""
    match = re.fullmatch(r"([0-9]+)(KB|MB|GB)", limit)
    if match is None:
        raise ValueError(f"not a Concourse memory limit: {limit!r}")
    return int(match.group(1)) * _BINARY_UNITS[match.group(2)]


def recorded(cfg: StackConfig) -> dict[str, int]:
    """Each recorded series' name and value for this stack."""
    obs = cfg.observability
    return {
        STEP_WAIT: obs.step_wait_alert_minutes * 60,
        CHECK_LAG: obs.check_lag_alert_minutes * 60,
        TASK_MEMORY: memory_limit_bytes(cfg.concourse.default_task_memory_limit),
        CANARY_PERIOD: cfg.canary.interval_minutes * 60,
    }


def rules(cfg: StackConfig) -> dict[str, Any]:
    """The PrometheusRule's `groups`: one recording rule of a constant per fact."""
    return {
        "groups": [
            {
                "name": RULE,
                "rules": [{"record": name, "expr": f"vector({value})"} for name, value in recorded(cfg).items()],
            }
        ]
    }
