"""Teams' Azure identities: the values, the plan, and the proof that every federated credential trusts exactly the
token Concourse issues for that team and pipeline, with the var source docs/teams.md shows.

Entra ID compares issuer, subject and audience as strings, and a credential that matches nothing is created without
an error: only the exchange fails, at run time, with AADSTS70021. So the proof compares the plan's credentials with
Concourse's token as computed from two other sources: the Concourse release's `externalUrl` (its issuer, Concourse
v8.1.1 atc/atccmd/command.go) and docs/teams.md's pipeline example (audience and subject scope).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from components import clock
from components.concourse import idtoken, team_azure
from components.config.schema import StackConfig
from tests.conftest import PROJECT_DIR, TODAY, Planner, cached_plan, stack_config
from tests.services import stack_cfg
from tools import charts, offline, render

IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
FEDERATION = "azure-native:managedidentity:FederatedIdentityCredential"
ASSIGNMENT = "azure-native:authorization:RoleAssignment"
SECRET = "vault:kv/secretV2:SecretV2"
RELEASE = "kubernetes:helm.sh/v3:Release"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SUB = "3c9e1f4a-7b2d-4e8a-9c6f-0d1e2f3a4b5c"


def team_with(**azure: Any) -> Any:
    return stack_cfg("staging", teams=[{"name": "payments", "serviceUser": "payments-bot", "azure": azure}]).teams[0]


# ---------------------------------------------------------------------------------------------------------------------
# Pure values


@pytest.mark.parametrize("name", ["deploy", "deploy-app_2.0", "2fa-rollout", "déploiement", "デプロイ"])
def test_pipeline_names_concourse_takes_without_a_warning_pass(name: str):
    assert team_azure.concourse_pipeline_name_problem(name) is None


@pytest.mark.parametrize("name", ["", "Deploy", "123", "-deploy", ".hidden", "a/b", "deploy app", "deploy!"])
def test_pipeline_names_concourse_warns_about_or_fly_refuses_fail(name: str):
    assert team_azure.concourse_pipeline_name_problem(name)


@pytest.mark.parametrize(
    "scope",
    [
        f"/subscriptions/{SUB}",
        f"/subscriptions/{SUB}/resourceGroups/rg-payments",
        f"/subscriptions/{SUB}/resourceGroups/rg(1).x/providers/Microsoft.Storage/storageAccounts/stpay",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Sql/servers/sql1/databases/db1",
        "/providers/Microsoft.Management/managementGroups/payments",
    ],
)
def test_azure_resource_ids_are_scopes(scope: str):
    cfg = stack_cfg("staging", teams=[_team([{"scope": scope, "role": "Contributor"}])])
    assert team_azure.scope_problems(cfg) == []


@pytest.mark.parametrize(
    "scope",
    [
        "rg-payments",
        "/subscriptions/payments",
        f"/subscriptions/{SUB}/",
        f"/subscriptions/{SUB}/resourceGroups/rg.",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage",
        f"subscriptions/{SUB}",
    ],
)
def test_anything_else_is_no_scope(scope: str):
    cfg = stack_cfg("staging", teams=[_team([{"scope": scope, "role": "Contributor"}])])
    (problem,) = team_azure.scope_problems(cfg)
    assert problem.key == "cdstack:teams[0].azure.roles[0].scope" and problem.value == scope


def _team(roles: list[dict[str, Any]], allow: bool = False) -> dict[str, Any]:
    return {
        "name": "payments",
        "serviceUser": "payments-bot",
        "azure": {"pipelines": ["deploy"], "roles": roles, "allowPrivilegedRoles": allow},
    }


def test_role_definitions_live_in_the_scopes_subscription_or_the_tenant():
    contributor = team_azure.ROLE_IDS["Contributor"]
    assert team_azure.role_definition_id(f"/subscriptions/{SUB}/resourceGroups/rg", "Contributor") == (
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{contributor}"
    )
    assert team_azure.role_definition_id("/providers/Microsoft.Management/managementGroups/mg", contributor) == (
        f"/providers/Microsoft.Authorization/roleDefinitions/{contributor}"
    )


def test_a_privileged_role_by_guid_in_any_case_is_still_privileged():
    assert team_azure.is_privileged(team_azure.ROLE_IDS["Owner"].upper())
    assert not team_azure.is_privileged("Contributor")


@pytest.mark.parametrize("production", [False, True])
def test_privileged_roles_pass_where_both_switches_say_so(production: bool):
    owner = [{"scope": f"/subscriptions/{SUB}", "role": "Owner"}]
    cfg = stack_cfg("staging", production=production, allowTeamPrivilegedRoles=True, teams=[_team(owner, True)])
    assert team_azure.privileged_role_problems(cfg) == []
    if not production:  # outside production the team's own switch is enough
        cfg = stack_cfg("staging", teams=[_team(owner, True)])
        assert team_azure.privileged_role_problems(cfg) == []


def test_credential_names_are_what_entra_takes_and_one_per_pipeline():
    names = [team_azure.federation_name(p) for p in ["a.b", "a-b", "a_b", "デプロイ", "x" * 300]]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{2,119}", name) for name in names), names


def test_a_credential_per_pipeline_with_concourses_subject():
    team = team_with(pipelines=["deploy", "nightly.build"])
    found = team_azure.federations(team, "https://ci.example.com")
    assert [(f["issuer"], f["subject"], f["audiences"]) for f in found] == [
        ("https://ci.example.com", "payments/deploy", ["api://AzureADTokenExchange"]),
        ("https://ci.example.com", "payments/nightly.build", ["api://AzureADTokenExchange"]),
    ]


# ---------------------------------------------------------------------------------------------------------------------
# The proof over the plan


def readme_var_source() -> dict[str, Any]:
    """The idtoken var source of the manual's team pipeline example (docs/teams.md, section "Teams act in Azure
    without a secret")."""
    text = (PROJECT_DIR / "docs" / "teams.md").read_text()
    section = text.split("## Teams act in Azure without a secret", 1)[1].split("\n## ", 1)[0]
    for block in re.findall(r"```yaml\n(.*?)```", section, re.DOTALL):
        doc = yaml.safe_load(block)
        for source in doc.get("var_sources", []) if isinstance(doc, dict) else []:
            if source.get("type") == "idtoken":
                return source
    raise AssertionError("docs/teams.md's section shows no idtoken var source")


