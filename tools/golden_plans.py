"""The golden plans: the offline plan of every shipped stack, committed as plans/<stack>.json, so a pull request shows
what a Python change does to every resource, option and Helm value of each stack, and a test fails when they are
stale.

    python -m tools.golden_plans           rewrite plans/<stack>.json for every Pulumi.<stack>.yaml (`make plans`)
    python -m tools.golden_plans --check   print what changed, resource by resource; exit 1 when a plan is stale

A golden plan is `make plan JSON=...` of the stack (tools/plan.py's `dumps`: secrets as [secret], keys sorted,
resources in URN order) judged on PLAN_DATE, so it is the same bytes on every machine and every day: the mock
engine's computed values are fixed (tools/offline.py), and nothing in it names a path or the time it ran.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from components import clock
from components.config.loader import ConfigError
from components.promotion import PromotionError
from tools import offline, plan, short_run, stackfile

PLANS_DIR = "plans"

PLAN_DATE = "2026-11-29"
"""The day the golden plans are judged on (the client secret's rotation window, AKS's support calendar): fixed, so a
plan changes with the code and the stack files, never with the calendar. Move it deliberately, then `make plans`."""

MAX_DIFF_LINES = 300
"""A CI log shows this much of a stale plan's diff; `make plans` and `git diff plans/` show all of it."""


@contextmanager
def _judged_on(day: str) -> Iterator[None]:
    previous = os.environ.get(clock.ENV)
    os.environ[clock.ENV] = day
    try:
        yield
    finally:
        if previous is None:
            del os.environ[clock.ENV]
        else:
            os.environ[clock.ENV] = previous


def golden_plan(stack: str, project_dir: Path = offline.PROJECT_DIR) -> str:
    """The golden plan of `Pulumi.<stack>.yaml` in `project_dir`, as the text committed under plans/."""
    with _judged_on(PLAN_DATE):
        return plan.dumps(offline.run_stack(stack, project_dir))


def expected(project_dir: Path = offline.PROJECT_DIR) -> dict[str, str]:
    """Every stack's golden plan by its path relative to the project (plans/<stack>.json)."""
    return {f"{PLANS_DIR}/{stack}.json": golden_plan(stack, project_dir) for stack in offline.stack_names(project_dir)}


def committed(project_dir: Path = offline.PROJECT_DIR) -> dict[str, str]:
    """The golden plans on disk, by path relative to the project."""
    return {f"{PLANS_DIR}/{path.name}": path.read_text() for path in sorted((project_dir / PLANS_DIR).glob("*.json"))}


def _resource_diff(name: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Added and removed resources by URN, and a unified diff of each changed resource under its URN."""
    before = {r["urn"]: r for r in old.get("resources", [])}
    after = {r["urn"]: r for r in new.get("resources", [])}
    lines: list[str] = []
    for urn in sorted(before.keys() | after.keys()):
        if urn not in before:
            lines.append(f"+ new resource {urn}")
        elif urn not in after:
            lines.append(f"- removed resource {urn}")
        elif before[urn] != after[urn]:
            lines += _text_diff(f"{name} {urn}", _dumps(before[urn]), _dumps(after[urn]))
    if old.get("outputs") != new.get("outputs"):
        lines += _text_diff(f"{name} stack outputs", _dumps(old.get("outputs")), _dumps(new.get("outputs")))
    return lines


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def _text_diff(label: str, old: str, new: str) -> list[str]:
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"{label} (committed)", f"{label} (program)"
        )
    ]


def diff(name: str, old: str | None, new: str | None) -> list[str]:
    """How the program's plan `new` differs from the committed `old` (None: no such file), for a reader of a CI log:
    each changed resource's diff under its URN, new and removed resources by URN."""
    if old == new:
        return []
    if old is None:
        return [f"{name} is missing"]
    if new is None:
        return [f"{name} belongs to no stack file (no Pulumi.{Path(name).stem}.yaml)"]
    try:
        lines = _resource_diff(name, json.loads(old), json.loads(new))
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError):
        lines = []  # not a plan (a merge conflict, a hand edit): the text itself
    return lines or _text_diff(name, old, new)


def stale(project_dir: Path = offline.PROJECT_DIR) -> dict[str, list[str]]:
    """Each golden plan that differs from what the program plans now, with its diff; empty when all are current."""
    want, have = expected(project_dir), committed(project_dir)
    found = {name: diff(name, have.get(name), want.get(name)) for name in sorted(want.keys() | have.keys())}
    return {name: lines for name, lines in found.items() if lines}


def report(found: dict[str, list[str]]) -> str:
    """The stale plans' diffs, at most MAX_DIFF_LINES lines, and what to do about them."""
    lines = [line for name, diff_lines in found.items() for line in [f"{name} is stale:", *diff_lines, ""]]
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more lines", ""]
    lines.append("The resource graph changed: run `make plans` and commit the diff of plans/ with the change.")
    return "\n".join(lines)


def write(project_dir: Path = offline.PROJECT_DIR) -> dict[str, str]:
    """Rewrite the golden plans (and remove those of stacks that no longer exist); what happened to each file."""
    want, have = expected(project_dir), committed(project_dir)
    (project_dir / PLANS_DIR).mkdir(exist_ok=True)
    done: dict[str, str] = {}
    for name in sorted(want.keys() | have.keys()):
        path = project_dir / name
        if name not in want:
            path.unlink()
            done[name] = "removed"
        elif have.get(name) != want[name]:
            path.write_text(want[name])
            done[name] = "written" if name in have else "created"
        else:
            done[name] = "unchanged"
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.golden_plans", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale plans (exit 1), write nothing")
    parser.add_argument("--project-dir", type=Path, default=offline.PROJECT_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.check:
            found = stale(args.project_dir)
            print(report(found) if found else "The golden plans are current.")
            return 1 if found else 0
        for name, what in write(args.project_dir).items():
            print(f"{name}: {what}")
    except (ConfigError, PromotionError, stackfile.StackFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    short_run.run(main)
