"""The infra pipeline's deployer identities (components/deployers.py, components/azure/deployers.py), proven over the
offline plan of a stack that hosts them: every federated credential's issuer, subject and audience equal what the
pipeline file (ci/pipeline.yml) would make the planned Concourse issue to the jobs that read that environment's token.
The expected claims are computed from the pipeline file's own var sources and jobs and the Concourse release's
planned `externalUrl`, through the same functions Concourse's formats are pinned in (components/concourse/idtoken.py),
so a drift on either side (a scope changed in the file, a trailing slash in the issuer) fails here."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from components import deployers
from components.concourse import idtoken
from components.config.loader import ConfigError
from tests.conftest import PROJECT_DIR, Planner, stack_config
from tests.services import at, release_values
from tools import offline

FEDERATION = "azure-native:managedidentity:FederatedIdentityCredential"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
ROLE = "azure-native:authorization:RoleAssignment"
SUBSCRIPTION = "/subscriptions/00000000-0000-4000-8000-0000000000aa"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
PIPELINE = yaml.safe_load((PROJECT_DIR / "ci" / "pipeline.yml").read_text())
PIPELINE_TEAM, PIPELINE_NAME = "main", "cdstack"
"""Where the README sets the pipeline: `fly -t infra set-pipeline -p cdstack` (the main team)."""


def hosting_config() -> dict[str, Any]:
    """The staging stack file with deployer identities for staging and prod: the infra stack's role, for now."""
    cfg = stack_config("staging")
    cfg["cdstack:deployers"] = [
        {
            "environment": "staging",
            "roles": [
                {"scope": SUBSCRIPTION, "roleDefinitionId": CONTRIBUTOR},
                {"scope": f"{SUBSCRIPTION}/resourceGroups/state", "roleDefinitionId": BLOB_CONTRIBUTOR},
            ],
        },
        {"environment": "prod", "roles": [{"scope": SUBSCRIPTION, "roleDefinitionId": CONTRIBUTOR}]},
    ]
    return cfg


@pytest.fixture(scope="module")
def plan() -> offline.Plan:
    flat, secret_keys = offline.flatten_config(hosting_config())
    return offline.run("staging", flat, secret_keys)


def expected_claims(pipeline: dict[str, Any], external_url: str) -> dict[str, set[tuple[str, str, tuple[str, ...]]]]:
    """{var source name: {(iss, sub, aud)}}: what Concourse issues to each job that has a task reading that var
    source's token, from the pipeline file's own var source config (its scope and audience)."""
    claims: dict[str, set[tuple[str, str, tuple[str, ...]]]] = {}
    for source in pipeline["var_sources"]:
        name, config = source["name"], source["config"]
        claims[name] = {
            (
                idtoken.issuer(external_url),
                idtoken.subject(PIPELINE_TEAM, PIPELINE_NAME, config["subject_scope"], job["name"]),
                tuple(config["audience"]),
            )
            for job in pipeline["jobs"]
            for step in job.get("plan", [])
            if "task" in step and f"(({name}:token))" in json.dumps(step.get("params", {}))
        }
    return claims


def planned_credentials(plan: offline.Plan) -> dict[str, set[tuple[str, str, tuple[str, ...]]]]:
    """{environment: {(issuer, subject, audiences)}} of the federated credentials in the plan."""
    found: dict[str, set[tuple[str, str, tuple[str, ...]]]] = {}
    for r in plan.by_type(FEDERATION):
        if r.name.startswith("deployer-"):
            environment = r.name.split("-")[1]
            claim = (r.inputs["issuer"], r.inputs["subject"], tuple(r.inputs["audiences"]))
            found.setdefault(environment, set()).add(claim)
    return found