def concourse_issuer(plan: offline.Plan) -> str:
    """The `iss` the planned Concourse writes: its OIDC issuer URL if set, else its external URL."""
    web = plan.get(RELEASE, "concourse").inputs["values"]["concourse"]["web"]
    return idtoken.issuer(web.get("oidcIssuerUrl") or web["externalUrl"])


def federation_mismatches(plan: offline.Plan, cfg: StackConfig, var_source: dict[str, Any]) -> list[str]:
    """Every credential the plan has that no pipeline's token matches, and every listed pipeline without one."""
    issuer = concourse_issuer(plan)
    scope = var_source["config"].get("subject_scope", "pipeline")
    wanted = {
        (cfg.naming.identity(team_azure.identity_purpose(team.name)), issuer, idtoken.subject(team.name, p, scope))
        for team in cfg.teams
        if team.azure is not None
        for p in team.azure.pipelines
    }
    planned = set()
    problems = []
    for r in team_credentials(plan):
        planned.add((r.inputs["resourceName"], r.inputs["issuer"], r.inputs["subject"]))
        if r.inputs["audiences"] != var_source["config"]["audience"]:
            problems.append(f"{r.name}: audiences {r.inputs['audiences']}")
    problems += [f"no pipeline's token matches {m}" for m in sorted(planned - wanted)]
    problems += [f"no credential for {m}" for m in sorted(wanted - planned)]
    return problems


def team_credentials(plan: offline.Plan) -> list[offline.Registration]:
    """The credentials of teams' identities, and any other that trusts Concourse's host (the pods' identities trust
    the cluster's issuer)."""
    host = urlsplit(concourse_issuer(plan)).hostname
    return [
        r
        for r in plan.by_type(FEDERATION)
        if "$cdstack:azure:TeamIdentities$" in r.urn or urlsplit(r.inputs["issuer"]).hostname == host
    ]


