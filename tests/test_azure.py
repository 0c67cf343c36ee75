"""The Azure platform under the mock engine, for both stacks: what is created, how it is wired, which options hold."""

from __future__ import annotations

import ssl
from typing import Any

import pulumi
import pytest

from components import config, naming
from components.azure import database, network
from components.azure.cluster import active_schedules
from components.azure.kubeconfig import non_interactive
from components.stack import CdStack
from tests.conftest import stack_config
from tools import offline

STACKS = ["staging", "prod"]
CLUSTER = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
SERVER = "azure-native:dbforpostgresql:Server"
ROLE = "azure-native:authorization:RoleAssignment"


def endpoints_program() -> None:
    """cdstack's program, also exporting the typed endpoints the services consume (to check secrecy and values)."""
    cfg = config.load()
    stack = CdStack(cfg)
    platform = stack.platform
    exports: dict[str, Any] = {
        **stack.exports(),
        "db.host": platform.database.host,
        "db.port": platform.database.port,
        "db.database": platform.database.database,
        "db.user": platform.database.user,
        "db.password": platform.database.password,
        "db.caBundle": platform.database.ca_bundle,
        "blob.account": platform.chartmuseum_store.account_name,
        "blob.container": platform.chartmuseum_store.container_name,
        "blob.key": platform.chartmuseum_store.account_key,
        "ingress.ip": platform.ingress.ip_address,
        "ingress.rg": platform.ingress.resource_group_name,
        "oidcIssuerUrl": platform.oidc_issuer_url,
        "hasUnseal": platform.vault_unseal is not None,
    }
    if platform.vault_unseal:
        u = platform.vault_unseal
        exports |= {
            "unseal.tenant": u.tenant_id,
            "unseal.vault": u.key_vault_name,
            "unseal.key": u.key_name,
            "unseal.client": u.identity_client_id,
        }
    for key, value in exports.items():
        pulumi.export(key, value)


def run(stack: str, cfg: dict[str, Any] | None = None) -> offline.Plan:
    flat, secret_keys = offline.flatten_config(cfg if cfg is not None else stack_config(stack))
    return offline.run(stack, flat, secret_keys, program=endpoints_program)


@pytest.fixture(scope="module")
def plans() -> dict[str, offline.Plan]:
    return {stack: run(stack) for stack in STACKS}


def settings(stack: str) -> config.StackConfig:
    raw = {key.split(":", 1)[1]: value for key, value in stack_config(stack).items() if key.startswith("cdstack:")}
    return config.StackConfig.model_validate({**raw, "stack": stack})


def urn(plan: offline.Plan, type_: str, name: str) -> str:
    return plan.get(type_, name).urn


# ---------------------------------------------------------------------------------------------------------------------
# Network


@pytest.mark.parametrize("stack", STACKS)
def test_postgres_private_dns_zone_is_linked_to_the_vnet(plans: dict[str, offline.Plan], stack: str):
    plan = plans[stack]
    zone = plan.get("azure-native:privatedns:PrivateZone", "postgres-dns-zone")
    assert zone.inputs["privateZoneName"] == f"psql-contoso-{stack}.private.postgres.database.azure.com"
    assert zone.inputs["location"] == "global"
    link = plan.get("azure-native:privatedns:VirtualNetworkLink", "postgres-dns-link")
    vnet = plan.get("azure-native:network:VirtualNetwork", "vnet")
    assert link.inputs["virtualNetwork"] == {"id": "/offline/azure-native/network/VirtualNetwork/vnet"}
    assert zone.urn in link.dependencies and vnet.urn in link.dependencies
    assert link.inputs["registrationEnabled"] is False


