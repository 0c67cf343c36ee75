"""The CrossGuard pack (policy/) over every stack's planned graph: shipped stacks are clean, and every policy reports
a violation planted in a copy of a plan (one property changed) with its message."""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib import import_module
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel

from components import catalog, clock
from components.tags import common_tags
from policy.cdstack_policy import POLICIES, tags
from tests import azure_plans
from tests.conftest import TODAY, cached_plan, stack_config
from tools import offline, policy_check

STACKS = tuple(offline.stack_names())
"""Every stack file of the project: each needs a policy config the pack passes with."""
RELEASE = "kubernetes:helm.sh/v3:Release"


@pytest.fixture(scope="module")
def plans() -> Iterator[dict[str, offline.Plan]]:
    """Each stack planned once for the module, on the suite's pinned date (conftest.TODAY). The first `up` creates
    everything, Vault-side resources included (Vault initialises itself), so one plan per stack covers it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(clock.ENV, TODAY)
        yield {stack: cached_plan(stack) for stack in STACKS}


def changed(plan: offline.Plan, type_: str, name: str, change: Callable[[offline.Registration], None]) -> offline.Plan:
    """A copy of `plan` whose resource (type_, name) is changed in place by `change` (on a deep copy)."""
    registrations = []
    for r in plan.registrations:
        if r.type == type_ and r.name == name:
            r = dataclasses.replace(
                r,
                inputs=json.loads(json.dumps(r.inputs)),
                property_dependencies={k: list(v) for k, v in r.property_dependencies.items()},
            )
            change(r)
        registrations.append(r)
    assert registrations != plan.registrations, f"no {type_} {name} in the plan"
    return offline.Plan(plan.stack, registrations, plan.outputs)


def setter(path: str, value: Any) -> Callable[[offline.Registration], None]:
    """Set inputs at a dotted path (list indexes as numbers)."""

    def change(r: offline.Registration) -> None:
        target: Any = r.inputs
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
        target[last] = value

    return change


def protect_off(r: offline.Registration) -> None:
    r.protect = False


def no_secret_sources(r: offline.Registration) -> None:
    r.property_dependencies.pop("stringData", None)


def rename_secret(r: offline.Registration) -> None:
    r.inputs["metadata"]["name"] = "hand-written"
    r.property_dependencies.pop("stringData", None)


def duplicated(plan: offline.Plan, type_: str, name: str) -> offline.Plan:
    original = plan.get(type_, name)
    twin = dataclasses.replace(original, urn=original.urn + "-twin", name=name + "-twin")
    return offline.Plan(plan.stack, [*plan.registrations, twin], plan.outputs)


def without(plan: offline.Plan, type_: str, config_name: str) -> offline.Plan:
    kept = [r for r in plan.registrations if not (r.type == type_ and config_name in json.dumps(r.inputs))]
    return offline.Plan(plan.stack, kept, plan.outputs)


def added(plan: offline.Plan, type_: str) -> offline.Plan:
    extra = offline.Registration(
        urn=f"urn:pulumi:{plan.stack}::cdstack::{type_}::extra", type=type_, name="extra", parent="", custom=True,
        inputs={}, dependencies=[], property_dependencies={}, protect=False, ignore_changes=[], provider="",
        delete_before_replace=False, replace_on_changes=[], additional_secret_outputs=[], custom_timeouts={},
        retain_on_delete=False,
    )  # fmt: skip
    return offline.Plan(plan.stack, [*plan.registrations, extra], plan.outputs)


CLUSTER = "azure-native:containerservice:ManagedCluster"
SERVER = "azure-native:dbforpostgresql:Server"
VAULT = "azure-native:keyvault:Vault"
ACCOUNT = "azure-native:storage:StorageAccount"
K8S_SECRET = "kubernetes:core/v1:Secret"

# (policy, stack, planted plan, expected words of the message). Every policy appears at least once.
PlantFn = Callable[[offline.Plan], offline.Plan]
PLANTED: list[tuple[str, str, PlantFn, str]] = [
    (
        "aks-entra-id-azure-rbac",
        "staging",
        lambda p: changed(p, CLUSTER, "aks", setter("aadProfile.enableAzureRBAC", False)),
        "aadProfile.enableAzureRBAC is not true",
    ),
    (
        "aks-entra-id-azure-rbac",
        "prod",
        lambda p: changed(p, CLUSTER, "aks", setter("aadProfile.managed", False)),
        "aadProfile.managed is not true",
    ),
    (
        "aks-local-accounts-disabled",
        "prod",
        lambda p: changed(p, CLUSTER, "aks", setter("disableLocalAccounts", False)),
        "disableLocalAccounts is not true",
    ),
    (
        "aks-image-cleaner",
        "prod",
        lambda p: changed(p, CLUSTER, "aks", setter("securityProfile.imageCleaner.enabled", False)),
        "securityProfile.imageCleaner.enabled is not true",
    ),
    (
        "aks-defender",
        "prod",
        lambda p: changed(p, CLUSTER, "aks", setter("securityProfile.defender.securityMonitoring.enabled", False)),
        "securityProfile.defender.securityMonitoring.enabled is not true",
    ),
    (
        "aks-etcd-kms",
        "prod",
        lambda p: changed(
            p,
            CLUSTER,
            "aks",
            setter("securityProfile.azureKeyVaultKms", {"enabled": True, "keyId": "https://kv.vault.azure.net/keys/k"}),
        ),
        "KMS needs a user-assigned one",
    ),
    (
        "aks-etcd-kms",
        "staging",
        lambda p: changed(
            p,
            CLUSTER,
            "aks",
            setter("securityProfile.azureKeyVaultKms", {"enabled": True, "keyId": "https://kv.vault.azure.net/keys/k"}),
        ),
        "is not https://<vault>/keys/<name>/<version>",
    ),
    (
        "aks-audit-log",
        "prod",
        lambda p: changed(p, "azure-native:monitor:DiagnosticSetting", "kube-audit", setter("logs.0.enabled", False)),
        "the API server's audit log goes nowhere",
    ),
    (
        "aks-audit-log",
        "staging",
        lambda p: without(p, "azure-native:monitor:DiagnosticSetting", "kube-audit"),
        "the API server's audit log goes nowhere",
    ),
    (
        "aks-ephemeral-os-disk",
        "prod",
        lambda p: changed(p, "azure-native:containerservice:AgentPool", "worker-pool", setter("osDiskType", "Managed")),
        "node pool 'workers' has osDiskType 'Managed', not 'Ephemeral'",
    ),
    (
        "aks-node-resource-group-read-only",
        "staging",
        lambda p: changed(p, CLUSTER, "aks", setter("nodeResourceGroupProfile.restrictionLevel", "Unrestricted")),
        "restrictionLevel is 'Unrestricted', not 'ReadOnly'",
    ),
    (
        "aks-encryption-at-host",
        "prod",
        lambda p: changed(p, CLUSTER, "aks", setter("agentPoolProfiles.0.enableEncryptionAtHost", False)),
        "node pool 'system' has enableEncryptionAtHost off",
    ),
    (
        "aks-encryption-at-host",
        "staging",
        lambda p: changed(
            p, "azure-native:containerservice:AgentPool", "worker-pool", setter("enableEncryptionAtHost", False)
        ),
        "node pool 'workers' has enableEncryptionAtHost off",
    ),
    (
        "aks-workload-identity",
        "staging",
        lambda p: changed(p, CLUSTER, "aks", setter("securityProfile.workloadIdentity.enabled", False)),
        "workloadIdentity.enabled is not true",
    ),
    (
        "aks-workload-identity",
        "prod",
        lambda p: changed(p, CLUSTER, "aks", setter("oidcIssuerProfile.enabled", False)),
        "oidcIssuerProfile.enabled is not true",
    ),
    (
        "aks-upgrade-channels",
        "staging",
        lambda p: changed(p, CLUSTER, "aks", setter("autoUpgradeProfile.upgradeChannel", "none")),
        "upgradeChannel is 'none'",
    ),
    (
        "aks-upgrade-channels",
        "prod",
        lambda p: changed(p, CLUSTER, "aks", setter("autoUpgradeProfile.nodeOSUpgradeChannel", "Unmanaged")),
        "nodeOSUpgradeChannel is 'Unmanaged'",
    ),
    (
        "aks-maintenance-windows",
        "prod",
        lambda p: without(
            p, "azure-native:containerservice:MaintenanceConfiguration", "aksManagedNodeOSUpgradeSchedule"
        ),
        "add the aksManagedNodeOSUpgradeSchedule maintenance configuration",
    ),
    (
        "aks-supported-kubernetes-version",
        "staging",
        lambda p: changed(p, CLUSTER, "aks", setter("kubernetesVersion", "1.29")),
        "kubernetesVersion 1.29 is not a supported minor",
    ),
    (
        "aks-availability-zones",
        "prod",
        lambda p: changed(p, CLUSTER, "aks", setter("agentPoolProfiles.0.availabilityZones", ["1"])),
        "spans 1 availability zone(s)",
    ),
    (
        "aks-availability-zones",
        "staging",
        lambda p: changed(p, "azure-native:containerservice:AgentPool", "worker-pool", setter("availabilityZones", [])),
        "node pool 'workers' spans 0",
    ),
    (
        "aks-api-server-restricted",
        "prod",
        lambda p: changed(p, CLUSTER, "aks", setter("apiServerAccessProfile.authorizedIPRanges", [])),
        "the API server is public",
    ),
    (
        "aks-api-server-restricted",
        "staging",
        lambda p: changed(p, CLUSTER, "aks", setter("apiServerAccessProfile.authorizedIPRanges", ["0.0.0.0/0"])),
        "contains 0.0.0.0/0",
    ),
    (
        "postgres-private-access",
        "prod",
        lambda p: changed(p, SERVER, "postgres", setter("network.publicNetworkAccess", "Enabled")),
        "publicNetworkAccess is not Disabled",
    ),
    (
        "postgres-tls-required",
        "staging",
        lambda p: changed(
            p, "azure-native:dbforpostgresql:Configuration", "require-secure-transport", setter("value", "off")
        ),
        "require_secure_transport is 'off'",
    ),
    (
        "postgres-tls-required",
        "prod",
        lambda p: without(p, "azure-native:dbforpostgresql:Configuration", "ssl_min_protocol_version"),
        "ssl_min_protocol_version is None",
    ),
    (
        "postgres-ha-geo-backup",
        "prod",
        lambda p: changed(p, SERVER, "postgres", setter("highAvailability.mode", "SameZone")),
        "highAvailability.mode is not ZoneRedundant",
    ),
    (
        "postgres-ha-geo-backup",
        "prod",
        lambda p: changed(p, SERVER, "postgres", setter("backup.geoRedundantBackup", "Disabled")),
        "geoRedundantBackup is not Enabled",
    ),
    (
        "postgres-backup-retention",
        "prod",
        lambda p: changed(p, SERVER, "postgres", setter("backup.backupRetentionDays", 14)),
        "backupRetentionDays is 14; raise database.backupRetentionDays to at least 35",
    ),
    (
        "keyvault-rbac-soft-delete",
        "staging",
        lambda p: changed(p, VAULT, "key-vault", setter("properties.enableRbacAuthorization", False)),
        "enableRbacAuthorization is not true",
    ),
    (
        "keyvault-rbac-soft-delete",
        "prod",
        lambda p: changed(p, VAULT, "key-vault", setter("properties.softDeleteRetentionInDays", 7)),
        "softDeleteRetentionInDays is 7",
    ),
    (
        "keyvault-purge-protection",
        "prod",
        lambda p: changed(p, VAULT, "key-vault", setter("properties.enablePurgeProtection", False)),
        "enablePurgeProtection is not true",
    ),
    (
        "storage-secure-transport",
        "staging",
        lambda p: changed(p, ACCOUNT, "chart-storage", setter("minimumTlsVersion", "TLS1_0")),
        "minimumTlsVersion is 'TLS1_0'",
    ),
    (
        "storage-secure-transport",
        "prod",
        lambda p: changed(p, ACCOUNT, "chart-storage", setter("enableHttpsTrafficOnly", False)),
        "enableHttpsTrafficOnly is false",
    ),
    (
        "storage-no-anonymous-access",
        "prod",
        lambda p: changed(p, ACCOUNT, "chart-storage", setter("allowBlobPublicAccess", True)),
        "allowBlobPublicAccess is not false",
    ),
    (
        "storage-no-anonymous-access",
        "staging",
        lambda p: changed(p, "azure-native:storage:BlobContainer", "charts-container", setter("publicAccess", "Blob")),
        "publicAccess is 'Blob'",
    ),
    (
        "storage-shared-key-access",
        "prod",
        lambda p: changed(p, ACCOUNT, "chart-storage", setter("accountName", "stcontosoother")),
        "account 'stcontosoother' allows shared-key access",
    ),
    (
        "storage-data-protection",
        "prod",
        lambda p: changed(
            p,
            "azure-native:storage:BlobServiceProperties",
            "charts-blob-service",
            setter("isVersioningEnabled", False),
        ),
        "account 'stcontosoprod': set isVersioningEnabled true",
    ),
    (
        "storage-data-protection",
        "staging",
        lambda p: changed(
            p,
            "azure-native:storage:BlobServiceProperties",
            "charts-blob-service",
            setter("deleteRetentionPolicy.days", 1),
        ),
        "enable deleteRetentionPolicy for at least 7 days",
    ),
    (
        "storage-data-protection",
        "staging",
        lambda p: without(p, "azure-native:storage:BlobServiceProperties", "isVersioningEnabled"),
        "account 'stcontosostaging' holds backups or state but has no BlobServiceProperties",
    ),
    (
        "stateful-resources-protected",
        "prod",
        lambda p: changed(p, SERVER, "postgres", protect_off),
        "dbforpostgresql:Server postgres holds state but is not protected",
    ),
    (
        "stateful-resources-protected",
        "prod",
        lambda p: changed(p, RELEASE, "vault", protect_off),
        "helm.sh/v3:Release vault holds state",  # on Raft its servers' volumes are Vault's store
    ),
    (
        "helm-chart-from-catalog",
        "staging",
        lambda p: changed(p, RELEASE, "traefik", setter("repositoryOpts.repo", "https://charts.example.com")),
        "chart repository 'https://charts.example.com' is not one of the catalog's",
    ),
    (
        "helm-chart-from-catalog",
        "prod",
        lambda p: changed(p, RELEASE, "traefik", setter("chart", "./charts/traefik")),
        "is a path or URL",
    ),
    (
        "helm-version-pinned",
        "prod",
        lambda p: changed(p, RELEASE, "concourse", setter("version", "^20.1")),
        "version is '^20.1'; pin the exact chart version",
    ),
    (
        "helm-atomic-with-timeout",
        "staging",
        lambda p: changed(p, RELEASE, "vault", setter("atomic", False)),
        "atomic is not true",
    ),
    ("helm-atomic-with-timeout", "prod", lambda p: changed(p, RELEASE, "vault", setter("timeout", 0)), "timeout is 0"),
    (
        # Skipping the wait is allowed only to a release the config names with its reason (ElastAlert), not to Vault.
        "helm-atomic-with-timeout",
        "prod",
        lambda p: changed(
            changed(p, RELEASE, "vault", setter("atomic", False)), RELEASE, "vault", setter("skipAwait", True)
        ),
        "unawaited",
    ),
    (
        "helm-atomic-with-timeout",
        "staging",
        lambda p: changed(p, RELEASE, "elastalert2", setter("skipAwait", False)),
        "atomic is not true",
    ),
    (
        "helm-values-no-secret-literal",
        "staging",
        lambda p: changed(p, RELEASE, "kube-prometheus-stack", setter("values.grafana.adminPassword", "hunter2")),
        "values.grafana.adminPassword holds a literal under the credential key 'adminPassword'",
    ),
    (
        "helm-values-no-secret-literal",
        "prod",
        lambda p: changed(p, RELEASE, "concourse", setter("values.secrets.create", "[secret]")),
        "values.secrets.create holds a generated-looking token",
    ),
    (
        "helm-values-no-secret-literal",
        "prod",
        lambda p: changed(
            p, RELEASE, "elastalert2", setter("values.slackUrl", "https://hooks.slack.com/services/T0/B0/x")
        ),
        "a Slack webhook URL",
    ),
    (
        "kubernetes-secret-data-generated",
        "staging",
        lambda p: changed(p, K8S_SECRET, "grafana-admin-secret", no_secret_sources),
        "Secret monitoring/grafana-admin: its data depends on no generated value",
    ),
    (
        "kubernetes-secret-data-generated",
        "prod",
        lambda p: changed(p, K8S_SECRET, "elastalert-rules-secret", rename_secret),
        "Secret logging/hand-written",
    ),
    (
        "azure-stack-tags",
        "prod",
        lambda p: changed(p, VAULT, "key-vault", setter("tags.cdstack-stack", "staging")),
        "tag cdstack-stack is 'staging'; it must be 'prod'",
    ),
    (
        "azure-stack-tags",
        "staging",
        lambda p: changed(p, "azure-native:keyvault:Key", "unseal-key", setter("tags", {})),
        "tag managed-by is None",
    ),
    (
        "acme-issuer-for-stack",
        "prod",
        lambda p: changed(
            p,
            "kubernetes:cert-manager.io/v1:ClusterIssuer",
            "cluster-issuer",
            setter("spec.acme.server", "https://acme-staging-v02.api.letsencrypt.org/directory"),
        ),
        "ACME server https://acme-staging-v02.api.letsencrypt.org/directory is not allowed",
    ),
    (
        "dns-names-own-stack",
        "staging",
        lambda p: changed(p, "azure-native:dns:RecordSet", "concourse-a-record", setter("zoneName", "cd.contoso.com")),
        "names ci.cd.contoso.com, which belongs to another stack (cd.contoso.com)",
    ),
    (
        "dns-names-own-stack",
        "prod",
        lambda p: changed(
            p, RELEASE, "concourse", setter("values.concourse.web.externalUrl", "https://ci.staging.cd.contoso.com")
        ),
        "belongs to another stack (staging.cd.contoso.com)",
    ),
    (
        "stack-singletons",
        "staging",
        lambda p: duplicated(p, SERVER, "postgres"),
        "the stack has 2 azure-native:dbforpostgresql:Server",
    ),
    (
        "stack-singletons",
        "prod",
        lambda p: duplicated(p, RELEASE, "concourse"),
        "2 releases of the concourse chart with its web enabled",
    ),
    (
        "stack-singletons",
        "prod",
        lambda p: duplicated(p, RELEASE, "concourse-workers"),
        "2 releases of the concourse chart with its worker enabled",
    ),
    (
        "stack-types-promoted",
        "prod",
        lambda p: added(p, "azure-native:cache:Redis"),
        "azure-native:cache:Redis has not run in the source stack",
    ),
]


@pytest.fixture(scope="module")
def shipped(plans: dict[str, offline.Plan]) -> dict[str, list[policy_check.Violation]]:
    """What the pack reports on each stack's plan as shipped: the baseline every planted mistake is compared with
    (one pack run per stack, not one per planted case)."""
    return {stack: policy_check.run(plans[stack], policy_check.load_config(stack)) for stack in STACKS}


def mandatory(violations: list[policy_check.Violation]) -> list[policy_check.Violation]:
    return [v for v in violations if v.level == EnforcementLevel.MANDATORY]


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_have_no_mandatory_violation(
    shipped: dict[str, list[policy_check.Violation]], stack: str
) -> None:
    assert mandatory(shipped[stack]) == []


@pytest.mark.parametrize(("policy", "stack", "plant", "message"), PLANTED, ids=[f"{c[0]}-{c[1]}" for c in PLANTED])
def test_policy_reports_a_planted_violation(
    plans: dict[str, offline.Plan],
    shipped: dict[str, list[policy_check.Violation]],
    policy: str,
    stack: str,
    plant: PlantFn,
    message: str,
) -> None:
    config = policy_check.load_config(stack)
    before = [v for v in shipped[stack] if v.policy == policy]
    after = [v for v in policy_check.run(plant(plans[stack]), config) if v.policy == policy]
    assert not any(message in v.message for v in before)
    assert any(message in v.message for v in after), [v.message for v in after]
    assert {v.level for v in after if message in v.message} == {EnforcementLevel.MANDATORY}


def test_every_policy_has_a_planted_violation() -> None:
    planted = {case[0] for case in PLANTED} | {"aks-system-pool-critical-addons-only"}
    assert planted == {p.name for p in POLICIES}


def test_system_pool_taint_is_advisory_and_fires_on_the_shipped_pool(plans: dict[str, offline.Plan]) -> None:
    """cdstack runs its platform services on the untainted system pool on purpose (policy/README.md): the policy
    reports it, as advice; a tainted pool is clean."""
    config = policy_check.load_config("prod")
    shipped = [v for v in policy_check.run(plans["prod"], config) if v.policy == "aks-system-pool-critical-addons-only"]
    assert [v.level for v in shipped] == [EnforcementLevel.ADVISORY]
    assert "has no CriticalAddonsOnly=true:NoSchedule taint" in shipped[0].message
    tainted = changed(
        plans["prod"], CLUSTER, "aks", setter("agentPoolProfiles.0.nodeTaints", ["CriticalAddonsOnly=true:NoSchedule"])
    )
    assert not [v for v in policy_check.run(tainted, config) if v.policy == "aks-system-pool-critical-addons-only"]


def test_a_value_unknown_at_preview_gives_the_sdk_advisory_note(plans: dict[str, offline.Plan]) -> None:
    unknown = changed(plans["staging"], CLUSTER, "aks", setter("kubernetesVersion", offline.UNKNOWN))
    notes = [
        v for v in policy_check.run(unknown, policy_check.load_config("staging")) if v.policy.startswith("aks-sup")
    ]
    assert [(v.level, v.message) for v in notes] == [
        (
            EnforcementLevel.ADVISORY,
            "can't run during preview: string value at .kubernetesVersion can't be known during preview",
        )
    ]


def test_secrets_reach_policies_unwrapped_as_the_engine_hands_them(plans: dict[str, offline.Plan]) -> None:
    server = plans["prod"].get(SERVER, "postgres")
    props = policy_check.engine_props(server.inputs, server.urn)
    assert props["administratorLoginPassword"] not in (offline.SECRET, None)
    assert not isinstance(props["administratorLoginPassword"], dict)


def test_config_files_set_only_declared_properties_and_known_policies() -> None:
    names = {p.name for p in POLICIES}
    for stack in STACKS:
        config = policy_check.load_config(stack)
        assert set(config) <= names, f"policy/config.{stack}.json names unknown policies"
        for policy in POLICIES:
            policy_check.settings(policy, config)  # raises on an undeclared property
    with pytest.raises(ValueError, match="does not declare"):
        policy_check.settings(
            next(p for p in POLICIES if p.name == "aks-availability-zones"), {"aks-availability-zones": {"zones": 2}}
        )


@pytest.mark.parametrize("stack", STACKS)
def test_config_agrees_with_the_program(stack: str) -> None:
    """Facts the pack cannot import (it runs in its own virtualenv) are copied into its config; these keep the copies
    true: the catalog's repositories, the stack's tags and DNS domain."""
    config = policy_check.load_config(stack)
    cfg = offline.load_config(stack)
    assert config["helm-chart-from-catalog"]["repositories"] == sorted({c.repository for c in catalog.CHARTS.values()})
    assert config["azure-stack-tags"]["requiredTags"] == common_tags(cfg)
    assert cfg.dns.domain in config["dns-names-own-stack"]["ownDomains"]
    unawaited = {r.name for r in cached_plan(stack).registrations if r.type == RELEASE and r.inputs.get("skipAwait")}
    elastalert = {"elastalert2"} if cfg.parts.elasticsearch else set()  # a lean stack runs no ElastAlert
    assert set(config["helm-atomic-with-timeout"]["unawaited"]) == unawaited == elastalert


def test_supported_minors_are_the_catalogs_minors_in_support() -> None:
    """The policy's supported minors are those of AKS's calendar (catalog.py) still supported on the suite's date:
    when the date moves past an end of life, this names the config to update."""
    verdicts = {
        m: catalog.kubernetes_support(m, clock.today(), long_term_support=False) for m in catalog.KUBERNETES_MINORS
    }
    in_support = [m for m, verdict in verdicts.items() if verdict is None or verdict[0] == "warning"]
    for stack in STACKS:
        assert policy_check.load_config(stack)["aks-supported-kubernetes-version"]["supportedMinors"] == in_support


def test_prod_records_every_type_staging_runs(plans: dict[str, offline.Plan]) -> None:
    """The record is staging's types (its one `up` creates the Vault side too)."""
    recorded = policy_check.load_config("prod")["stack-types-promoted"]["sourceTypes"]
    staging = [r.type for r in plans["staging"].registrations]
    expected = sorted({t for t in staging if not t.startswith("pulumi:")})
    assert recorded == expected, "update policy/config.prod.json stack-types-promoted.sourceTypes to staging's types"


