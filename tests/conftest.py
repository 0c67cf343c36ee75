"""Shared fixtures: the offline plan's mock engine, set up per test (never at import time)."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from components import clock
from components.concourse import team_api
from tools import manual, offline, stackfile

PROJECT_DIR = offline.PROJECT_DIR

Planner = Callable[..., offline.Plan]

TODAY = "2026-11-29"
"""The date every test judges AKS support windows and secret rotation on, so no test fails on a calendar day."""


def manual_text() -> str:
    """The whole manual (README.md and docs/*.md) as one text, for facts a test finds wherever a page states them."""
    return "\n".join(page.read_text() for page in manual.manual_pages())


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.ENV, TODAY)


@pytest.fixture(autouse=True)
def fresh_unsettled_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no PUT left unsettled by another (team_api.UNSETTLED lives as long as the process)."""
    monkeypatch.setattr(team_api, "UNSETTLED", team_api.UnsettledWrites())


def stack_config(stack: str) -> dict[str, Any]:
    """The `config:` map of a stack file in this project, as Pulumi reads it (YAML 1.2; a fresh copy to modify)."""
    return stackfile.config_map(PROJECT_DIR / f"Pulumi.{stack}.yaml")


@pytest.fixture
def plan_of() -> Planner:
    """Run cdstack under the mock engine: plan_of("staging") for a stack file, plan_of("x", config) for a config map.

    `stack_outputs` answers StackReferences ({"org/project/stack": {output: value}}) for a config map.
    """

    def run(
        stack: str, config: dict[str, Any] | None = None, stack_outputs: dict[str, dict[str, Any]] | None = None
    ) -> offline.Plan:
        if config is None:
            return offline.run_stack(stack)
        flat, secret_keys = offline.flatten_config(config)
        return offline.run(stack, flat, secret_keys, stack_outputs=stack_outputs)

    return run


_SHARED_PLANS: dict[str, bytes] = {}
"""Every plan `shared_plan` made in this process (one per pytest-xdist worker), pickled, by stack, config and
stack outputs: the mock run is most of a test's time, and most tests only read one of a few plans."""


def cached_plan(
    stack: str, config: dict[str, Any] | None = None, stack_outputs: dict[str, dict[str, Any]] | None = None
) -> offline.Plan:
    """plan_of's plan, made once per process for each (stack, config, stack outputs, pinned day) and handed out as a
    fresh copy each call, so a test that edits its records cannot change another's. For module- and session-scoped
    fixtures, which cannot ask for the function-scoped `shared_plan`.

    Only for a program whose behaviour the caller has not changed (a monkeypatched module, environment or deployer
    is not part of the key): such a test plans with `plan_of`. A run that raises is not remembered."""
    key = json.dumps([stack, config, stack_outputs, os.environ.get(clock.ENV)], sort_keys=True, default=str)
    if key not in _SHARED_PLANS:
        if config is None:
            plan = offline.run_stack(stack)
        else:
            flat, secret_keys = offline.flatten_config(config)
            plan = offline.run(stack, flat, secret_keys, stack_outputs=stack_outputs)
        _SHARED_PLANS[key] = pickle.dumps(plan)
    return pickle.loads(_SHARED_PLANS[key])


@pytest.fixture
def shared_plan() -> Planner:
    """`plan_of` for a test that only reads the plan of an unchanged program: the same arguments, one mock run per
    process (see `cached_plan`)."""
    return cached_plan


@pytest.fixture(scope="session")
def azure_plans() -> dict[str, offline.Plan]:
    """Both stacks planned once for every Azure test module, with the endpoints the services consume exported
    (tests/azure_plans.py); judged on TODAY like every test, though a session fixture runs before `pinned_today`."""
    from tests.azure_plans import STACKS, run

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(clock.ENV, TODAY)
        return {stack: run(stack) for stack in STACKS}