@pytest.mark.parametrize("stack", STACKS)
def test_ingress_ip_is_static_standard_and_every_public_host_has_an_a_record(
    plans: dict[str, offline.Plan], stack: str
):
    plan, cfg = plans[stack], settings(stack)
    ip = plan.get("azure-native:network:PublicIPAddress", "ingress-ip")
    assert ip.inputs["sku"]["name"] == "Standard"
    assert ip.inputs["publicIPAllocationMethod"] == "Static"
    assert ip.inputs["publicIpAddressName"] == f"pip-contoso-{stack}-ingress"
    records = plan.by_type("azure-native:dns:RecordSet")
    assert len(records) == len(config.DEFAULT_HOST_LABELS)
    for record in records:
        assert record.inputs["zoneName"] == cfg.dns.domain
        assert record.inputs["resourceGroupName"] == "rg-contoso-dns"
        assert record.inputs["recordType"] == "A"
        assert record.inputs["aRecords"] == [{"ipv4Address": "20.31.0.10"}]
        assert ip.urn in record.dependencies
    fqdns = {f"{r.inputs['relativeRecordSetName']}.{cfg.dns.domain}" for r in records}
    assert fqdns == {cfg.dns.host(service) for service in config.DEFAULT_HOST_LABELS}
    assert plan.outputs["ingressIp"] == "20.31.0.10"
    assert plan.outputs["ingress.rg"] == f"rg-contoso-{stack}"


def test_record_names_are_relative_to_the_zone_including_configured_hosts():
    cfg = settings("staging").model_copy(
        update={
            "dns": config.DnsConfig(domain="cd.contoso.com", hosts=config.HostsConfig(grafana="dash.cd.contoso.com"))
        }
    )
    assert network.public_records(cfg) == {
        "concourse": "ci",
        "vault": "vault",
        "grafana": "dash",
        "kibana": "kibana",
        "chartmuseum": "charts",
    }


def test_no_dns_records_without_a_zone_resource_group():
    cfg = stack_config("staging")
    cfg["cdstack:dns"] = {"domain": "staging.cd.contoso.com"}
    plan = run("staging", cfg)
    assert plan.by_type("azure-native:dns:RecordSet") == []
    assert plan.by_type("azure-native:network:PublicIPAddress")


# ---------------------------------------------------------------------------------------------------------------------
# AKS


@pytest.mark.parametrize("stack", STACKS)
def test_cluster_follows_the_configuration(plans: dict[str, offline.Plan], stack: str):
    cfg = settings(stack)
    aks = plans[stack].get(CLUSTER, "aks").inputs
    assert aks["resourceName"] == f"aks-contoso-{stack}"
    assert aks["sku"] == {"name": "Base", "tier": cfg.cluster.sku_tier}
    assert aks["disableLocalAccounts"] is cfg.cluster.disable_local_accounts
    assert aks["kubernetesVersion"] == cfg.cluster.kubernetes_version
    assert aks["aadProfile"] == {
        "managed": True,
        "enableAzureRBAC": True,
        "adminGroupObjectIDs": cfg.cluster.admin_group_object_ids,
        "tenantID": offline.TENANT_ID,
    }
    assert aks["oidcIssuerProfile"] == {"enabled": True}
    assert aks["securityProfile"] == {"workloadIdentity": {"enabled": True}}
    assert aks["apiServerAccessProfile"]["authorizedIPRanges"] == cfg.cluster.api_authorized_ranges
    assert aks["autoUpgradeProfile"] == {
        "upgradeChannel": cfg.cluster.upgrade_channel,
        "nodeOSUpgradeChannel": cfg.cluster.node_os_upgrade_channel,
    }
    net = aks["networkProfile"]
    assert (net["networkPlugin"], net["networkPluginMode"], net["networkPolicy"]) == ("azure", "overlay", "cilium")
    assert (net["podCidr"], net["serviceCidr"], net["dnsServiceIP"]) == (
        cfg.network.pod_cidr,
        cfg.network.service_cidr,
        cfg.network.dns_service_ip,
    )
    [system] = aks["agentPoolProfiles"]
    assert system["mode"] == "System"
    assert system["count"] == cfg.cluster.system_pool.count
    assert "enableAutoScaling" not in system
    assert system["vnetSubnetID"].endswith("/Subnet/aks-subnet")


