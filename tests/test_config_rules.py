"""Every cross-field rule the loader runs has a planted mistake here that makes it name its message.

The table below is checked against the registry (rules.RULES, rules.DATED_RULES) both ways: a registered rule
without a case fails, a case for a rule the loader does not run fails, and a `*_problems(cfg)` function anywhere in
components/ that is not registered fails. Each case changes one shipped stack file's configuration, so the same rule
is also shown clean on the unchanged files.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from datetime import date
from typing import Any, NamedTuple

import pytest

import components
from components import (
    addressing,
    capacity,
    cluster_support,
    database_compute,
    deployers,
    membership,
    production,
    releases,
    schedules,
    upgrades,
)
from components.concourse import idtoken, team_azure
from components.concourse import limits as concourse_limits
from components.config import rules
from components.config.schema import StackConfig
from components.problem import NAMESPACE, Problem
from components.vault import settings as vault_settings
from components.vault import storage as vault_storage
from tests.conftest import TODAY, stack_config
from tools import offline

AnyRule = Callable[..., Any]


class Case(NamedTuple):
    rule: AnyRule
    stack: str
    change: dict[str, Any]
    """Key paths under cdstack: (`network.podCidr`, `teams.0.name`) and the values planted there."""
    key: str
    """The key the problem names, without the namespace."""
    allowed: str
    """A fragment of what the message says is allowed."""


GROUP_ID = "0b7e4d2c-8a15-4f3e-b6d9-2c1a7e5f9d04"
PAYMENTS = {"name": "payments", "serviceUser": "payments-bot"}
SUBSCRIPTION = "/subscriptions/6f1c2b7e-3d4a-4e8f-9a0b-1c2d3e4f5a6b"
SUBSCRIPTION_SCOPE = "/subscriptions/00000000-0000-4000-8000-0000000000aa"

CASES = [
    # addressing
    Case(addressing.cidr_problems, "staging", {"network.podCidr": "10.244.0.1/16"}, "network.podCidr", "CIDR"),
    Case(
        addressing.subnet_problems,
        "staging",
        {"network.aksSubnet": "10.99.0.0/20"},
        "network.aksSubnet",
        "must lie inside addressSpace 10.40.0.0/16",
    ),
    Case(
        addressing.subnet_problems,
        "staging",
        {"network.postgresSubnet": "10.40.8.0/24"},
        "network.postgresSubnet",
        "must not overlap aksSubnet 10.40.0.0/20",
    ),
    Case(
        addressing.subnet_problems,
        "staging",
        {"network.postgresSubnet": "10.40.16.0/29"},
        "network.postgresSubnet",
        "must be a /28 or larger",
    ),
    Case(
        addressing.overlay_problems,
        "staging",
        {"network.serviceCidr": "10.40.0.0/16"},
        "network.serviceCidr",
        "must not overlap addressSpace 10.40.0.0/16",
    ),
    Case(
        addressing.overlay_problems,
        "staging",
        {"network.podCidr": "10.41.0.0/16"},
        "network.serviceCidr",
        "must not overlap podCidr 10.41.0.0/16",
    ),
    Case(
        addressing.dns_service_ip_problems,
        "staging",
        {"network.dnsServiceIp": "10.99.0.10"},
        "network.dnsServiceIp",
        "must lie inside serviceCidr 10.41.0.0/16",
    ),
    Case(
        addressing.dns_service_ip_problems,
        "staging",
        {"network.dnsServiceIp": "10.41.0.300"},
        "network.dnsServiceIp",
        "must be an IPv4 address",
    ),
    Case(
        addressing.api_range_problems,
        "staging",
        {"cluster.apiAuthorizedRanges": ["10.0.0.1/8"]},
        "cluster.apiAuthorizedRanges[0]",
        "must be an IPv4 network in CIDR notation",
    ),
    Case(
        addressing.api_range_problems,
        "prod",
        {"cluster.apiAuthorizedRanges": ["203.0.113.0/24", "0.0.0.0/1"]},
        "cluster.apiAuthorizedRanges[1]",
        "opens the API server to most of the internet; production allows /8 or narrower",
    ),
    Case(
        addressing.host_problems,
        "staging",
        {"dns.hosts": {"concourse": "ci.example.org"}},
        "dns.hosts.concourse",
        "must be a name under the domain staging.cd.contoso.com",
    ),
    Case(
        addressing.host_problems,
        "staging",
        {"dns.hosts": {"grafana": "ci.staging.cd.contoso.com"}},
        "dns.hosts.grafana",
        "must differ from the concourse host",
    ),
    # capacity
    Case(
        capacity.worker_pool_problems,
        "staging",
        {"cluster.workerPool.minCount": 5},
        "cluster.workerPool.minCount",
        "must be <= maxCount (4)",
    ),
    Case(
        capacity.worker_pool_problems,
        "staging",
        {"concourse.workerReplicas": 3},
        "cluster.workerPool.minCount",
        "must be at least concourse.workerReplicas (3): each worker takes a worker node of its own",
    ),
    Case(
        capacity.worker_pool_problems,
        "staging",
        {"concourse.workerReplicas": 5},
        "concourse.workerReplicas",
        "must be <= cluster.workerPool.maxCount (4): one worker per worker node",
    ),
    Case(
        capacity.system_pool_problems,
        "staging",
        {"cluster.systemPool.count": 2},
        "cluster.systemPool.count",
        "must be at least vault.serverReplicas (3)",
    ),
    Case(
        capacity.system_pool_problems,
        "staging",
        {"vault.storage": "consul", "vault.serverReplicas": 1, "cluster.systemPool.count": 2},
        "cluster.systemPool.count",
        "must be at least vault.consulReplicas (3)",
    ),
    # identity and teams
    Case(
        membership.group_problems,
        "staging",
        {"identity.groups.qa-viewers": {"create": True, "objectId": GROUP_ID}},
        "identity.groups.qa-viewers",
        "set exactly one of objectId or create: true",
    ),
    Case(
        membership.group_problems,
        "staging",
        {"identity.adminGroup": "admins"},
        "identity.adminGroup",
        "must be one of the group keys",
    ),
    Case(
        membership.team_problems,
        "staging",
        {"teams.0.name": "main"},
        "teams[0].name",
        "main is configured by identity.adminGroup and concourse.adminUser",
    ),
    Case(
        membership.team_problems,
        "staging",
        {"teams": [PAYMENTS, {**PAYMENTS, "serviceUser": "payments-ci"}]},
        "teams[1].name",
        "team names must be unique",
    ),
    Case(
        membership.team_problems,
        "staging",
        {"teams.0.serviceUser": "admin"},
        "teams[0].serviceUser",
        "already used by concourse.adminUser",
    ),
    Case(
        membership.team_problems,
        "staging",
        {"teams.0.name": "cdstack-smoke"},
        "teams[0].name",
        "cdstack-smoke is the stack's own cdstack-smoke team (its canary and smoke test), created by every stack",
    ),
    Case(
        membership.team_problems,
        "staging",
        {"teams.0.serviceUser": "cdstack-smoke"},
        "teams[0].serviceUser",
        "already used by the stack's own cdstack-smoke team",
    ),
    Case(
        membership.team_problems,
        "staging",
        {"concourse.adminUser": "cdstack-smoke"},
        "concourse.adminUser",
        "already used by the stack's own cdstack-smoke team",
    ),
    Case(
        membership.role_problems,
        "staging",
        {"teams.0.roles.owner": ["nobody"]},
        "teams[0].roles.owner[0]",
        "must be one of the group keys",
    ),
    # teams' Azure identities
    Case(
        team_azure.federation_limit_problems,
        "staging",
        {"teams.0.azure": {"pipelines": [f"app-{n}" for n in range(21)]}},
        "teams[0].azure.pipelines",
        "at most 20 pipelines per team",
    ),
    Case(
        team_azure.pipeline_name_problems,
        "staging",
        {"teams.0.azure": {"pipelines": ["Deploy"]}},
        "teams[0].azure.pipelines[0]",
        "a pipeline name Concourse accepts",
    ),
    Case(
        team_azure.pipeline_name_problems,
        "staging",
        {"teams.0.azure": {"pipelines": ["deploy", "deploy"]}},
        "teams[0].azure.pipelines[1]",
        "each pipeline once per team",
    ),
    Case(
        team_azure.scope_problems,
        "staging",
        {"teams.0.azure": {"pipelines": ["deploy"], "roles": [{"scope": "rg-payments", "role": "Contributor"}]}},
        "teams[0].azure.roles[0].scope",
        "an Azure resource id",
    ),
    Case(
        team_azure.privileged_role_problems,
        "staging",
        {"teams.0.azure": {"pipelines": ["deploy"], "roles": [{"scope": SUBSCRIPTION, "role": "Owner"}]}},
        "teams[0].azure.roles[0].role",
        "unless teams[0].azure.allowPrivilegedRoles is true",
    ),
    Case(
        team_azure.privileged_role_problems,
        "prod",
        {
            "teams.0.azure": {
                "pipelines": ["deploy"],
                "roles": [{"scope": SUBSCRIPTION, "role": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"}],
                "allowPrivilegedRoles": True,
            }
        },
        "teams[0].azure.roles[0].role",
        "unless cdstack:allowTeamPrivilegedRoles is true",
    ),
    # vault
    Case(
        vault_settings.path_problems,
        "staging",
        {"vault.sharedPath": "payments"},
        "teams[0].name",
        "must differ from vault.sharedPath",
    ),
    Case(
        vault_settings.path_problems,
        "staging",
        {"vault.sharedPath": "cdstack-smoke"},
        "vault.sharedPath",
        "must differ from cdstack-smoke (the path of the stack's own smoke team)",
    ),
    Case(
        vault_settings.path_problems,
        "staging",
        {"vault.sharedPath": "main"},
        "vault.sharedPath",
        "must differ from main",
    ),
    Case(
        vault_settings.token_problems, "staging", {"vault.tokenTtl": "5h"}, "vault.tokenTtl", "must be <= tokenMaxTtl"
    ),
    Case(
        vault_settings.token_problems, "staging", {"vault.tokenTtl": "500ms"}, "vault.tokenTtl", "must be at least 1s"
    ),
    Case(
        vault_settings.address_problems,
        "staging",
        {"vault.mode": "external"},
        "vault.address",
        "required when vault.mode is external",
    ),
    Case(
        vault_settings.address_problems,
        "staging",
        {"vault.mode": "external", "vault.address": "http://vault.example.com"},
        "vault.address",
        "must be an https:// URL of a Vault server",
    ),
    Case(
        vault_settings.address_problems,
        "staging",
        {"vault.address": "https://vault.example.com"},
        "vault.address",
        "only allowed when vault.mode is external",
    ),
    Case(
        vault_settings.team_secret_problems,
        "staging",
        {"vault.teamSecrets.tokenTtl": "9h"},
        "vault.teamSecrets.tokenTtl",
        "must be <= teamSecrets.tokenMaxTtl (8h)",
    ),
    Case(
        vault_settings.team_secret_problems,
        "staging",
        {"vault.teamSecrets.tokenTtl": "0s"},
        "vault.teamSecrets.tokenTtl",
        "must be at least 1s",
    ),
    Case(
        vault_settings.team_secret_problems,
        "staging",
        {"teams.0.name": "admins"},
        "teams[0].name",
        "must differ from admins (the admin group's Vault login role)",
    ),
    Case(
        vault_settings.recovery_problems,
        "staging",
        {"vault.recoveryThreshold": 6},
        "vault.recoveryThreshold",
        "must be <= recoveryShares (5)",
    ),
    # concourse
    Case(
        concourse_limits.retention_problems,
        "staging",
        {"concourse.defaultBuildLogsToRetain": 5000},
        "concourse.defaultBuildLogsToRetain",
        "must be <= maxBuildLogsToRetain (2000)",
    ),
    Case(
        concourse_limits.retention_problems,
        "staging",
        {"concourse.defaultDaysToRetainBuildLogs": 100},
        "concourse.defaultDaysToRetainBuildLogs",
        "must be <= maxDaysToRetainBuildLogs (90)",
    ),
    Case(
        concourse_limits.rollout_problems,
        "prod",
        {"cluster.workerPool.maxCount": 998},
        "cluster.workerPool.maxCount",
        "plus concourse.workerReplicas (4), the new worker generation an upgrade brings up beside the old one, must "
        "be at most 1000",
    ),
    Case(
        concourse_limits.connection_problems,
        "staging",
        {"database.skuName": "Standard_B1ms"},
        "concourse.backendMaxConnections",
        "more than the 35 Standard_B1ms accepts",
    ),
    # charts, database, names
    Case(
        releases.override_problems,
        "staging",
        {"charts": {"concourse": "^20.0.0"}},
        "charts.concourse",
        "must be an exact chart version",
    ),
    Case(releases.override_problems, "staging", {"charts": {"jenkins": "1.0.0"}}, "charts.jenkins", "catalog chart"),
    Case(
        database_compute.tier_problems,
        "staging",
        {"database.highAvailability": True},
        "database.skuTier",
        "high availability needs GeneralPurpose or MemoryOptimized",
    ),
    Case(
        database_compute.sku_problems,
        "staging",
        {"database.skuTier": "GeneralPurpose"},
        "database.skuName",
        "is a Burstable SKU, but skuTier is GeneralPurpose",
    ),
    Case(rules.name_problems, "staging", {"name": "abcdefghij"}, "name", "makes the key vault name"),
    # AKS support and upgrades
    Case(
        cluster_support.version_problems,
        "staging",
        {"cluster.kubernetesVersion": "1.34"},
        "cluster.kubernetesVersion",
        "AKS support for 1.34 ended 2026-11-01",
    ),
    Case(
        cluster_support.version_problems,
        "staging",
        {"cluster.kubernetesVersion": "1.29"},
        "cluster.kubernetesVersion",
        "must be a minor in AKS's support calendar",
    ),
    Case(
        cluster_support.long_term_support_problems,
        "prod",
        {"cluster.longTermSupport": True},
        "cluster.skuTier",
        "must be Premium when longTermSupport is true",
    ),
    Case(
        upgrades.problems,
        "staging",
        {"concourse.workerDrainSeconds": 86400},
        "concourse.workerDrainSeconds",
        "AKS allows at most 1440",
    ),
    Case(
        upgrades.problems,
        "staging",
        {"cluster.systemPool.drainTimeoutMinutes": 600},
        "cluster.maintenanceWindow.durationHours",
        "must hold one system node's drain, soak and reimage",
    ),
    # The infra pipeline's Concourse token must outlast the longest `up`: prod at maxCount 13 (surge 1) is past 24h
    Case(
        idtoken.token_lifetime_problems,
        "prod",
        {"cluster.workerPool.maxCount": 13},
        "cluster.workerPool.maxCount",
        "longer than the 86400 s token Concourse issues at most",
    ),
    # The infra pipeline's deployer identities: one per environment
    Case(
        deployers.deployer_problems,
        "staging",
        {
            "deployers": [
                {"environment": "staging", "roles": [{"scope": SUBSCRIPTION_SCOPE, "roleDefinitionId": GROUP_ID}]},
                {"environment": "staging", "roles": [{"scope": SUBSCRIPTION_SCOPE, "roleDefinitionId": GROUP_ID}]},
            ]
        },
        "deployers[1].environment",
        "must be unique: one identity per environment",
    ),
    # Vault's store and its servers
    Case(
        vault_storage.replica_problems,
        "staging",
        {"vault.serverReplicas": 4},
        "vault.serverReplicas",
        "must be odd on Raft storage (1, 3, 5 or 7)",
    ),
    Case(
        vault_storage.replica_problems,
        "prod",
        {"vault.serverReplicas": 1},
        "vault.serverReplicas",
        "must be 3 or 5 in production on Raft storage",
    ),
    Case(
        vault_storage.replica_problems,
        "prod",
        {"vault.storage": "consul", "vault.consulReplicas": 1},
        "vault.consulReplicas",
        "must be 3 or 5 in production",
    ),
    Case(
        vault_storage.migration_problems,
        "staging",
        {"vault.mode": "external", "vault.address": "https://vault.example.com", "vault.storageMigration": "done"},
        "vault.storageMigration",
        "only allowed when vault.mode is in-cluster",
    ),
    # backups
    Case(
        schedules.cron_problems,
        "staging",
        {"backup.vaultSchedule": "every 6 hours"},
        "backup.vaultSchedule",
        "must be a cron expression: five fields (minute hour day-of-month month day-of-week",
    ),
    Case(
        schedules.cron_problems,
        "staging",
        {"backup.elasticsearchSchedule": "0 */6 * * 8"},
        "backup.elasticsearchSchedule",
        "must be a cron expression",
    ),
    Case(
        capacity.os_disk_problems,
        "prod",
        {"cluster.workerPool.vmSize": "Standard_D8ds_v5", "cluster.workerPool.osDiskSizeGb": 512},
        "cluster.workerPool.osDiskSizeGb",
        "must be at most 300: an ephemeral OS disk must fit Standard_D8ds_v5's 300 GiB temporary disk",
    ),
    Case(
        capacity.os_disk_problems,
        "staging",
        {"cluster.systemPool.vmSize": "Standard_D4s_v5"},
        "cluster.systemPool.osDiskType",
        "must be Managed: Standard_D4s_v5 has no local temporary disk",
    ),
    # production keeps every optional part: a lean prod is refused at the part's key
    *(
        Case(production.part_problems, "prod", {f"parts.{part}": False}, f"parts.{part}", "must be true in production")
        for part in ("elasticsearch", "influxdb", "chartmuseum")
    ),
    # production: one case per requirement (test_every_production_requirement_has_a_case)
    *(
        Case(production.requirement_problems, "prod", {path: value}, path, allowed)
        for path, value, allowed in [
            ("database.highAvailability", False, "must be true in production"),
            ("concourse.webReplicas", 1, "must be 2 or more in production"),
            ("cluster.skuTier", "Free", "must be Standard or Premium in production"),
            ("cluster.disableLocalAccounts", False, "must be true in production"),
            ("cluster.apiAuthorizedRanges", [], "must list at least one range in production"),
            ("cluster.imageCleaner.enabled", False, "must be true in production"),
            ("cluster.nodeResourceGroupRestriction", "Unrestricted", "must be ReadOnly in production"),
            ("cluster.encryptionAtHost", False, "must be true in production"),
            ("cluster.defender", False, "must be true in production"),
            ("cluster.auditLog.enabled", False, "must be true in production"),
            ("observability.elasticsearchNodes", 1, "must be 3 or more in production"),
            ("tls.acmeEnvironment", "staging", "must be production in production"),
            ("database.geoRedundantBackup", False, "must be true in production"),
            ("database.backupRetentionDays", 7, "must be 14 or more in production"),
            ("backup.vaultRetentionDays", 7, "must be 14 or more in production"),
            ("backup.elasticsearchRetentionDays", 7, "must be 14 or more in production"),
            ("backup.blobSoftDeleteDays", 7, "must be 14 or more in production"),
        ]
    ),
]

DAY = date.fromisoformat(TODAY)
REGISTERED: list[AnyRule] = [*rules.RULES, *rules.DATED_RULES]


def rule_id(rule: AnyRule) -> str:
    return f"{rule.__module__.removeprefix('components.')}.{rule.__name__}"


def planted(stack: str, change: dict[str, Any]) -> StackConfig:
    """A shipped stack file's configuration with `change` planted, validated by the schema (not the rules)."""
    raw = {key.split(":", 1)[1]: value for key, value in stack_config(stack).items() if key.startswith("cdstack:")}
    for path, value in change.items():
        *parents, last = path.split(".")
        node: Any = raw
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    raw["stack"] = stack
    return StackConfig.model_validate(raw)