@pytest.fixture(scope="module")
def staging() -> Iterator[offline.Plan]:
    """Staging's plan, shared with the worker's other tests, judged on TODAY (a module fixture runs before
    `pinned_today`)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(clock.ENV, TODAY)
        yield cached_plan("staging")


def test_the_readme_pipeline_declares_the_var_source_the_program_matches():
    assert readme_var_source() == team_azure.VAR_SOURCE


def test_every_planned_credential_trusts_exactly_concourses_token(staging: offline.Plan):
    cfg = offline.load_config("staging")
    assert [team.name for team in cfg.teams if team.azure], "staging shows a team with azure"
    assert federation_mismatches(staging, cfg, readme_var_source()) == []


def test_a_credential_with_another_scope_fails_the_proof(staging: offline.Plan):
    source = copy.deepcopy(readme_var_source())
    source["config"]["subject_scope"] = "team"
    assert federation_mismatches(staging, offline.load_config("staging"), source)


@pytest.mark.parametrize("change", ["issuer", "audiences"])
def test_a_trailing_slash_on_the_issuer_or_another_audience_fails_the_proof(staging: offline.Plan, change: str):
    plan = copy.deepcopy(staging)
    (credential,) = team_credentials(plan)
    if change == "issuer":
        credential.inputs["issuer"] += "/"
    else:
        credential.inputs["audiences"] = ["api://AzureADTokenExchange/"]
    assert federation_mismatches(plan, offline.load_config("staging"), readme_var_source())


def test_each_team_its_own_identity_credentials_one_after_another_roles_and_ids_in_vault(plan_of: Planner):
    config = stack_config("staging")
    config["cdstack:teams"].append(
        {
            "name": "billing",
            "serviceUser": "billing-bot",
            "azure": {
                "pipelines": ["release", "nightly.build"],
                "roles": [{"scope": f"/subscriptions/{SUB}/resourceGroups/rg-billing", "role": "Contributor"}],
            },
        }
    )
    plan = plan_of("staging", config)
    cfg = offline.validated_config("staging", *offline.flatten_config(config))
    assert federation_mismatches(plan, cfg, readme_var_source()) == []
    identities = {r.name: r for r in plan.by_type(IDENTITY) if r.name.endswith("-azure-identity")}
    assert sorted(identities) == ["billing-azure-identity", "payments-azure-identity"]
    assert len({r.inputs["resourceName"] for r in identities.values()}) == 2
    billing = [r for r in plan.by_type(FEDERATION) if r.inputs["resourceName"] == "id-contoso-staging-team-billing"]
    first, second = sorted(billing, key=lambda r: len(r.dependencies))
    assert first.urn in second.dependencies, "two credentials on one identity are written at once (Entra ID: 409)"
    (role,) = [r for r in plan.by_type(ASSIGNMENT) if r.name.startswith("billing-azure-role-")]
    assert role.inputs["scope"] == f"/subscriptions/{SUB}/resourceGroups/rg-billing"
    assert role.inputs["roleDefinitionId"].endswith(
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{team_azure.ROLE_IDS['Contributor']}"
    )
    assert identities["billing-azure-identity"].urn in role.dependencies
    secret = plan.get(SECRET, "billing-azure-identity-ids")
    assert secret.inputs["name"] == "billing/azure-identity" and secret.inputs["mount"] == "concourse"
    assert identities["billing-azure-identity"].urn in secret.dependencies


def test_a_team_without_azure_gets_no_identity(staging: offline.Plan):
    assert [r.name for r in staging.by_type(IDENTITY) if "azure-identity" in r.name] == ["payments-azure-identity"]
    assert not [r for r in cached_plan("prod").by_type(IDENTITY) if "azure-identity" in r.name]


# ---------------------------------------------------------------------------------------------------------------------
# Entra ID reaches the discovery document and the JWKS on Concourse's public host


def test_nothing_in_front_of_concourse_blocks_its_discovery_and_jwks_paths(staging: offline.Plan):
    """Entra ID fetches `/.well-known/openid-configuration` and `/.well-known/jwks.json` (Concourse v8.1.1
    atc/routes.go) from the issuer's host. That host's Ingress sends every path to Concourse web, with no Traefik
    middleware on the way; the load balancer reaches Traefik from anywhere and Traefik reaches web. (Pod Security
    governs pod specs, not requests: nothing to check there.)"""
    web_values = staging.get(RELEASE, "concourse").inputs["values"]["web"]
    host = urlsplit(concourse_issuer(staging)).hostname
    ingress = web_values["ingress"]
    assert ingress["enabled"] and ingress["hosts"] == [host] and not ingress.get("rulesOverride")
    assert not [key for key in ingress.get("annotations", {}) if "traefik" in key]
    assert not [r.type for r in staging.registrations if re.search(r"traefik\.io/.*:(Middleware|IngressRoute)", r.type)]
    policies = {
        (p.inputs["metadata"]["namespace"], p.inputs["metadata"]["name"]): p.inputs for p in staging.by_type(POLICY)
    }
    traefik = policies[("ingress", "allow-traefik")]["spec"]
    assert any("from" not in rule and {"protocol": "TCP", "port": 8443} in rule["ports"] for rule in traefik["ingress"])
    to_web = [rule for rule in traefik["egress"] if _selects(rule.get("to", []), "concourse", {"app": "concourse-web"})]
    assert any({"protocol": "TCP", "port": 8080} in rule.get("ports", []) for rule in to_web)
    web = policies[("concourse", "allow-concourse-web")]["spec"]
    from_traefik = [
        r for r in web["ingress"] if _selects(r.get("from", []), "ingress", {"app.kubernetes.io/name": "traefik"})
    ]
    assert any({"protocol": "TCP", "port": 8080} in rule["ports"] for rule in from_traefik)


def _selects(peers: list[dict[str, Any]], namespace: str, labels: dict[str, str]) -> bool:
    return any(
        peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == namespace
        and labels.items() <= peer.get("podSelector", {}).get("matchLabels", {}).items()
        for peer in peers
    )


def test_the_real_charts_ingress_routes_every_path_of_the_host_to_concourse_web(staging: offline.Plan):
    (release,) = [r for r in render.releases_from_plan(staging) if r.name == "concourse"]
    try:
        charts.locate(release.chart, release.version)
    except charts.ChartMissingError as error:
        pytest.skip(str(error))
    (rendered,) = render.render_releases([release], "1.33")
    (ingress,) = [o for o in rendered.objects if o["kind"] == "Ingress"]
    host = urlsplit(concourse_issuer(staging)).hostname
    (rule,) = [rule for rule in ingress["spec"]["rules"] if rule["host"] == host]
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    service = path["backend"]["service"]["name"]
    assert [o for o in rendered.objects if o["kind"] == "Service" and o["metadata"]["name"] == service]
    env = {
        e["name"]: e.get("value")
        for o in rendered.objects
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
        for e in c.get("env", [])
    }
    assert env["CONCOURSE_EXTERNAL_URL"] == concourse_issuer(staging) and "CONCOURSE_OIDC_ISSUER_URL" not in env
