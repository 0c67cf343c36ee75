"""The CdStack graph under the mock engine: structure, names, tags, outputs; config read only via Pulumi's API."""

from __future__ import annotations

import json

import pytest

from components.config import loader
from tests.conftest import Planner, stack_config
from tools import offline
from tools.plan import short


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_resource_hangs_under_cdstack(stack: str, shared_plan: Planner):
    plan = shared_plan(stack)
    root = plan.get("cdstack:index:CdStack", stack)
    assert root.parent.endswith(f"pulumi:pulumi:Stack::cdstack-{stack}")
    by_urn = {r.urn: r for r in plan.registrations}
    for registration in plan.registrations:
        if registration is root:
            continue
        node = registration
        while node.parent in by_urn and node is not root:
            node = by_urn[node.parent]
        assert node is root, f"{registration.type} {registration.name} is outside CdStack"


def test_azure_resources_carry_the_stack_tags(shared_plan: Planner):
    plan = shared_plan("staging")
    group = plan.get("azure-native:resources:ResourceGroup", "resource-group")
    assert group.inputs["tags"] == {
        "owner": "platform-team",
        "costCenter": "4711",
        "cdstack-stack": "staging",
        "managed-by": "pulumi",
    }
    assert group.inputs["location"] == "westeurope"


def test_network_layout_comes_from_config(shared_plan: Planner):
    plan = shared_plan("prod")
    vnet = plan.get("azure-native:network:VirtualNetwork", "vnet")
    assert vnet.inputs["addressSpace"] == {"addressPrefixes": ["10.50.0.0/16"]}
    postgres = plan.get("azure-native:network:Subnet", "postgres-subnet")
    assert postgres.inputs["addressPrefix"] == "10.50.16.0/24"
    assert postgres.inputs["delegations"][0]["serviceName"] == "Microsoft.DBforPostgreSQL/flexibleServers"
    aks = plan.get("azure-native:network:Subnet", "aks-subnet")
    # Azure serialises subnet writes within one VNet: the second waits for the first.
    assert aks.urn in postgres.dependencies


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_outputs_name_what_an_operator_needs(stack: str, shared_plan: Planner):
    outputs = shared_plan(stack).outputs
    assert outputs["resourceGroupName"] == f"rg-contoso-{stack}"
    for key in ("concourseUrl", "vaultUrl", "grafanaUrl", "kibanaUrl", "chartmuseumUrl"):
        assert outputs[key].startswith("https://")
    assert outputs["releaseSet"]["charts"]["concourse"] == "20.1.3"


def test_config_given_the_way_the_cli_gives_it(monkeypatch: pytest.MonkeyPatch):
    """`pulumi up` hands config to the program in PULUMI_CONFIG; load() sees every key there, typos included."""
    flat, _ = offline.flatten_config(stack_config("staging"))
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(flat))
    assert offline.validated_config("staging", {}, []).name == "contoso"

    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({**flat, "cdstack:clutser": "{}"}))
    with pytest.raises(loader.ConfigError) as caught:
        offline.validated_config("staging", {}, [])
    assert caught.value.keys == ["cdstack:clutser"]


def test_cli_secret_keys_are_recognised(monkeypatch: pytest.MonkeyPatch):
    """A `secure:` value reaches the program listed in PULUMI_CONFIG_SECRET_KEYS: accepted as a secret."""
    flat, _ = offline.flatten_config(stack_config("staging"))
    flat["cdstack:slackWebhookUrl"] = "https://hooks.slack.com/services/T/B/x"
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(flat))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["cdstack:slackWebhookUrl"]))
    assert offline.validated_config("staging", {}, []).slack_webhook_configured


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_concourse_waits_for_its_inputs_and_teams_wait_for_concourse(stack: str, shared_plan: Planner):
    plan = shared_plan(stack)
    concourse = plan.get("kubernetes:helm.sh/v3:Release", "concourse")
    waits = {short(urn) for urn in concourse.dependencies}
    assert "kubernetes:core/v1:Secret::concourse-web-secret" in waits
    # The workers, in their own release, wait for their pool and their generation's Secret; the web for neither.
    workers = plan.get("kubernetes:helm.sh/v3:Release", "concourse-workers")
    worker_waits = {short(urn) for urn in workers.dependencies}
    assert {
        "azure-native:containerservice:AgentPool::worker-pool",
        "kubernetes:core/v1:Secret::concourse-worker-secret",
    } <= worker_waits
    assert "azure-native:containerservice:AgentPool::worker-pool" not in waits
    assert concourse.urn not in workers.dependencies  # workers retry the TSA until the web answers
    # Concourse does not wait for logging, ingress or ChartMuseum releases.
    for other in ("eck-stack", "elastalert2", "traefik", "cert-manager", "chartmuseum"):
        assert f"kubernetes:helm.sh/v3:Release::{other}" not in waits
    # Teams wait for the API to answer with its certificate (components/concourse/teams.py), which waits for Concourse.
    ready = plan.get("pulumi-python:dynamic/concourse:ApiReady", "concourse-api-ready")
    assert concourse.urn in ready.dependencies
    team = plan.get("pulumi-python:dynamic/concourse:Team", "team-payments")
    assert ready.urn in team.dependencies


