"""The infra stack sets its own pipeline (components/infra_ci.py): ci/pipeline.yml as committed, in team main as
pipeline cdstack, after the vars it knows are in its Vault; every var the pipeline reads is either written by the
stack or named as an operator's, with the reason. And no pipeline deploys the infra stack: a broken infra pipeline
is repaired from a laptop."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from components import infra_ci
from components.concourse import infra_pipeline
from tools import offline

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "ci" / "pipeline.yml"
VAR = re.compile(r"\(\(([a-z0-9_-]+)\.([a-z0-9_]+)\)\)")


@pytest.fixture(scope="module")
def infra_plan() -> offline.Plan:
    return offline.run_stack("infra")


def test_the_infra_stack_sets_ci_pipeline_yml_as_committed(infra_plan: offline.Plan):
    pipeline = infra_plan.get("pulumi-python:dynamic/concourse:Pipeline", "infra-pipeline")
    assert pipeline.inputs["config"] == PIPELINE.read_text()
    assert (pipeline.inputs["teamName"], pipeline.inputs["pipelineName"]) == ("main", infra_pipeline.PIPELINE)
    assert pipeline.inputs["url"] == infra_plan.outputs[infra_pipeline.ISSUER_OUTPUT]
    # It keeps setting itself from git, so later commits need no laptop.
    jobs = {job["name"]: job for job in yaml.safe_load(PIPELINE.read_text())["jobs"]}
    assert {"set_pipeline": "self", "file": "cdstack/ci/pipeline.yml"} in jobs["set-pipeline"]["plan"]


def test_the_pipeline_waits_for_the_api_and_every_var_the_stack_writes(infra_plan: offline.Plan):
    pipeline = infra_plan.get("pulumi-python:dynamic/concourse:Pipeline", "infra-pipeline")
    secrets = [r for r in infra_plan.by_type("vault:kv/secretV2:SecretV2") if r.name.startswith("infra-pipeline-")]
    assert {r.inputs["name"] for r in secrets} == {"main/azure-staging", "main/azure-prod", "main/pulumi-state"}
    waits = set(pipeline.dependencies)
    assert {r.urn for r in secrets} <= waits
    assert any(u.endswith("concourse:ApiReady::concourse-api-ready") for u in waits)


def test_every_pipeline_var_is_written_by_the_stack_or_named_for_an_operator(infra_plan: offline.Plan):
    """The secrets' data is masked in the plan (a Vault secret's data is a secret): their fields come from the same
    builders the component writes them with."""
    used: dict[str, set[str]] = {}
    for name, field in VAR.findall(PIPELINE.read_text()):
        used.setdefault(name, set()).add(field)
    cfg = offline.load_config("infra")
    state = infra_ci.state_vars(cfg)
    assert state is not None
    fields = {infra_ci.STATE_SECRET: set(state)}
    fields |= {infra_ci.deployer_secret(d.environment): set(infra_ci.deployer_vars("", "", "")) for d in cfg.deployers}
    written = {
        r.inputs["name"].removeprefix("main/")
        for r in infra_plan.by_type("vault:kv/secretV2:SecretV2")
        if r.name.startswith("infra-pipeline-")
    }
    assert written == set(fields)
    for name, read in used.items():
        if name in written:
            assert read <= fields[name], (name, read, fields[name])
        else:
            assert name in infra_ci.OPERATOR_SECRETS, f"(({name}.*)) is neither written by the infra stack nor listed"
    assert not set(infra_ci.OPERATOR_SECRETS) & written
    assert set(infra_ci.OPERATOR_SECRETS) <= set(used), "an operator secret the pipeline no longer reads"


def test_the_deployer_vars_are_the_identities_the_stack_creates(infra_plan: offline.Plan):
    cfg = offline.load_config("infra")
    assert [d.subscription_id for d in cfg.deployers] == [
        "00000000-0000-4000-8000-0000000000a1",
        "00000000-0000-4000-8000-0000000000b1",
    ]
    staging = infra_plan.get("vault:kv/secretV2:SecretV2", "infra-pipeline-azure-staging")
    identity = infra_plan.get("azure-native:managedidentity:UserAssignedIdentity", "deployer-staging")
    assert identity.urn in staging.dependencies
    assert infra_ci.state_vars(cfg) == {"backend_url": "azblob://pulumi-state", "storage_account": "stcontosostate"}


# ---------------------------------------------------------------------------------------------------------------------
# Nothing deploys the infra stack but a laptop


def stacks_deployed(pipeline: dict) -> set[str]:
    """Every STACK a task of the pipeline is given (the tasks act on no other)."""
    found = set()
    for job in pipeline["jobs"]:
        for step in job["plan"]:
            stack = (step.get("params") or {}).get("STACK")
            if stack is not None:
                found.add(stack)
    return found


def test_no_pipeline_deploys_the_infra_stack():
    pipeline = yaml.safe_load(PIPELINE.read_text())
    deployed = stacks_deployed(pipeline)
    assert deployed == {"staging", "prod"}
    assert "infra" not in deployed
    assert not any(job["name"].startswith("infra-") for job in pipeline["jobs"])
    # Nor could one log in as a deployer of it: no deployer identity is federated for the infra stack itself.
    assert "infra" not in {d.environment for d in offline.load_config("infra").deployers}


def test_a_planted_infra_job_is_found():
    pipeline = yaml.safe_load(PIPELINE.read_text())
    pipeline["jobs"].append({"name": "sneaky", "plan": [{"task": "up", "params": {"STACK": "infra", "COMMAND": "up"}}]})
    assert "infra" in stacks_deployed(pipeline)
