"""The canary pipeline (components/concourse/canary.py): Concourse would save its config, it runs on the configured
period, proves the Vault path and DNS without printing the marker, and every stack plans it after its team and
marker."""

from __future__ import annotations

import copy
import subprocess
from typing import Any

import pytest
import yaml

from components import catalog
from components.concourse import canary
from components.config.loader import ConfigError
from tests import concourse_config
from tests.conftest import stack_config
from tests.services import stack_cfg
from tools import offline


def cfg_of(stack: str, **canary_settings: Any):
    return stack_cfg(stack, **({"canary": canary_settings} if canary_settings else {}))


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_concourse_would_save_the_canary_pipeline(stack: str):
    config = yaml.safe_load(canary.pipeline_yaml(cfg_of(stack)))
    assert concourse_config.problems(config) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda c: c["resources"].append({"name": "spare", "type": "time", "source": {}}), "'spare' is not used"),
        (lambda c: c["jobs"][0]["plan"][0].update(get="nowhere"), "unknown resource 'nowhere'"),
        (lambda c: c["jobs"][0]["plan"][1]["config"].pop("platform"), "missing 'platform'"),
        (lambda c: c["jobs"][0]["plan"][1]["config"].update(image="x"), "unknown field 'image'"),
        (lambda c: c["jobs"][0].update(name="Canary"), "'Canary' is not a valid identifier"),
        (lambda c: c["resources"][0]["source"].update(interval="15 minutes"), "is not a Go duration"),
    ],
)
def test_the_check_catches_what_concourse_refuses(change, problem: str):
    config = canary.pipeline_config(cfg_of("staging"))
    change(config)
    assert any(problem in found for found in concourse_config.problems(config)), concourse_config.problems(config)


def test_the_canary_runs_every_period_reads_the_marker_from_vault_and_resolves_every_public_host():
    cfg = cfg_of("staging", intervalMinutes=10)
    config = canary.pipeline_config(cfg)
    assert config["resources"][0] == {
        "name": "period",
        "type": "time",
        "icon": "clock-outline",
        "source": {"interval": "10m"},
    }
    get, task = config["jobs"][0]["plan"]
    assert get == {"get": "period", "trigger": True}
    assert task["timeout"] == "10m"
    assert task["params"]["CANARY_MARKER"] == "((canary-marker.value))"
    assert task["params"]["EXPECTED_MARKER"] == canary.marker(cfg)
    names = task["params"]["NAMES"].split()
    assert names[0] == canary.EXTERNAL_NAME
    assert set(names[1:]) == set(cfg.public_hosts().values())
    assert task["config"]["image_resource"]["source"] == {"repository": "busybox", "tag": catalog.IMAGES["busybox"]}


def run_script(tmp_path, marker: str, expected: str, names: str) -> subprocess.CompletedProcess[str]:
    """The task's script in a POSIX sh, with an nslookup that knows one name only (the container's DNS)."""
    (tmp_path / "nslookup").write_text('#!/bin/sh\n[ "$1" = "ci.example.com" ]\n')
    (tmp_path / "nslookup").chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "CANARY_MARKER": marker, "EXPECTED_MARKER": expected}
    env |= {"NAMES": names, "IMAGE": "busybox:1.37.0"}
    return subprocess.run(["sh", "-c", canary.SCRIPT], env=env, capture_output=True, text=True, check=False)


def test_the_script_prints_one_line_per_check_and_never_the_marker(tmp_path):
    passed = run_script(tmp_path, "canary-x", "canary-x", "ci.example.com")
    assert passed.returncode == 0
    assert passed.stdout.splitlines() == [
        "vault: read the team's canary-marker through Concourse's credential manager",
        "dns: ci.example.com resolves",
        "image: busybox:1.37.0 pulled and started",
    ]
    failed = run_script(tmp_path, "stale", "canary-x", "ci.example.com nowhere.example.com")
    assert failed.returncode == 1
    assert "vault: FAILED" in failed.stdout
    assert "dns: FAILED: nowhere.example.com does not resolve inside the build container" in failed.stdout
    assert "canary-x" not in failed.stdout + passed.stdout


@pytest.mark.parametrize(("value", "allowed"), [(4, "greater than or equal to 5"), (61, "less than or equal to 60")])
def test_the_interval_is_bounded(plan_of, value: int, allowed: str):
    raw = copy.deepcopy(stack_config("staging"))
    raw["cdstack:canary"] = {"intervalMinutes": value}
    with pytest.raises(ConfigError) as caught:
        plan_of("staging", raw)
    line = next(line for line in str(caught.value).splitlines() if "cdstack:canary.intervalMinutes" in line)
    assert allowed in line


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_stack_plans_the_canary_after_its_team_and_its_marker(shared_plan, stack: str):
    plan = shared_plan(stack)
    pipeline = plan.get("pulumi-python:dynamic/concourse:Pipeline", "canary-pipeline")
    assert pipeline.inputs["teamName"] == "cdstack-smoke"
    assert pipeline.inputs["pipelineName"] == "canary"
    assert pipeline.inputs["adminPassword"] == offline.SECRET
    assert yaml.safe_load(pipeline.inputs["config"])["jobs"][0]["name"] == "canary"
    marker = plan.get("vault:kv/secretV2:SecretV2", "canary-marker")
    assert marker.inputs["name"] == "cdstack-smoke/canary-marker"
    team = plan.get("pulumi-python:dynamic/concourse:Team", "team-cdstack-smoke")
    assert {team.urn, marker.urn} <= set(pipeline.dependencies)