def test_vault_starts_only_after_its_unseal_identity_can_log_in_and_use_the_key(shared_plan: Planner):
    plan = shared_plan("staging")
    vault = plan.get("kubernetes:helm.sh/v3:Release", "vault")
    waits = {short(urn) for urn in vault.dependencies}
    assert "azure-native:managedidentity:FederatedIdentityCredential::vault-federation" in waits
    assert "azure-native:authorization:RoleAssignment::vault-crypto-user" in waits


def test_concourse_starts_once_its_database_exists_not_after_the_tls_parameters(shared_plan: Planner):
    concourse = shared_plan("staging").get("kubernetes:helm.sh/v3:Release", "concourse")
    waits = {short(urn) for urn in concourse.dependencies}
    assert "azure-native:dbforpostgresql:Database::concourse-database" in waits
    # The TLS parameters restate what a new flexible server enforces already: Concourse installs while they apply.
    assert not any(w.startswith("azure-native:dbforpostgresql:Configuration::") for w in waits)


# What the mock engine hands out for generated secrets (tools/offline.py); none may surface in values or outputs.
GENERATED = ("offline-plan-password", "offline-plan-client-secret", "offline-secret-id", "b2ZmbGluZS1wbGFuLWtleQ==")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_no_secret_in_any_helm_values_or_stack_output(stack: str, shared_plan: Planner):
    plan = shared_plan(stack)
    releases = plan.by_type("kubernetes:helm.sh/v3:Release")
    assert len(releases) >= 11
    for release in releases:
        text = json.dumps(release.inputs["values"])
        assert offline.SECRET not in text, f"{release.name}: its values are (partly) a secret"
        for generated in GENERATED:
            assert generated not in text, f"{release.name}: a generated secret is in its values"
    outputs = json.dumps(plan.outputs)
    for generated in GENERATED:
        assert generated not in outputs
    # Secrets land in Kubernetes Secrets only, and there as Pulumi secrets.
    for secret in plan.by_type("kubernetes:core/v1:Secret"):
        assert secret.inputs["stringData"] == offline.SECRET, secret.name


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_release_is_pinned_atomic_and_bounded(stack: str, shared_plan: Planner):
    from components import catalog
    from components.concourse.limits import release_timeout_seconds

    plan = shared_plan(stack)
    plan_cfg = offline.load_config(stack)
    charts = {c.chart: key for key, c in catalog.CHARTS.items()}
    deployed = set()
    for release in plan.by_type("kubernetes:helm.sh/v3:Release"):
        inputs = release.inputs
        key = charts[inputs["chart"]]
        deployed.add(key)
        assert inputs["version"] == plan.outputs["releaseSet"]["charts"][key]
        assert inputs["repositoryOpts"] == {"repo": catalog.CHARTS[key].repository}
        # ElastAlert alone is not awaited (services/logging.py): nothing in the stack needs it ready.
        assert inputs["atomic"] is (key != "elastalert2") and inputs["cleanupOnFail"] is True
        assert inputs.get("skipAwait", False) is (key == "elastalert2")
        wait = release_timeout_seconds(plan_cfg) if key == "concourse" else catalog.CHARTS[key].timeout_seconds
        assert inputs["timeout"] == wait
        # The worker release's name carries its generation (services/concourse.py).
        generation = inputs["name"].removeprefix(f"{release.name}-") if release.name == "concourse-workers" else ""
        assert inputs["name"] == (f"{release.name}-{generation}" if generation else release.name)
    # Every catalog chart is in use; Consul's only where Vault's store is Consul (the shipped stacks run Raft).
    assert deployed == set(catalog.CHARTS) - {"consul"}


def test_a_chart_mirror_installs_every_release_from_it(shared_plan: Planner):
    raw = stack_config("staging")
    raw["cdstack:chartMirror"] = "oci://contosocharts.azurecr.io/helm"
    releases = shared_plan("staging", raw).by_type("kubernetes:helm.sh/v3:Release")
    assert releases
    for release in releases:
        assert release.inputs["chart"].startswith("oci://contosocharts.azurecr.io/helm/"), release.name
        assert "repositoryOpts" not in release.inputs, release.name