def test_taggable_types_match_the_sdk(plans: dict[str, offline.Plan]) -> None:
    """Every azure-native type in the graphs whose arguments take `tags` is checked by azure-stack-tags."""
    taking_tags = set()
    for type_ in {r.type for plan in plans.values() for r in plan.registrations if r.type.startswith("azure-native:")}:
        _, module, name = type_.split(":")
        args = getattr(import_module(f"pulumi_azure_native.{module}"), f"{name}Args")
        if "tags" in inspect.signature(args.__init__).parameters:
            taking_tags.add(type_)
    assert taking_tags == set(tags.TAGGABLE)


def test_readme_documents_every_policy() -> None:
    readme = (policy_check.POLICY_DIR / "README.md").read_text()
    missing = [p.name for p in POLICIES if f"`{p.name}`" not in readme]
    assert missing == []


def test_the_pack_serves_every_policy_as_pulumi_runs_it() -> None:
    """Started as the CLI's analyzer plugin starts a Python pack (pulumi-analyzer-policy-python: `python -u -m
    pulumi.policy <engine> .` inside the pack's directory), the pack serves pulumi-policy's analyzer, and the
    engine's GetAnalyzerInfo call lists every policy with its enforcement level."""
    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
        cwd=policy_check.POLICY_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    finally:
        process.kill()
        process.wait()
    assert info.name == "cdstack"
    assert [p.name for p in info.policies] == [p.name for p in POLICIES]
    advisory = [p.name for p in info.policies if p.enforcementLevel == analyzer_pb2.ADVISORY]
    assert advisory == ["aks-system-pool-critical-addons-only"]