def test_production_turns_on_the_paid_tier_and_turns_off_local_accounts(plans: dict[str, offline.Plan]):
    prod = plans["prod"].get(CLUSTER, "aks").inputs
    staging = plans["staging"].get(CLUSTER, "aks").inputs
    assert (prod["sku"]["tier"], prod["disableLocalAccounts"]) == ("Standard", True)
    assert (staging["sku"]["tier"], staging["disableLocalAccounts"]) == ("Free", False)


@pytest.mark.parametrize("stack", STACKS)
def test_worker_pool_is_reserved_for_concourse_and_left_to_the_autoscaler(plans: dict[str, offline.Plan], stack: str):
    cfg = settings(stack).cluster.worker_pool
    pool = plans[stack].get(POOL, "worker-pool")
    key, value = naming.WORKER_POOL_LABEL
    assert pool.inputs["nodeLabels"] == {key: value}
    assert pool.inputs["nodeTaints"] == [naming.WORKER_POOL_TAINT]
    assert pool.inputs["mode"] == "User"
    assert pool.inputs["enableAutoScaling"] is True
    assert (pool.inputs["minCount"], pool.inputs["maxCount"]) == (cfg.min_count, cfg.max_count)
    assert pool.inputs["osDiskSizeGB"] == cfg.os_disk_size_gb
    assert pool.inputs["vmSize"] == cfg.vm_size
    assert pool.inputs["resourceName"] == f"aks-contoso-{stack}"
    # The autoscaler's count never shows up as a diff on the next run.
    assert pool.ignore_changes == ["count"]
    assert urn(plans[stack], CLUSTER, "aks") in pool.dependencies


@pytest.mark.parametrize("stack", STACKS)
def test_maintenance_windows_follow_the_configuration(plans: dict[str, offline.Plan], stack: str):
    window = settings(stack).cluster.maintenance_window
    configs = plans[stack].by_type("azure-native:containerservice:MaintenanceConfiguration")
    assert {c.inputs["configName"] for c in configs} == {
        "aksManagedAutoUpgradeSchedule",
        "aksManagedNodeOSUpgradeSchedule",
    }
    for c in configs:
        assert c.inputs["maintenanceWindow"] == {
            "schedule": {"weekly": {"dayOfWeek": window.day_of_week, "intervalWeeks": 1}},
            "startTime": window.start_time,
            "durationHours": window.duration_hours,
            "utcOffset": window.utc_offset,
        }
    if stack == "prod":
        assert (window.day_of_week, window.start_time, window.duration_hours) == ("Saturday", "22:00", 6)


def test_a_channel_switched_off_gets_no_schedule():
    cfg = settings("staging")
    off = cfg.model_copy(update={"cluster": cfg.cluster.model_copy(update={"upgrade_channel": "none"})})
    assert active_schedules(off) == ["aksManagedNodeOSUpgradeSchedule"]
    unmanaged = cfg.model_copy(
        update={"cluster": cfg.cluster.model_copy(update={"node_os_upgrade_channel": "Unmanaged"})}
    )
    assert active_schedules(unmanaged) == ["aksManagedAutoUpgradeSchedule"]


@pytest.mark.parametrize("stack", STACKS)
def test_cluster_identity_may_attach_the_ingress_ip_before_the_ingress_service_exists(
    plans: dict[str, offline.Plan], stack: str
):
    plan = plans[stack]
    role = plan.get(ROLE, "cluster-network-contributor")
    aks = plan.get(CLUSTER, "aks")
    assert role.inputs["roleDefinitionId"] == (
        f"/subscriptions/{offline.SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/"
        "4d97b98b-1d4f-4787-a291-c67834ab3a3e"
    )
    assert role.inputs["principalType"] == "ServicePrincipal"
    assert role.inputs["principalId"] == aks.state["identity"]["principalId"]
    assert role.inputs["scope"] == "/offline/azure-native/resources/ResourceGroup/resource-group"
    # The ingress controller's release (its LoadBalancer Service takes the IP) waits for the role; nothing else in
    # the cluster needs it, so the provider does not hold every Kubernetes resource back for it.
    traefik = plan.get("kubernetes:helm.sh/v3:Release", "traefik")
    assert role.urn in traefik.dependencies
    assert role.urn not in plan.get("pulumi:providers:kubernetes", "aks").dependencies