def mismatches(plan: offline.Plan, pipeline: dict[str, Any]) -> list[str]:
    """Each environment's trusted claims against what Concourse would issue for its var source's jobs."""
    external_url = at(release_values(plan, "concourse"), "concourse.web.externalUrl")
    issued = expected_claims(pipeline, external_url)
    trusted = planned_credentials(plan)
    problems = []
    for environment, claims in trusted.items():
        wanted = issued.get(f"azure-{environment}-idtoken", set())
        if claims != wanted:
            problems.append(f"{environment}: trusts {sorted(claims)}, Concourse issues {sorted(wanted)}")
    return problems


def test_every_federated_credential_matches_what_the_pipeline_makes_concourse_issue(plan: offline.Plan):
    assert set(planned_credentials(plan)) == {"staging", "prod"}
    assert mismatches(plan, PIPELINE) == []
    external_url = at(release_values(plan, "concourse"), "concourse.web.externalUrl")
    assert {c[0] for claims in planned_credentials(plan).values() for c in claims} == {external_url}
    # the test and image jobs get no token any deployer accepts
    subjects = {c[1] for claims in planned_credentials(plan).values() for c in claims}
    assert subjects == {f"main/cdstack//{job}" for job in ("staging-up", "staging-smoke", "prod-up", "prod-smoke")}


def test_a_scope_changed_in_the_pipeline_file_is_caught(plan: offline.Plan):
    planted = copy.deepcopy(PIPELINE)
    planted["var_sources"][1]["config"]["subject_scope"] = "pipeline"
    (problem,) = mismatches(plan, planted)
    assert problem.startswith("prod: ") and "main/cdstack'" in problem


def test_a_trailing_slash_in_the_issuer_is_caught(plan: offline.Plan):
    planted = copy.deepcopy(plan)
    slashed = [r for r in planted.by_type(FEDERATION) if r.name.startswith("deployer-staging")]
    for r in slashed:
        r.inputs["issuer"] += "/"
    assert [p.split(":")[0] for p in mismatches(planted, PIPELINE)] == ["staging"]
    with pytest.raises(ValueError, match="trailing slash"):  # and the program refuses to write one
        idtoken.issuer(slashed[0].inputs["issuer"])


def test_roles_and_identities(plan: offline.Plan):
    names = {r.inputs["resourceName"] for r in plan.by_type(IDENTITY) if r.name.startswith("deployer-")}
    assert names == {"id-contoso-staging-deployer-staging", "id-contoso-staging-deployer-prod"}
    roles = [r for r in plan.by_type(ROLE) if r.name.startswith("deployer-")]
    assert sorted((r.inputs["scope"], r.inputs["roleDefinitionId"].rsplit("/", 1)[1]) for r in roles) == sorted(
        [
            (SUBSCRIPTION, CONTRIBUTOR),
            (f"{SUBSCRIPTION}/resourceGroups/state", BLOB_CONTRIBUTOR),
            (SUBSCRIPTION, CONTRIBUTOR),
        ]
    )
    for r in roles:
        assert r.inputs["roleDefinitionId"].startswith(f"{SUBSCRIPTION}/providers/Microsoft.Authorization/")
    assert set(plan.outputs["deployerClientIds"]) == {"staging", "prod"}


def test_a_stack_without_deployers_creates_none(shared_plan: Planner):
    shipped = shared_plan("staging")
    assert not [r for r in shipped.by_type(IDENTITY) if r.name.startswith("deployer-")]
    assert "deployerClientIds" not in shipped.outputs


def test_an_environment_listed_twice_is_refused(plan_of: Planner):
    cfg = hosting_config()
    cfg["cdstack:deployers"][1]["environment"] = "staging"
    with pytest.raises(ConfigError) as error:
        plan_of("staging", cfg)
    assert error.value.keys == ["cdstack:deployers[1].environment"]
    assert "one identity per environment" in str(error.value)
    assert deployers.role_key("prod", SUBSCRIPTION, CONTRIBUTOR) == deployers.role_key(
        "prod", SUBSCRIPTION.upper().replace("SUBSCRIPTIONS", "subscriptions"), CONTRIBUTOR.upper()
    )
