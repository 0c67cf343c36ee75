"""Lean stacks (config.PartsConfig): a stack with a part switched off plans without a trace of it (no release, Secret,
datasource, namespace, network policy, DNS record, backup container or output of it) and keeps everything else. One
plan per part (staging with that part off), so each part's dependents are proven on their own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from components import catalog, clock, network_edges
from tests.conftest import TODAY, Planner, cached_plan, stack_config
from tests.services import stack_cfg
from tools import offline

PART_WORDS = {
    "elasticsearch": ("elasticsearch", "kibana", "elastalert", "filebeat", "eck-", '"logging"', "services:logging"),
    "influxdb": ("influx", "telegraf"),
    "chartmuseum": ("chartmuseum", "chartstorage", "chart-storage"),
}
"""What nothing in a stack without the part may name: its components, charts, pods, namespace, datasources, Secrets,
hosts and storage."""

PART_OUTPUTS = {
    "elasticsearch": {"kibanaUrl", "elasticsearchReaderSecret"},
    "influxdb": set(),
    "chartmuseum": {"chartmuseumUrl", "chartmuseumUser", "chartmuseumAuthSecret"},
}
PARTS = sorted(PART_WORDS)


def lean(part: str) -> dict[str, Any]:
    config = stack_config("staging")
    config["cdstack:parts"] = {part: False}
    return config


def names(value: Any, words: tuple[str, ...]) -> bool:
    text = json.dumps(value).lower()
    return any(word in text for word in words)


def traces(plan: offline.Plan, words: tuple[str, ...]) -> list[str]:
    """Every resource whose URN (type, name and parents) or inputs name one of `words`."""
    return [f"{r.type} {r.name}" for r in plan.registrations if names([r.urn, r.inputs], words)]


@pytest.fixture(scope="module")
def full_staging() -> Iterator[offline.Plan]:
    """Staging's plan, shared with the worker's other tests, judged on TODAY like the lean plans it is compared with
    (a module fixture runs before `pinned_today`)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(clock.ENV, TODAY)
        yield cached_plan("staging")


@pytest.mark.parametrize("part", PARTS)
def test_a_stack_without_a_part_plans_without_any_trace_of_it(part: str, plan_of: Planner, full_staging: offline.Plan):
    plan = plan_of("staging", lean(part))
    assert traces(plan, PART_WORDS[part]) == []
    released = {r.inputs["chart"] for r in plan.by_type("kubernetes:helm.sh/v3:Release")}
    assert released and released.isdisjoint(catalog.PART_CHARTS[part])
    assert set(plan.outputs["releaseSet"]["charts"]).isdisjoint(catalog.PART_CHARTS[part])
    # Everything that is not the part (nor under its component) stays.
    kept = {(r.type, r.name) for r in full_staging.registrations if not names([r.urn, r.inputs], PART_WORDS[part])}
    assert kept - {(r.type, r.name) for r in plan.registrations} == set()
    assert set(plan.outputs) == set(full_staging.outputs) - PART_OUTPUTS[part]


@pytest.mark.parametrize("part", PARTS)
def test_no_network_edge_policy_or_public_host_of_a_part_left_out(part: str):
    cfg = stack_cfg("staging", parts={part: False})
    absent = set(network_edges.PART_PODS[part])
    assert [e for e in network_edges.required_edges(cfg) if e.source in absent or e.target in absent] == []
    assert [p["metadata"]["name"] for p in network_edges.policies(cfg) if names(p, PART_WORDS[part])] == []
    assert not names(cfg.public_hosts(), PART_WORDS[part])


def test_every_part_is_on_by_default():
    cfg = stack_cfg("staging")
    assert cfg.parts.off() == []
    assert {"kibana", "chartmuseum"} <= set(cfg.public_hosts())


def test_the_infra_stack_is_lean_and_not_production():
    """Pulumi.infra.yaml: the infra Concourse leaves every part out, and plans without a trace of any of them."""
    cfg = offline.load_config("infra")
    assert (cfg.production, sorted(cfg.parts.off())) == (False, PARTS)
    plan = cached_plan("infra")
    assert traces(plan, tuple(word for words in PART_WORDS.values() for word in words)) == []
    assert not set(plan.outputs) & set().union(*PART_OUTPUTS.values())
