"""Staging's and prod's Vault trust the infra pipeline exactly as the infra stack exports it: the offline plan
answers their StackReference (cdstack:infraStack) with what Pulumi.infra.yaml's own program would export
(tools/offline.py), so the golden plans show the real issuer and subjects, and nothing is typed twice."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.concourse import infra_pipeline
from components.vault import pipeline_login as vault_pipeline_login
from tests.conftest import cached_plan, stack_config
from tools import offline

INFRA = "organization/cdstack/infra"
INIT = "pulumi-python:dynamic/vault:Init"


def infra_outputs() -> dict[str, Any]:
    """What the infra stack's plan exports, from its own program run (not from the same helper the mock uses)."""
    outputs = cached_plan("infra").outputs
    return {key: outputs[key] for key in (infra_pipeline.ISSUER_OUTPUT, infra_pipeline.SUBJECTS_OUTPUT)}


@pytest.fixture(scope="module")
def exported() -> dict[str, Any]:
    return infra_outputs()


def binding_problems(plan: offline.Plan, exported: dict[str, Any]) -> list[str]:
    """Where the stack's Vault role (the deployer login spec of its initialiser) binds other than the infra stack's
    issuer and the subject it exports for this stack's `up` job."""
    trusted = plan.get(INIT, "vault-init").inputs["access"].get("infraPipeline")
    if trusted is None:
        return ["the stack's Vault trusts no infra pipeline"]
    problems = []
    if trusted["issuer"] != exported[infra_pipeline.ISSUER_OUTPUT]:
        problems.append(f"issuer {trusted['issuer']!r} is not the infra Concourse's")
    want = exported[infra_pipeline.SUBJECTS_OUTPUT][plan.stack][infra_pipeline.up_job(plan.stack)]
    if trusted["subject"] != want:
        problems.append(f"subject {trusted['subject']!r} is not {want!r}")
    if trusted["audience"] != vault_pipeline_login.VAULT_AUDIENCE:
        problems.append(f"audience {trusted['audience']!r}")
    return problems


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_vault_role_binds_exactly_what_the_infra_stack_exports(stack: str, exported: dict[str, Any]):
    plan = cached_plan(stack)
    assert binding_problems(plan, exported) == []
    assert exported[infra_pipeline.ISSUER_OUTPUT] == "https://ci.infra.cd.contoso.com"
    assert plan.get(INIT, "vault-init").inputs["access"]["infraPipeline"]["subject"] == f"main/cdstack//{stack}-up"
    # The infra stack's deployer identities trust the same issuer and subjects (Entra side).
    infra = cached_plan("infra")
    creds = infra.by_type("azure-native:managedidentity:FederatedIdentityCredential")
    up = next(c for c in creds if c.inputs["subject"] == f"main/cdstack//{stack}-up")
    assert up.inputs["issuer"] == exported[infra_pipeline.ISSUER_OUTPUT]


@pytest.mark.parametrize(
    ("plant", "problem"),
    [
        (lambda o: o.update(concourseIssuer=o["concourseIssuer"] + "/"), "is not the infra Concourse's"),
        (lambda o: o["pipelineSubjects"]["staging"].update({"staging-up": "main/cdstack//prod-up"}), "is not"),
    ],
)
def test_a_planted_mismatch_fails(plant: Any, problem: str, exported: dict[str, Any]):
    """The plan binds whatever the reference answers: a stale or doctored answer shows up as a mismatch against
    the infra stack's real outputs."""
    doctored = copy.deepcopy(exported)
    plant(doctored)
    flat, secret_keys = offline.read_stack_file(offline.PROJECT_DIR / "Pulumi.staging.yaml")
    plan = offline.run("staging", flat, secret_keys, stack_outputs={INFRA: doctored})
    assert any(problem in p for p in binding_problems(plan, exported)), binding_problems(plan, exported)


def test_an_infra_stack_that_does_not_deploy_this_stack_is_refused(plan_of):
    config = stack_config("staging")
    with pytest.raises(Exception, match="exports no issuer or no subject for the job staging-up"):
        plan_of("staging", config, stack_outputs={INFRA: {"concourseIssuer": "https://ci.x.example.com"}})


def test_without_infra_stack_the_vault_trusts_no_pipeline(shared_plan):
    config = stack_config("staging")
    del config["cdstack:infraStack"]
    plan = shared_plan("staging", config)
    assert "infraPipeline" not in plan.get(INIT, "vault-init").inputs["access"]
    assert not plan.by_type("pulumi:pulumi:StackReference")
