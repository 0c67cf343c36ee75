"""Backup schedules are cron expressions a Kubernetes CronJob accepts (robfig/cron's standard parser)."""

from __future__ import annotations

import pytest

from components import schedules
from tests.services import stack_cfg


@pytest.mark.parametrize(
    "schedule",
    [
        "0 */6 * * *",
        "30 */6 * * *",
        "15 2 * * MON-FRI",
        "0 0 1 JAN,JUL ?",
        "*/5 1-23/2 1,15 * 0-7",
        "@daily",
        "@hourly",
    ],
)
def test_cron_expressions_pass(schedule: str):
    assert schedules.is_cron(schedule)


@pytest.mark.parametrize(
    "schedule",
    [
        "every 6 hours",
        "0 */6 * *",  # four fields
        "0 0 */6 * * *",  # six fields (seconds first: Elasticsearch's cron, not Kubernetes')
        "60 * * * *",
        "0 24 * * *",
        "0 0 0 * *",
        "0 0 * 13 *",
        "0 0 * * 8",
        "0 */0 * * *",
        "5-1 * * * *",
        "? * * * *",  # ? only in the day fields
        "@every 1h30m",
        "TZ=Europe/Berlin 0 2 * * *",
    ],
)
def test_anything_else_is_refused(schedule: str):
    assert not schedules.is_cron(schedule)


def test_the_message_names_the_key_the_value_and_the_form():
    cfg = stack_cfg("staging", backup={"vaultSchedule": "6h"})
    (problem,) = schedules.cron_problems(cfg)
    assert problem.key == "cdstack:backup.vaultSchedule"
    assert problem.value == "6h"
    assert "five fields (minute hour day-of-month month day-of-week" in problem.allowed