def test_names_unknown_at_a_first_preview_do_not_stop_the_graph_checks(plans: dict[str, offline.Plan]) -> None:
    """On a first preview, names that are other resources' outputs are unknown: the graph checks still relate
    resources through the engine's property dependencies, and unknown values are no literal."""
    plan = plans["staging"]
    for type_, name, path in [
        (K8S_SECRET, "elastalert-rules-secret", "metadata.namespace"),
        ("azure-native:containerservice:MaintenanceConfiguration", "upgrade-window", "resourceName"),
        ("azure-native:dbforpostgresql:Configuration", "require-secure-transport", "serverName"),
        ("azure-native:storage:BlobServiceProperties", "charts-blob-service", "accountName"),
        (RELEASE, "concourse", "values.concourse.web.externalUrl"),
    ]:
        plan = changed(plan, type_, name, setter(path, offline.UNKNOWN))
    violations = policy_check.run(plan, policy_check.load_config("staging"))
    assert mandatory(violations) == []
    assert [v for v in violations if "can't run" in v.message] == []


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_a_stack_with_etcd_kms_on_meets_the_kms_policy(stack: str) -> None:
    """cluster.etcdKms as the program plans it (user-assigned identity, versioned key id, public vault) passes
    aks-etcd-kms, which a hand-planted cluster fails (PLANTED): the policy and the program agree on AKS's KMS rules."""
    raw = stack_config(stack)
    raw["cdstack:cluster"] = {**raw["cdstack:cluster"], "etcdKms": True}
    plan = azure_plans.run(stack, raw)
    assert plan.get(CLUSTER, "aks").inputs["securityProfile"]["azureKeyVaultKms"]["enabled"] is True
    violations = policy_check.run(plan, policy_check.load_config(stack))
    assert [v.message for v in violations if v.policy == "aks-etcd-kms"] == []
