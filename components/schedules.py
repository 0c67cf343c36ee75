"""Backup schedules: every `cdstack:backup.*Schedule` becomes a Kubernetes CronJob's `schedule`, which the API server
accepts only as a cron expression (robfig/cron's standard parser: five fields, or a descriptor such as @daily). A
typo there would fail the CronJob at `pulumi up`, after the rest of the stack changed; this rule stops it first."""

from __future__ import annotations

import re

from components.config.schema import StackConfig
from components.problem import Problem

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# (name, lowest, highest, names counted from `lowest`)
FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, DAYS),
)
ALLOWED = (
    "must be a cron expression: five fields (minute hour day-of-month month day-of-week, for example `0 */6 * * *`) "
    f"or one of {', '.join(DESCRIPTORS)}"
)
SCHEDULES = {"backup.vaultSchedule": "vault_schedule", "backup.elasticsearchSchedule": "elasticsearch_schedule"}


def _value(text: str, low: int, names: tuple[str, ...]) -> int | None:
    if text.isdigit():
        return int(text)
    upper = text.upper()
    return names.index(upper) + low if upper in names else None


def _field_ok(text: str, low: int, high: int, names: tuple[str, ...], question_mark: bool) -> bool:
    for part in text.split(","):
        match = re.fullmatch(r"(\*|\?|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/([0-9]+))?", part)
        if match is None:
            return False
        span, step = match.groups()
        if step is not None and int(step) == 0:
            return False
        if span == "?" and not question_mark:
            return False
        if span in ("*", "?"):
            continue
        ends = [_value(end, low, names) for end in span.split("-")]
        if any(end is None or not low <= end <= high for end in ends):
            return False
        if len(ends) == 2 and ends[0] > ends[1]:  # type: ignore[operator]
            return False
    return True


def is_cron(schedule: str) -> bool:
    """Whether Kubernetes accepts `schedule` as a CronJob schedule (in UTC: a `TZ=` prefix is refused there too)."""
    if schedule.strip() in DESCRIPTORS:
        return True
    fields = schedule.split()
    if len(fields) != len(FIELDS):
        return False
    return all(
        _field_ok(text, low, high, names, question_mark=name.startswith("day"))
        for text, (name, low, high, names) in zip(fields, FIELDS, strict=True)
    )


def cron_problems(cfg: StackConfig) -> list[Problem]:
    """Each backup schedule is a cron expression the CronJob will accept."""
    return [
        Problem.at(key, schedule, ALLOWED)
        for key, attribute in SCHEDULES.items()
        if not is_cron(schedule := getattr(cfg.backup, attribute))
    ]