def run(rule: AnyRule, cfg: StackConfig) -> list[Problem]:
    found = rule(cfg, DAY) if rule in rules.DATED_RULES else rule(cfg)
    return [Problem(*problem) for problem in found]


def test_every_registered_rule_has_a_failing_case_and_every_case_a_registered_rule():
    covered = {rule_id(case.rule) for case in CASES}
    registered = {rule_id(rule) for rule in REGISTERED}
    assert sorted(registered - covered) == [], "registered rules without a failing case in CASES"
    assert sorted(covered - registered) == [], "cases for rules the loader does not run (add them to rules.RULES)"
    assert len(REGISTERED) == len(registered), "a rule registered twice"


def rule_functions() -> list[str]:
    """Every function in components/ that takes a StackConfig first and returns problems: a rule."""
    found = []
    for module_info in pkgutil.walk_packages(components.__path__, "components."):
        module = importlib.import_module(module_info.name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module.__name__ or not name.endswith("problems"):
                continue
            parameters = list(inspect.signature(function).parameters.values())
            if parameters and parameters[0].name == "cfg":
                found.append(rule_id(function))
    return sorted(found)


def test_every_rule_function_in_components_is_registered():
    registered = {rule_id(rule) for rule in REGISTERED}
    unregistered = [name for name in rule_functions() if name not in registered]
    assert unregistered == [], "rule functions the loader never runs: add them to rules.RULES"


def test_the_search_for_rule_functions_finds_them():
    """The search above is not vacuous: it finds the rules beside each concern, in every module that has them."""
    assert {"addressing.cidr_problems", "upgrades.problems", "cluster_support.version_problems"} <= set(
        rule_functions()
    )


@pytest.mark.parametrize("case", CASES, ids=[f"{rule_id(c.rule)}:{c.key}:{c.allowed[:30]}" for c in CASES])
def test_each_case_fails_its_rule_with_its_message(case: Case):
    cfg = planted(case.stack, case.change)
    expected_key = f"{NAMESPACE}:{case.key}"
    named = [p for p in run(case.rule, cfg) if p.key == expected_key and case.allowed in p.allowed]
    assert named, f"{rule_id(case.rule)} did not name {expected_key} with {case.allowed!r}: {run(case.rule, cfg)}"
    assert named[0] in rules.check_rules(cfg, DAY), "the loader's check_rules does not report it"


@pytest.mark.parametrize("stack", offline.stack_names())
@pytest.mark.parametrize("rule", REGISTERED, ids=rule_id)
def test_every_rule_passes_the_shipped_stacks(rule: AnyRule, stack: str):
    assert run(rule, planted(stack, {})) == []


def test_every_production_requirement_has_a_case():
    cased = {case.key for case in CASES if case.rule is production.requirement_problems}
    assert cased == {requirement.path for requirement in production.REQUIREMENTS}


def test_a_staging_stack_is_held_to_no_production_requirement():
    cfg = planted("staging", {"concourse.webReplicas": 1, "vault.serverReplicas": 1, "cluster.skuTier": "Free"})
    assert production.requirement_problems(cfg) == []
    assert vault_storage.replica_problems(cfg) == []  # one Raft server is allowed outside production