@pytest.mark.parametrize("stack", STACKS)
def test_kubernetes_provider_has_a_secret_kubeconfig_from_the_cluster(plans: dict[str, offline.Plan], stack: str):
    provider = plans[stack].get("pulumi:providers:kubernetes", "aks")
    assert provider.inputs["kubeconfig"] == offline.SECRET
    assert urn(plans[stack], CLUSTER, "aks") in provider.dependencies
    assert plans[stack].outputs["oidcIssuerUrl"].startswith("https://westeurope.oic.prod-aks.azure.com/")


def test_kubernetes_provider_gets_the_non_interactive_rewrite_of_the_clusters_device_code_kubeconfig(
    plans: dict[str, offline.Plan],
):
    assert "devicecode" in offline.FAKE_KUBECONFIG  # what AKS hands out for an Entra ID cluster
    provider = plans["staging"].get("pulumi:providers:kubernetes", "aks")
    kubeconfig = provider.state["kubeconfig"]["value"]  # the engine's view, unmasked: the secret wraps it
    assert kubeconfig == non_interactive(offline.FAKE_KUBECONFIG)
    assert "devicecode" not in kubeconfig


# ---------------------------------------------------------------------------------------------------------------------
# PostgreSQL


@pytest.mark.parametrize("stack", STACKS)
def test_flexible_server_follows_the_configuration(plans: dict[str, offline.Plan], stack: str):
    db = settings(stack).database
    server = plans[stack].get(SERVER, "postgres")
    i = server.inputs
    assert i["serverName"] == f"psql-contoso-{stack}"
    assert i["version"] == db.version
    assert i["sku"] == {"name": db.sku_name, "tier": db.sku_tier}
    assert i["storage"] == {"storageSizeGB": db.storage_gb, "autoGrow": "Enabled"}
    assert i["backup"] == {
        "backupRetentionDays": db.backup_retention_days,
        "geoRedundantBackup": "Enabled" if db.geo_redundant_backup else "Disabled",
    }
    assert i["highAvailability"]["mode"] == ("ZoneRedundant" if db.high_availability else "Disabled")
    assert i["network"] == {
        "delegatedSubnetResourceId": "/offline/azure-native/network/Subnet/postgres-subnet",
        "privateDnsZoneArmResourceId": "/offline/azure-native/privatedns/PrivateZone/postgres-dns-zone",
        "publicNetworkAccess": "Disabled",
    }
    assert i["administratorLogin"] == db.admin_login
    assert i["administratorLoginPassword"] == offline.SECRET
    link = urn(plans[stack], "azure-native:privatedns:VirtualNetworkLink", "postgres-dns-link")
    assert link in server.dependencies


def test_prod_database_is_zone_redundant_and_geo_backed_up(plans: dict[str, offline.Plan]):
    prod = plans["prod"].get(SERVER, "postgres").inputs
    staging = plans["staging"].get(SERVER, "postgres").inputs
    assert (prod["highAvailability"]["mode"], prod["backup"]["geoRedundantBackup"]) == ("ZoneRedundant", "Enabled")
    assert (staging["highAvailability"]["mode"], staging["backup"]["geoRedundantBackup"]) == ("Disabled", "Disabled")


