"""Mistakes that pass every other offline check and fail the first real `pulumi up` of a new environment, or the
pipeline and the logins right after it. Each class has a check here, shown clean on the shipped stacks and failing on
a planted copy of the mistake, so the next one of its kind fails `make test` instead of a deploy."""

from __future__ import annotations

import copy
import dataclasses
import logging
import re
from datetime import date
from typing import Any

import pytest
import yaml

from components import capacity, catalog, upgrades
from components.concourse import limits as concourse_limits
from components.config.loader import ConfigError
from components.config.rules import check_rules
from components.problem import Problem
from tests.conftest import PROJECT_DIR, Planner, cached_plan, stack_config
from tests.services import release_values, stack_cfg
from tools import offline, stackfile
from tools import plan as plan_tool

STACKS = ["staging", "prod"]
SECRET = "kubernetes:core/v1:Secret"
RELEASE = "kubernetes:helm.sh/v3:Release"


def problem_keys(problems: list[Problem]) -> list[str]:
    return [problem.key for problem in problems]


# ---------------------------------------------------------------------------------------------------------------------
# 1. Servers with required anti-affinity need a system node each


def test_three_consul_and_vault_servers_need_three_system_nodes(shared_plan: Planner):
    cfg = stack_config("staging")
    cfg["cdstack:cluster"]["systemPool"]["count"] = 2  # the planted mistake: the staging file before this fix
    cfg["cdstack:vault"] = {**cfg["cdstack:vault"], "storage": "consul"}
    with pytest.raises(ConfigError) as error:
        shared_plan("staging", cfg)
    assert error.value.keys == ["cdstack:cluster.systemPool.count", "cdstack:cluster.systemPool.count"]
    message = str(error.value)
    assert "got 2; must be at least vault.consulReplicas (3)" in message
    assert "raise cluster.systemPool.count or lower vault.serverReplicas" in message


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_hold_one_server_per_system_node(stack: str):
    cfg = stack_cfg(stack)
    assert capacity.system_pool_problems(cfg) == []
    assert cfg.cluster.system_pool.count >= max(capacity.one_per_node_servers(cfg).values())


def test_an_external_vault_puts_no_servers_on_the_system_pool():
    cluster = {**stack_config("staging")["cdstack:cluster"], "systemPool": {"count": 1}}
    cfg = stack_cfg("staging", cluster=cluster, vault={"mode": "external", "address": "https://vault.example.com"})
    assert capacity.system_pool_problems(cfg) == []


def test_quota_covers_both_pools_at_their_smallest_and_largest_size():
    cfg = stack_cfg("prod")  # 3 x D4ds_v5 system, 4..12 x D16ds_v5 workers
    # Workers at most: maxCount 12, plus a new generation's 4 (workerReplicas) beside them during a Concourse
    # upgrade, plus AKS's upgrade surge of that pool (1 node); the system pool with its surge node.
    assert capacity.vcpu_quota(cfg) == [
        capacity.QuotaNeed("standardDDSv5Family", 3 * 4 + 4 * 16, 4 * 4 + (12 + 4 + 1) * 16)
    ]
    text = plan_tool.render_quota(cfg)
    assert "standardDDSv5Family: 76 / 288" in text
    assert "Total Regional vCPUs: 76 / 288" in text


def test_the_manual_quotes_the_shipped_stacks_quota_as_the_plan_prints_it():
    readme = (PROJECT_DIR / "docs" / "first-deployment.md").read_text()
    quoted = re.search(r"Shipped stacks: staging (\d+ / \d+) \(`(\w+)`\), prod (\d+ / \d+)\.", " ".join(readme.split()))
    assert quoted is not None, "docs/first-deployment.md no longer quotes the shipped stacks' vCPU quota"
    for stack, figure in (("staging", quoted.group(1)), ("prod", quoted.group(3))):
        assert f"{quoted.group(2)}: {figure}" in plan_tool.render_quota(stack_cfg(stack)), stack


# ---------------------------------------------------------------------------------------------------------------------
# 2. A stack file in git deploys from nothing


def needs_a_person_first(config: dict[str, Any]) -> list[str]:
    """Settings that claim a step a person takes on the running stack: a new environment fails with them."""
    vault = config.get("cdstack:vault") or {}
    return ["cdstack:vault.initialized"] if vault.get("initialized") is True else []


