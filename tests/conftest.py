"""Shared fixtures: the offline plan's mock engine, set up per test (never at import time)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
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
"""Every plan `cached_plan` handed out in this process, pickled, by its arguments and the pinned day."""

PLANS_DIR_ENV = "CDSTACK_TEST_SESSION_PLANS"
"""The folder where this test session's processes (pytest-xdist's workers) keep the plans they made: the controller
makes a fresh one for each session (pytest_configure), and the workers inherit it through their environment."""


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller, or a run without workers: never a folder of a past run
        folder = tempfile.mkdtemp(prefix="cdstack-test-plans-")
        os.environ[PLANS_DIR_ENV] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


def _session_plan(stack: str, config: dict[str, Any] | None, stack_outputs: dict[str, dict[str, Any]] | None) -> bytes:
    """The pickled plan of one set of program inputs, made by whichever process of this session asks first while the
    others wait for it (a lock per inputs): the program is deterministic in its inputs, and a shared plan costs a
    mock run of a second or more, which three workers would otherwise each pay.

    The key is what `offline.run` hands the program: stack, flattened config, secret keys, the outputs of the stacks it
    reads (the ones `offline.run_stack` assumes when `config` is None) and the pinned day."""
    if config is None:
        flat, secret_keys, outputs = offline.stack_file_inputs(stack)
    else:
        flat, secret_keys = offline.flatten_config(config)
        outputs = stack_outputs
    outputs = offline.answered_stack_outputs(flat, outputs)
    inputs = json.dumps(
        [stack, flat, sorted(secret_keys), outputs, os.environ.get(clock.ENV)], sort_keys=True, default=str
    )
    path = Path(os.environ[PLANS_DIR_ENV]) / hashlib.sha256(inputs.encode()).hexdigest()
    with path.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            pickled = pickle.dumps(offline.run(stack, flat, secret_keys, stack_outputs=outputs))
            partial = path.with_suffix(".partial")
            partial.write_bytes(pickled)
            partial.replace(path)
        return path.read_bytes()


def cached_plan(
    stack: str, config: dict[str, Any] | None = None, stack_outputs: dict[str, dict[str, Any]] | None = None
) -> offline.Plan:
    """plan_of's plan, made once per test session for each set of program inputs (`_session_plan`) and handed out as
    a fresh copy each call, so a test that edits its records cannot change another's. For module- and session-scoped
    fixtures, which cannot ask for the function-scoped `shared_plan`.

    Only for a program whose behaviour the caller has not changed (a monkeypatched module, environment or deployer
    is not part of the key): such a test plans with `plan_of`. A run that raises is not remembered."""
    key = json.dumps([stack, config, stack_outputs, os.environ.get(clock.ENV)], sort_keys=True, default=str)
    if key not in _SHARED_PLANS:
        _SHARED_PLANS[key] = _session_plan(stack, config, stack_outputs)
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


WAITING_FIRST = (
    "tests/test_vault_raft.py",  # Raft elections and autopilot's stabilisation time, in real time: about a minute
    "tests/test_vault_init.py",  # a Raft server started, initialised and unsealed per test
    "tests/test_teams_faults.py",  # real socket timeouts: stalled handshakes, drip-fed bodies, hanging DNS
    "tests/test_smoke_e2e.py",  # real servers and waits on them
)
"""Test files that spend most of their time waiting, not computing, longest first. They run first, each taking a
worker of its own while the other workers keep the cores busy: at the end of the run one of them would be a minute of
one worker waiting alone. (Under pytest-xdist, with `--no-loadscope-reorder`, files are handed out in this order.)"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """WAITING_FIRST's files first, in its order; every other file after them, as collected."""
    rank = {path: index for index, path in enumerate(WAITING_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: unknown when a run disables the plugin (WORKERS=1)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers more than cores. The WAITING_FIRST files keep about two workers waiting, not computing,
    for most of a run (Raft's minute on one, the initialiser's servers and the socket timeouts on another); with one
    worker per core, a core would sit idle meanwhile. Measured on the 2-core machine: 140 s with three workers, 122 s
    with four."""
    return (os.cpu_count() or 1) + 2