@pytest.mark.parametrize("stack", STACKS)
def test_server_parameters_are_applied_one_after_another(plans: dict[str, offline.Plan], stack: str):
    plan = plans[stack]
    parameters = plan.by_type("azure-native:dbforpostgresql:Configuration")
    assert {p.inputs["configurationName"]: p.inputs["value"] for p in parameters} == database.SERVER_PARAMETERS
    assert database.SERVER_PARAMETERS["require_secure_transport"] == "on"
    chain = [urn(plan, "azure-native:dbforpostgresql:Database", "concourse-database")] + [p.urn for p in parameters]
    for before, parameter in zip(chain, parameters, strict=False):
        assert before in parameter.dependencies
    # No two changes ever run on the server at once: each parameter waits on every one before it.
    for i, parameter in enumerate(parameters):
        later = {p.urn for p in parameters[i + 1 :]}
        assert not later & set(parameter.dependencies)


@pytest.mark.parametrize("stack", STACKS)
def test_database_endpoint_is_typed_and_its_password_secret(plans: dict[str, offline.Plan], stack: str):
    plan = plans[stack]
    assert plan.get("azure-native:dbforpostgresql:Database", "concourse-database").inputs["databaseName"] == "concourse"
    out = plan.outputs
    assert out["db.host"] == f"psql-contoso-{stack}.postgres.database.azure.com"
    assert (out["db.port"], out["db.database"], out["db.user"]) == (5432, "concourse", "concourseadmin")
    assert out["db.password"] == offline.SECRET
    assert out["db.caBundle"] == database.ca_bundle()
    assert "offline-plan-password" not in str([r.inputs for r in plan.registrations]) + str(out)


def test_ca_bundle_holds_exactly_the_three_roots_azure_documents():
    context = ssl.create_default_context(cafile=str(database.CA_BUNDLE_FILE))
    certs: list[Any] = context.get_ca_certs()
    subjects = {dict(part[0] for part in cert["subject"])["commonName"] for cert in certs}
    assert subjects == {
        "DigiCert Global Root CA",
        "DigiCert Global Root G2",
        "Microsoft RSA Root Certificate Authority 2017",
    }
    assert all(cert["issuer"] == cert["subject"] for cert in certs)  # roots, no intermediates


# ---------------------------------------------------------------------------------------------------------------------
# Key Vault and the unseal identity


@pytest.mark.parametrize("stack", STACKS)
def test_key_vault_unseals_vault_through_a_federated_identity(plans: dict[str, offline.Plan], stack: str):
    plan = plans[stack]
    vault = plan.get("azure-native:keyvault:Vault", "key-vault")
    props = vault.inputs["properties"]
    # A random suffix per vault (offline: q7k2): a rebuilt stack never collides with its soft-deleted predecessor.
    assert vault.inputs["vaultName"] == f"kv-contoso-{stack}-q7k2"
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True
    key = plan.get("azure-native:keyvault:Key", "unseal-key")
    assert key.inputs["properties"]["kty"] == "RSA"
    assert key.inputs["properties"]["keyOps"] == ["wrapKey", "unwrapKey"]
    identity = plan.get("azure-native:managedidentity:UserAssignedIdentity", "vault-identity")
    federation = plan.get("azure-native:managedidentity:FederatedIdentityCredential", "vault-federation")
    assert federation.inputs["subject"] == (
        f"system:serviceaccount:{naming.NAMESPACES['secrets']}:{naming.VAULT_SERVICE_ACCOUNT}"
    )
    assert federation.inputs["issuer"] == plan.outputs["oidcIssuerUrl"]
    assert federation.inputs["audiences"] == ["api://AzureADTokenExchange"]
    assert federation.inputs["resourceName"] == f"id-contoso-{stack}-vault"
    role = plan.get(ROLE, "vault-crypto-user")
    assert role.inputs["roleDefinitionId"].endswith("/roleDefinitions/12338af0-0e69-4776-bea7-57ae8d297424")
    assert role.inputs["scope"] == "/offline/azure-native/keyvault/Vault/key-vault"
    assert role.inputs["principalId"] == identity.state["principalId"]
    assert role.inputs["principalType"] == "ServicePrincipal"
    out = plan.outputs
    assert out["hasUnseal"] is True
    assert (out["unseal.tenant"], out["unseal.vault"], out["unseal.key"]) == (
        offline.TENANT_ID,
        f"kv-contoso-{stack}-q7k2",
        "vault-unseal",
    )
    assert out["unseal.client"] == identity.state["clientId"]
    assert out["keyVaultName"] == f"kv-contoso-{stack}-q7k2"