@pytest.mark.parametrize("path", sorted(PROJECT_DIR.glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_stack_files_in_git_describe_a_stack_that_deploys_from_nothing(path):
    config = stackfile.config_map(path)  # as the Pulumi CLI reads it (YAML 1.2)
    assert needs_a_person_first(config) == []
    planted = copy.deepcopy(config)
    planted.setdefault("cdstack:vault", {})["initialized"] = True
    assert needs_a_person_first(planted) == ["cdstack:vault.initialized"]


# ---------------------------------------------------------------------------------------------------------------------
# 5. Kubernetes minors AKS supports


@pytest.mark.parametrize(
    ("version", "today", "lts", "expected"),
    [
        ("1.33", date(2026, 11, 29), False, "error"),  # past its end (July 2026)
        ("1.34", date(2026, 11, 29), False, "error"),  # ends November 2026
        ("1.35", date(2027, 1, 15), False, "warning"),  # 45 days left
        ("1.36.2", date(2026, 11, 29), False, None),
        ("1.33", date(2026, 11, 29), True, "warning"),  # long-term support keeps it, with a warning
        ("1.29", date(2026, 11, 29), False, "error"),  # not in the calendar at all
    ],
)
def test_support_window(version: str, today: date, lts: bool, expected: str | None):
    found = catalog.kubernetes_support(version, today, lts)
    assert (found[0] if found else None) == expected


def test_a_minor_past_its_end_is_refused_with_the_date_and_the_way_out():
    cluster = {**stack_config("staging")["cdstack:cluster"], "kubernetesVersion": "1.34"}
    problems = check_rules(stack_cfg("staging", cluster=cluster), date(2026, 11, 29))
    assert problems == [
        (
            "cdstack:cluster.kubernetesVersion",
            "1.34",
            "AKS support for 1.34 ended 2026-11-01; choose a newer minor (or skuTier Premium with longTermSupport)",
        )
    ]


def test_long_term_support_needs_premium():
    cluster = {**stack_config("prod")["cdstack:cluster"], "kubernetesVersion": "1.33", "longTermSupport": True}
    # At most 11 workers: before 1.35 they roll one at a time, and 12 one-hour drains exceed a deploy's wait.
    cluster["workerPool"] = {**cluster["workerPool"], "maxCount": 11}
    problems = check_rules(stack_cfg("prod", cluster=cluster), date(2026, 11, 29))
    assert problems == [("cdstack:cluster.skuTier", "Standard", "must be Premium when longTermSupport is true")]
    premium = check_rules(stack_cfg("prod", cluster={**cluster, "skuTier": "Premium"}), date(2026, 11, 29))
    assert premium == []


def test_the_plan_warns_before_the_end_and_the_cluster_asks_for_lts(
    plan_of: Planner, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setenv("CDSTACK_TODAY", "2027-08-15")  # 47 days before staging's 1.37 ends
    with caplog.at_level(logging.WARNING):
        plan = plan_of("staging")
    warnings = " ".join(record.getMessage() for record in caplog.records)
    assert "cdstack:cluster.kubernetesVersion: AKS support for 1.37 ends 2027-10-01 (47 days)" in warnings
    assert plan.get("azure-native:containerservice:ManagedCluster", "aks").inputs["supportPlan"] == (
        "KubernetesOfficial"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_minors_are_supported_and_staging_leads(stack: str):
    assert check_rules(stack_cfg(stack), date(2026, 11, 29)) == []
    minor = {s: int(stack_cfg(s).cluster.kubernetes_version.split(".")[1]) for s in STACKS}
    assert minor["staging"] - minor["prod"] in (0, 1)  # upgrades go through staging first, one minor at a time


# ---------------------------------------------------------------------------------------------------------------------
# 6. Every stack the pipeline deploys serves certificates its tasks trust


def untrusted_pipeline_stacks(pipeline: dict[str, Any], configs: dict[str, dict[str, Any]]) -> list[str]:
    """Stacks the pipeline deploys and smoke-tests whose certificates come from Let's Encrypt's staging CA, which no
    task trusts (Vault's approle login, the team API calls and the smoke test would fail verification)."""
    deployed = {
        params["STACK"]
        for job in pipeline["jobs"]
        for step in job["plan"]
        if isinstance(params := step.get("params"), dict) and "STACK" in params
    }
    return sorted(
        stack
        for stack in deployed
        if (configs[stack].get("cdstack:tls") or {}).get("acmeEnvironment", "production") != "production"
    )


def test_the_pipeline_trusts_every_stack_it_deploys():
    pipeline = yaml.safe_load((PROJECT_DIR / "ci" / "pipeline.yml").read_text())
    configs = {stack: stack_config(stack) for stack in STACKS}
    assert untrusted_pipeline_stacks(pipeline, configs) == []
    configs["staging"]["cdstack:tls"] = {**configs["staging"]["cdstack:tls"], "acmeEnvironment": "staging"}
    assert untrusted_pipeline_stacks(pipeline, configs) == ["staging"]


# ---------------------------------------------------------------------------------------------------------------------
# 7. Entra ID login through Dex


def dex_refusals(oidc: dict[str, Any]) -> list[str]:
    """What Dex's OIDC connector (connector/oidc) refuses in an Entra ID login with these settings: asked for the
    email scope, it demands `email_verified` (Entra ID never sends it) unless told to skip that check."""
    scopes = oidc["scope"].split(",")
    if "email" in scopes and not oidc.get("skipEmailVerifiedValidation"):
        return ["missing email_verified claim"]
    return []


def test_entra_id_logins_pass_dex(shared_plan: Planner):
    values = shared_plan("staging").get(RELEASE, "concourse").inputs["values"]
    oidc = values["concourse"]["web"]["auth"]["oidc"]
    assert dex_refusals(oidc) == []
    assert dex_refusals({**oidc, "scope": "openid,profile,email", "skipEmailVerifiedValidation": None}) == [
        "missing email_verified claim"
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_every_group_a_team_maps_is_assigned_to_the_login_app(stack: str, shared_plan: Planner):
    """ApplicationGroup claims list only assigned groups: an unassigned team group would grant nobody anything."""
    plan = shared_plan(stack)
    assert plan.get("azuread:index/application:Application", "concourse-app").inputs["groupMembershipClaims"] == [
        "ApplicationGroup"
    ]
    # Concourse's app; Vault's login app gets the groups Vault's roles bind (tests/test_vault_teams.py).
    assignments = [
        a
        for a in plan.by_type("azuread:index/appRoleAssignment:AppRoleAssignment")
        if a.parent.endswith("ConcourseLogin::concourse-login")
    ]
    assert {a.name for a in assignments} == {f"group-{key}-assignment" for key in stack_cfg(stack).identity.groups}
    sp = plan.get("azuread:index/servicePrincipal:ServicePrincipal", "concourse-sp")
    assert all(a.inputs["appRoleId"] == "00000000-0000-0000-0000-000000000000" for a in assignments)
    assert all(sp.urn in a.dependencies for a in assignments)


def test_security_group_claims_need_no_assignment(shared_plan: Planner):
    cfg = stack_config("staging")
    cfg["cdstack:identity"] = {**cfg["cdstack:identity"], "groupClaims": "SecurityGroup"}
    plan = shared_plan("staging", cfg)
    assert plan.by_type("azuread:index/appRoleAssignment:AppRoleAssignment") == []


# ---------------------------------------------------------------------------------------------------------------------
# 8. Destroy, then up again


# Azure resource types whose delete the provider sends to a data plane (ARM has no DELETE for them), where the
# deployer holds no role on an RBAC Key Vault.
DATA_PLANE_DELETES = {"azure-native:keyvault:Key", "azure-native:keyvault:Secret"}


def deletes_that_fail(plan: offline.Plan) -> list[str]:
    return [r.name for r in plan.registrations if r.type in DATA_PLANE_DELETES and not r.retain_on_delete]


@pytest.mark.parametrize("stack", STACKS)
def test_a_destroy_never_deletes_through_the_data_plane(stack: str, shared_plan: Planner):
    plan = shared_plan(stack)
    assert deletes_that_fail(plan) == []
    key = plan.get("azure-native:keyvault:Key", "unseal-key")
    planted = dataclasses.replace(plan, registrations=[dataclasses.replace(key, retain_on_delete=False)])
    assert deletes_that_fail(planted) == ["unseal-key"]


@pytest.mark.parametrize("stack", STACKS)
def test_a_rebuilt_stack_gets_a_key_vault_name_of_its_own(stack: str, shared_plan: Planner):
    plan = shared_plan(stack)
    suffix = plan.get("random:index/randomString:RandomString", "key-vault-suffix")
    assert (suffix.inputs["length"], suffix.inputs["special"], suffix.inputs["upper"]) == (4, False, False)
    vault = plan.get("azure-native:keyvault:Vault", "key-vault")
    assert suffix.urn in vault.dependencies
    assert vault.inputs["vaultName"] == f"kv-contoso-{stack}-q7k2"


# ---------------------------------------------------------------------------------------------------------------------
# 9. Secrets in the shape their readers require


def file_realm_secrets_of_the_wrong_type(plan: offline.Plan) -> list[str]:
    """ECK creates file-realm users only from `kubernetes.io/basic-auth` Secrets: list the others it references."""
    values = plan.get(RELEASE, "eck-stack").inputs["values"]
    names = {ref["secretName"] for ref in values["eck-elasticsearch"]["auth"]["fileRealm"]}
    secrets = {r.inputs["metadata"]["name"]: r for r in plan.by_type(SECRET)}
    return sorted(name for name in names if secrets[name].inputs.get("type") != "kubernetes.io/basic-auth")


def test_eck_users_come_from_basic_auth_secrets(shared_plan: Planner):
    plan = shared_plan("staging")
    assert file_realm_secrets_of_the_wrong_type(plan) == []
    planted = dataclasses.replace(
        plan,
        registrations=[
            dataclasses.replace(r, inputs={**r.inputs, "type": "Opaque"}) if r.type == SECRET else r
            for r in plan.registrations
        ],
    )
    assert file_realm_secrets_of_the_wrong_type(planted) == ["elasticsearch-grafana-reader"]


# ---------------------------------------------------------------------------------------------------------------------
# 10. Waits long enough for what Helm and Vault sit through


@pytest.mark.parametrize("stack", STACKS)
def test_an_upgrade_waits_for_one_worker_install_never_a_drain_and_vault_tokens_outlive_it(stack: str):
    cfg = stack_cfg(stack)
    plan = cached_plan(stack)
    web, workers = plan.get(RELEASE, "concourse"), plan.get(RELEASE, "concourse-workers")
    install = catalog.CHARTS["concourse"].timeout_seconds
    # Both releases wait for an install only: the web keeps its atomic wait, a worker generation never rolls in place.
    assert (
        web.inputs["timeout"] == workers.inputs["timeout"] == concourse_limits.release_timeout_seconds(cfg) == install
    )
    assert web.inputs["atomic"] is True and workers.inputs["atomic"] is True
    assert "updateStrategy" not in release_values(plan, "concourse-workers")["worker"]
    # The bound: a new generation's install plus the old one's uninstall, whose wait ends once its objects are gone
    # (the workers retire after `up`): at most one workerDrainSeconds (60 s or more) plus the install.
    wait = concourse_limits.upgrade_wait_seconds(cfg)
    assert wait <= install + cfg.concourse.worker_drain_seconds
    assert wait <= install + 60 <= concourse_limits.MAX_RELEASE_WAIT_SECONDS
    provider = plan.get("pulumi:providers:vault", "vault")
    assert int(provider.inputs["maxLeaseTtlSeconds"]) > wait
    # The child token cannot outlive its parent: the deployer's JWT login lives as long.
    access = plan.get("pulumi-python:dynamic/vault:Init", "vault-init").inputs["access"]
    assert access["tokenSeconds"] == int(provider.inputs["maxLeaseTtlSeconds"])


@pytest.mark.parametrize("max_count", [2, 12, 100, 996])
@pytest.mark.parametrize("drain", [60, 3600, 86400])
def test_the_upgrade_wait_is_the_same_whatever_the_fleet_and_the_drain(max_count: int, drain: int):
    """Prod's twelve one-hour drains took 6.5 hours two at a time; a generation takes one install at any size."""
    cluster = copy.deepcopy(stack_config("prod")["cdstack:cluster"])
    cluster["workerPool"]["maxCount"] = max_count
    cfg = stack_cfg(
        "prod", cluster=cluster, concourse={"webReplicas": 2, "workerReplicas": 2, "workerDrainSeconds": drain}
    )
    assert concourse_limits.upgrade_wait_seconds(cfg) == concourse_limits.upgrade_wait_seconds(stack_cfg("prod"))
    assert concourse_limits.upgrade_wait_seconds(cfg) <= catalog.CHARTS["concourse"].timeout_seconds + drain
    assert concourse_limits.rollout_problems(cfg) == []
    # The surge: the pool may hold a new generation's first workers beside a full old one.
    assert concourse_limits.worker_pool_max_nodes(cfg) == max_count + 2


def test_a_surge_past_akss_largest_pool_is_refused():
    cluster = copy.deepcopy(stack_config("prod")["cdstack:cluster"])
    cluster["workerPool"]["maxCount"] = 998
    problems = concourse_limits.rollout_problems(stack_cfg("prod", cluster=cluster))
    assert problem_keys(problems) == ["cdstack:cluster.workerPool.maxCount"]
    assert "the new worker generation an upgrade brings up beside the old one" in problems[0][2]
    assert concourse_limits.rollout_problems(stack_cfg("prod")) == []


# ---------------------------------------------------------------------------------------------------------------------
# Node upgrades that respect worker drains (issue 18's first part builds on the same waits)


@pytest.mark.parametrize("stack", STACKS)
def test_every_pool_drains_as_long_as_its_pods_need(stack: str, shared_plan: Planner):
    cfg = stack_cfg(stack)
    plan = shared_plan(stack)
    system = plan.get("azure-native:containerservice:ManagedCluster", "aks").inputs["agentPoolProfiles"][0]
    workers = plan.get("azure-native:containerservice:AgentPool", "worker-pool").inputs
    assert system["upgradeSettings"] == {
        "drainTimeoutInMinutes": 30,
        "maxSurge": "1",
        "nodeSoakDurationInMinutes": 0,
        "undrainableNodeBehavior": "Schedule",
    }
    drain = workers["upgradeSettings"]["drainTimeoutInMinutes"]
    assert drain * 60 >= cfg.concourse.worker_drain_seconds + upgrades.DRAIN_MARGIN_MINUTES * 60


def test_a_drain_longer_than_aks_allows_or_the_window_holds_is_refused():
    planted = stack_cfg("staging", concourse={"workerDrainSeconds": 86400})
    keys = problem_keys(upgrades.problems(planted))
    assert keys == ["cdstack:concourse.workerDrainSeconds", "cdstack:cluster.maintenanceWindow.durationHours"]
    cluster = {**stack_config("staging")["cdstack:cluster"], "maintenanceWindow": {"durationHours": 4}}
    long_drain = stack_cfg("staging", cluster=cluster, concourse={"workerDrainSeconds": 4 * 3600})
    [(key, value, allowed)] = upgrades.problems(long_drain)
    assert (key, value) == ("cdstack:cluster.maintenanceWindow.durationHours", 4)
    assert "one workers node's drain, soak and reimage (265 minutes)" in allowed
    assert upgrades.problems(stack_cfg("prod")) == []


def test_surge_is_counted_in_the_quota():
    assert upgrades.surge_nodes("33%", 12) == 4
    assert upgrades.surge_nodes("2", 12) == 2
    cluster = stack_config("prod")["cdstack:cluster"]
    surged = {**cluster, "workerPool": {**cluster["workerPool"], "upgrade": {"maxSurge": "50%"}}}
    [need] = capacity.vcpu_quota(stack_cfg("prod", cluster=surged))
    # 50 % of the pool's largest size, a new worker generation's 4 nodes included: 8 more.
    assert need.maximum == 4 * 4 + (12 + 4 + 8) * 16


def test_every_disruption_budget_lets_a_drain_proceed(shared_plan: Planner):
    releases = {r.name: r.inputs["values"] for r in shared_plan("staging").by_type(RELEASE)}
    # Vault on Raft, three servers: one may go, two keep the quorum (services/secrets.py disruption_budget).
    assert releases["vault"]["server"]["ha"]["disruptionBudget"] == {"enabled": True, "maxUnavailable": 1}
    on_consul = stack_config("staging")
    on_consul["cdstack:vault"] = {**on_consul["cdstack:vault"], "storage": "consul"}
    releases = {r.name: r.inputs["values"] for r in shared_plan("staging", on_consul).by_type(RELEASE)}
    # Vault on Consul: the chart's Raft-minded default would be 0 for one or two servers.
    assert releases["vault"]["server"]["ha"]["disruptionBudget"] == {"enabled": True, "maxUnavailable": 1}
    # Consul's chart sets maxUnavailable 1 itself unless told otherwise; nothing here tells it otherwise.
    assert "disruptionBudget" not in releases["consul"]["server"]
    workers = releases["concourse-workers"]["worker"]
    floor = releases["concourse-workers"]["concourse"]["worker"]["autoscaling"]["minReplicas"]  # the HPA owns the count
    assert floor - workers["minAvailable"] >= 1


def test_concourse_pools_fit_the_database_sku():
    assert concourse_limits.connection_problems(stack_cfg("staging")) == []
    assert concourse_limits.database_connections(stack_cfg("prod")) == 3 * (10 + 50 + 2)  # two web replicas and a surge
    planted = stack_cfg("staging", database={"skuName": "Standard_B1ms", "skuTier": "Burstable"})
    [(key, value, allowed)] = concourse_limits.connection_problems(planted)
    assert (key, value) == ("cdstack:concourse.backendMaxConnections", 50)
    assert "= 124 connections, more than the 35 Standard_B1ms accepts" in allowed
    assert "Database connections at most (web pools, one rollout surge): 186 of 1703" in plan_tool.render_quota(
        stack_cfg("prod")
    )
