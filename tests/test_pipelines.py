"""The pipeline resource (components/concourse/pipelines.py) against the fake Concourse's pipeline API
(tests/fake_concourse.py, shapes from atc/api/configserver and atc/api/pipelineserver at v8.1.1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from components.concourse.pipelines import PipelineProvider
from components.concourse.team_api import TeamApiError
from tests.fake_concourse import ADMIN, PASSWORD, FakeConcourse, VirtualClock, running

CONFIG = "jobs:\n- name: probe\n  plan:\n  - task: hello\n    config: {platform: linux, run: {path: 'true'}}\n"
CHANGED = CONFIG.replace("probe", "probe-again")


@pytest.fixture
def concourse() -> Iterator[FakeConcourse]:
    with running() as server:
        server.teams["cdstack-smoke"] = {"id": 2, "name": "cdstack-smoke", "auth": {}}
        yield server


@pytest.fixture
def provider() -> PipelineProvider:
    bounds = {"connect_timeout": 0.5, "read_timeout": 0.5, "first_wait": 0.05, "max_wait": 0.2}
    return PipelineProvider(VirtualClock(), bounds)


def props(server: FakeConcourse, config: str = CONFIG, **over: Any) -> dict[str, Any]:
    return {
        "teamName": "cdstack-smoke",
        "pipelineName": "canary",
        "config": config,
        "url": server.url,
        "adminUser": ADMIN,
        "adminPassword": PASSWORD,
        "budgetSeconds": 3,
        **over,
    }


def saved(server: FakeConcourse) -> dict[str, Any]:
    return server.pipelines[("cdstack-smoke", "canary")]


def test_create_sets_the_config_unpaused_and_a_changed_config_updates_it_in_place(concourse, provider):
    created = provider.create(props(concourse))
    assert created.id == "cdstack-smoke/canary"
    assert saved(concourse)["config"] == CONFIG
    assert saved(concourse)["paused"] is False, "a new pipeline starts paused: create must unpause it"
    assert created.outs is not None

    assert not provider.diff(created.id, created.outs, props(concourse)).changes
    diff = provider.diff(created.id, created.outs, props(concourse, CHANGED))
    assert diff.changes and not diff.replaces
    assert provider.diff(created.id, created.outs, props(concourse, pipelineName="other")).replaces == ["pipelineName"]

    first = saved(concourse)["version"]
    provider.update(created.id, created.outs, props(concourse, CHANGED))
    assert saved(concourse)["config"] == CHANGED
    assert saved(concourse)["version"] > first  # saved over the version read first, as Concourse requires

    provider.delete(created.id, props(concourse, CHANGED))
    assert ("cdstack-smoke", "canary") not in concourse.pipelines
    provider.delete(created.id, props(concourse, CHANGED))  # already gone: deleted


def test_a_refresh_finds_a_paused_or_destroyed_pipeline_and_the_next_up_sets_it_again(concourse, provider):
    created = provider.create(props(concourse))
    assert created.outs is not None
    saved(concourse)["paused"] = True  # someone ran `fly pause-pipeline`
    read = provider.read(created.id, created.outs)
    assert read.outs is not None and read.outs["paused"] is True
    assert provider.diff(created.id, read.outs, props(concourse)).changes
    provider.update(created.id, read.outs, props(concourse))
    assert saved(concourse)["paused"] is False

    del concourse.pipelines[("cdstack-smoke", "canary")]  # `fly destroy-pipeline`
    assert provider.read(created.id, created.outs).id == ""


def test_a_save_that_committed_before_a_500_is_retried_over_the_new_version(concourse, provider):
    """The retry reads the version again: saving over the one read before the first attempt would fail Concourse's
    comparison for ever."""
    provider.create(props(concourse))
    concourse.faults = ["PUT:500-after-commit"]
    provider.update("cdstack-smoke/canary", {}, props(concourse, CHANGED))
    assert saved(concourse)["config"] == CHANGED
    assert len([p for m, p in concourse.requests if m == "PUT" and p.endswith("/config")]) == 3


def test_a_config_concourse_refuses_fails_at_once_with_its_errors(concourse, provider):
    with pytest.raises(TeamApiError) as caught:
        provider.create(props(concourse, "resources: []\n"))
    message = str(caught.value)
    assert message.startswith("pipeline cdstack-smoke/canary: PUT ")
    assert "400 Bad Request: Concourse refused the config: invalid jobs:" in message
    assert "1 attempt " in message


def test_a_missing_team_is_named(concourse, provider):
    with pytest.raises(TeamApiError, match="team 'nobody' does not exist"):
        provider.create(props(concourse, teamName="nobody"))