def test_external_vault_gets_no_key_vault():
    cfg = stack_config("staging")
    cfg["cdstack:vault"] = {"mode": "external", "address": "https://vault.example.com"}
    plan = run("staging", cfg)
    assert not [r for r in plan.registrations if r.type.startswith("azure-native:keyvault")]
    # No Vault identity (unseal, backup); Elasticsearch's backup and PostgreSQL's metrics reader keep theirs.
    identities = {r.name for r in plan.registrations if r.type.startswith("azure-native:managedidentity")}
    assert not {name for name in identities if "vault" in name}
    assert plan.outputs["hasUnseal"] is False
    assert plan.outputs["keyVaultName"] is None


# ---------------------------------------------------------------------------------------------------------------------
# ChartMuseum storage


@pytest.mark.parametrize("stack", STACKS)
def test_chart_storage_is_private_with_a_secret_key(plans: dict[str, offline.Plan], stack: str):
    plan = plans[stack]
    account = plan.get("azure-native:storage:StorageAccount", "chart-storage").inputs
    assert account["accountName"] == f"stcontoso{stack}"
    assert account["allowSharedKeyAccess"] is True
    assert account["allowBlobPublicAccess"] is False
    assert account["minimumTlsVersion"] == "TLS1_2"
    container = plan.get("azure-native:storage:BlobContainer", "charts-container").inputs
    assert container["publicAccess"] == "None"
    assert (plan.outputs["blob.account"], plan.outputs["blob.container"]) == (f"stcontoso{stack}", "charts")
    assert plan.outputs["blob.key"] == offline.SECRET


# ---------------------------------------------------------------------------------------------------------------------
# Safety and outputs

STATEFUL = [
    (SERVER, "postgres"),
    ("azure-native:keyvault:Vault", "key-vault"),
    (CLUSTER, "aks"),
    ("azure-native:storage:StorageAccount", "chart-storage"),
    ("azure-native:storage:StorageAccount", "backup-storage"),
]


@pytest.mark.parametrize(("type_", "name"), STATEFUL)
def test_stateful_resources_are_protected_in_prod_only(plans: dict[str, offline.Plan], type_: str, name: str):
    assert plans["prod"].get(type_, name).protect is True
    assert plans["staging"].get(type_, name).protect is False


@pytest.mark.parametrize("stack", STACKS)
def test_no_other_azure_resource_is_protected(plans: dict[str, offline.Plan], stack: str):
    azure = [r for r in plans[stack].registrations if r.type.startswith(("azure-native:", "azuread:"))]
    protected = {(r.type, r.name) for r in azure if r.protect}
    assert protected == (set(STATEFUL) if stack == "prod" else set())


@pytest.mark.parametrize("stack", STACKS)
def test_stack_outputs_name_the_azure_resources(plans: dict[str, offline.Plan], stack: str):
    out = plans[stack].outputs
    assert out["clusterName"] == f"aks-contoso-{stack}"
    assert out["databaseServerName"] == f"psql-contoso-{stack}"
    assert out["databaseHost"] == f"psql-contoso-{stack}.postgres.database.azure.com"
    assert out["keyVaultName"] == f"kv-contoso-{stack}-q7k2"
    assert out["ingressIp"] == "20.31.0.10"
    assert out["resourceGroupName"] == f"rg-contoso-{stack}"
