"""AKS under the mock engine, for both stacks: the cluster and its pools follow the configuration, the
maintenance windows, the cloud provider's role, and the Kubernetes provider's non-interactive kubeconfig."""

from __future__ import annotations

import pytest

from components import naming
from components.azure import cluster
from components.azure.cluster import active_schedules
from components.azure.kubeconfig import non_interactive
from tests.azure_plans import CLUSTER, POOL, ROLE, STACKS, plain, run, settings, urn
from tests.conftest import stack_config
from tools import offline


@pytest.mark.parametrize("stack", STACKS)
def test_cluster_follows_the_configuration(azure_plans: dict[str, offline.Plan], stack: str):
    cfg = settings(stack)
    aks = azure_plans[stack].get(CLUSTER, "aks").inputs
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
    profile = aks["securityProfile"]
    assert profile["workloadIdentity"] == {"enabled": True}
    assert profile["imageCleaner"] == {"enabled": True, "intervalHours": cfg.cluster.image_cleaner.interval_hours}
    assert profile["defender"]["securityMonitoring"] == {"enabled": True}
    assert aks["nodeResourceGroupProfile"] == {"restrictionLevel": "ReadOnly"}
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


def test_production_turns_on_the_paid_tier_and_turns_off_local_accounts(azure_plans: dict[str, offline.Plan]):
    prod = azure_plans["prod"].get(CLUSTER, "aks").inputs
    staging = azure_plans["staging"].get(CLUSTER, "aks").inputs
    assert (prod["sku"]["tier"], prod["disableLocalAccounts"]) == ("Standard", True)
    assert (staging["sku"]["tier"], staging["disableLocalAccounts"]) == ("Free", False)


@pytest.mark.parametrize("stack", STACKS)
def test_worker_pool_is_reserved_for_concourse_and_left_to_the_autoscaler(
    azure_plans: dict[str, offline.Plan], stack: str
):
    cfg = settings(stack).cluster.worker_pool
    pool = azure_plans[stack].get(POOL, "worker-pool")
    key, value = naming.WORKER_POOL_LABEL
    assert pool.inputs["nodeLabels"] == {key: value}
    assert pool.inputs["nodeTaints"] == [naming.WORKER_POOL_TAINT]
    assert pool.inputs["mode"] == "User"
    assert pool.inputs["enableAutoScaling"] is True
    # Room for a new Concourse worker generation (workerReplicas) beside a full old one during an upgrade.
    surge = settings(stack).concourse.worker_replicas
    assert (pool.inputs["minCount"], pool.inputs["maxCount"]) == (cfg.min_count, cfg.max_count + surge)
    assert pool.inputs["osDiskSizeGB"] == cfg.os_disk_size_gb
    assert pool.inputs["vmSize"] == cfg.vm_size
    assert pool.inputs["resourceName"] == f"aks-contoso-{stack}"
    # The autoscaler's count never shows up as a diff on the next run.
    assert pool.ignore_changes == ["count"]
    assert urn(azure_plans[stack], CLUSTER, "aks") in pool.dependencies


@pytest.mark.parametrize("stack", STACKS)
def test_maintenance_windows_follow_the_configuration(azure_plans: dict[str, offline.Plan], stack: str):
    window = settings(stack).cluster.maintenance_window
    configs = azure_plans[stack].by_type("azure-native:containerservice:MaintenanceConfiguration")
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
    azure_plans: dict[str, offline.Plan], stack: str
):
    plan = azure_plans[stack]
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
def test_kubernetes_provider_has_a_secret_kubeconfig_from_the_cluster(azure_plans: dict[str, offline.Plan], stack: str):
    provider = azure_plans[stack].get("pulumi:providers:kubernetes", "aks")
    assert provider.inputs["kubeconfig"] == offline.SECRET
    assert urn(azure_plans[stack], CLUSTER, "aks") in provider.dependencies
    assert azure_plans[stack].outputs["oidcIssuerUrl"].startswith("https://westeurope.oic.prod-aks.azure.com/")


def test_kubernetes_provider_gets_the_non_interactive_rewrite_of_the_clusters_device_code_kubeconfig(
    azure_plans: dict[str, offline.Plan],
):
    assert "devicecode" in offline.FAKE_KUBECONFIG  # what AKS hands out for an Entra ID cluster
    provider = azure_plans["staging"].get("pulumi:providers:kubernetes", "aks")
    kubeconfig = provider.state["kubeconfig"]["value"]  # the engine's view, unmasked: the secret wraps it
    assert kubeconfig == non_interactive(offline.FAKE_KUBECONFIG)
    assert "devicecode" not in kubeconfig


# ---------------------------------------------------------------------------------------------------------------------
# The pure builders, without the mock engine


def test_network_profile_is_cilium_overlay_on_the_configured_ranges():
    cfg = settings("staging", network={"podCidr": "10.60.0.0/16", "serviceCidr": "10.61.0.0/16"})
    profile = plain(cluster.network_profile(cfg))
    assert (profile["network_plugin"], profile["network_plugin_mode"]) == ("azure", "overlay")
    assert (profile["network_dataplane"], profile["network_policy"]) == ("cilium", "cilium")
    assert (profile["pod_cidr"], profile["service_cidr"]) == ("10.60.0.0/16", "10.61.0.0/16")
    assert profile["dns_service_ip"] == cfg.network.dns_service_ip


def test_system_pool_is_fixed_size_on_the_aks_subnet_with_its_own_drain_timeout():
    cfg = settings("prod", cluster={"systemPool": {"count": 4, "drainTimeoutMinutes": 45}})
    pool = plain(cluster.system_pool(cfg, "/subnets/aks"))
    assert (pool["name"], pool["mode"], pool["count"]) == ("system", "System", 4)
    assert "enable_auto_scaling" not in pool and "node_taints" not in pool
    assert pool["vnet_subnet_id"] == "/subnets/aks"
    assert pool["availability_zones"] == ["1", "2", "3"]
    upgrade = cfg.cluster.system_pool.upgrade
    assert pool["upgrade_settings"] == {
        "drain_timeout_in_minutes": 45,
        "max_surge": upgrade.max_surge,
        "node_soak_duration_in_minutes": upgrade.node_soak_minutes,
        "undrainable_node_behavior": upgrade.undrainable_node_behavior,
    }


def test_worker_pool_is_reserved_for_workers_and_starts_at_its_minimum():
    cfg = settings("staging", cluster={"workerPool": {"minCount": 1, "maxCount": 7, "maxPods": 40}})
    pool = cluster.worker_pool(cfg, "/subnets/aks")
    key, value = naming.WORKER_POOL_LABEL
    assert (pool["agent_pool_name"], pool["mode"]) == ("workers", "User")
    assert pool["node_labels"] == {key: value}
    assert pool["node_taints"] == [naming.WORKER_POOL_TAINT]
    assert pool["enable_auto_scaling"] is True
    # maxCount 7 workers, plus 2 (workerReplicas) for a new worker generation beside them during an upgrade.
    assert (pool["min_count"], pool["count"], pool["max_count"], pool["max_pods"]) == (1, 1, 7 + 2, 40)
    assert pool["vnet_subnet_id"] == "/subnets/aks"


@pytest.mark.parametrize(("drain_seconds", "minutes"), [(600, 20), (3600, 70), (3601, 71)])
def test_worker_pool_drain_timeout_outlasts_a_workers_drain(drain_seconds: int, minutes: int):
    cfg = settings("staging", concourse={"workerDrainSeconds": drain_seconds})
    assert plain(cluster.worker_pool(cfg, "subnet")["upgrade_settings"])["drain_timeout_in_minutes"] == minutes


def test_entra_id_security_and_support_plan_profiles():
    cfg = settings("prod")
    assert cluster.aad_profile(cfg, "tenant") == {
        "managed": True,
        "enable_azure_rbac": True,
        "admin_group_object_ids": cfg.cluster.admin_group_object_ids,
        "tenant_id": "tenant",
    }
    assert cluster.security_profile(cfg, "/workspaces/log") == {
        "workload_identity": {"enabled": True},
        "image_cleaner": {"enabled": True, "interval_hours": 168},
        "defender": {
            "log_analytics_workspace_resource_id": "/workspaces/log",
            "security_monitoring": {"enabled": True},
        },
    }
    off = settings("staging", cluster={"imageCleaner": {"enabled": False, "intervalHours": 24}, "defender": False})
    assert cluster.security_profile(off, "/workspaces/log") == {
        "workload_identity": {"enabled": True},
        "image_cleaner": {"enabled": False, "interval_hours": 24},
    }
    assert cluster.support_plan(cfg) == "KubernetesOfficial"
    lts = settings("prod", cluster={"skuTier": "Premium", "longTermSupport": True})
    assert cluster.support_plan(lts) == "AKSLongTermSupport"


@pytest.mark.parametrize("stack", STACKS)
def test_managed_cluster_is_composed_of_the_profiles(stack: str):
    cfg = settings(stack)
    args = cluster.managed_cluster(cfg, "/subnets/aks", "tenant", "/workspaces/log")
    assert args["resource_name_"] == f"aks-contoso-{stack}"
    assert args["agent_pool_profiles"] == [cluster.system_pool(cfg, "/subnets/aks")]
    assert args["network_profile"] == cluster.network_profile(cfg)
    assert args["aad_profile"] == cluster.aad_profile(cfg, "tenant")
    assert args["security_profile"] == cluster.security_profile(cfg, "/workspaces/log")
    assert args["node_resource_group_profile"] == {"restriction_level": "ReadOnly"}
    assert args["sku"] == {"name": "Base", "tier": cfg.cluster.sku_tier}
    assert args["disable_local_accounts"] is (stack == "prod")
    assert args["api_server_access_profile"] == {"authorized_ip_ranges": cfg.cluster.api_authorized_ranges}
    assert args["identity"] == {"type": "SystemAssigned"}
    assert args["tags"]["cdstack-stack"] == stack


def test_maintenance_window_is_weekly_on_the_configured_slot():
    window = settings(
        "staging", cluster={"maintenanceWindow": {"dayOfWeek": "Tuesday", "startTime": "03:30", "durationHours": 5}}
    ).cluster.maintenance_window
    assert cluster.maintenance_window(window) == {
        "schedule": {"weekly": {"day_of_week": "Tuesday", "interval_weeks": 1}},
        "start_time": "03:30",
        "duration_hours": 5,
        "utc_offset": window.utc_offset,
    }


@pytest.mark.parametrize("stack", STACKS)
def test_both_pools_encrypt_at_host_on_the_configured_node_os(stack: str):
    cfg = settings(stack)
    for pool in (dict(cluster.system_pool(cfg, "s")), dict(cluster.worker_pool(cfg, "s"))):
        assert (pool["os_sku"], pool["enable_encryption_at_host"]) == ("Ubuntu", True)
    azure_linux = settings(stack, cluster={"osSku": "AzureLinux", "encryptionAtHost": False})
    for pool in (dict(cluster.system_pool(azure_linux, "s")), dict(cluster.worker_pool(azure_linux, "s"))):
        assert (pool["os_sku"], pool["enable_encryption_at_host"]) == ("AzureLinux", False)


def test_an_unrestricted_node_resource_group_is_the_operators_choice():
    cfg = settings("staging", cluster={"nodeResourceGroupRestriction": "Unrestricted"})
    args = cluster.managed_cluster(cfg, "s", "t")
    assert args["node_resource_group_profile"] == {"restriction_level": "Unrestricted"}


def test_the_audit_log_goes_to_the_workspace_which_keeps_it_for_the_retention():
    cfg = settings("prod", cluster={"auditLog": {"category": "kube-audit", "retentionDays": 365}})
    workspace = cluster.log_workspace(cfg)
    assert (workspace["workspace_name"], workspace["retention_in_days"]) == ("log-contoso-prod", 365)
    assert workspace["sku"] == {"name": "PerGB2018"}
    setting = cluster.audit_setting(cfg, "/clusters/aks", "/workspaces/log")
    assert (setting["resource_uri"], setting["workspace_id"]) == ("/clusters/aks", "/workspaces/log")
    assert setting["logs"] == [{"category": "kube-audit", "enabled": True}]
    assert setting["log_analytics_destination_type"] == "Dedicated"


def test_no_workspace_when_neither_defender_nor_the_audit_log_needs_one():
    assert cluster.needs_workspace(settings("staging"))
    assert cluster.needs_workspace(settings("staging", cluster={"defender": False}))
    assert not cluster.needs_workspace(settings("staging", cluster={"defender": False, "auditLog": {"enabled": False}}))


@pytest.mark.parametrize("stack", STACKS)
def test_defender_and_the_audit_setting_point_at_the_stacks_workspace(azure_plans: dict[str, offline.Plan], stack: str):
    plan = azure_plans[stack]
    workspace = plan.get("azure-native:operationalinsights:Workspace", "logs")
    setting = plan.get("azure-native:monitor:DiagnosticSetting", "kube-audit")
    aks = plan.get(CLUSTER, "aks")
    assert workspace.inputs["retentionInDays"] == settings(stack).cluster.audit_log.retention_days
    assert aks.property_dependencies["securityProfile"] == [workspace.urn]
    assert setting.property_dependencies["workspaceId"] == [workspace.urn]
    assert setting.property_dependencies["resourceUri"] == [aks.urn]
    assert setting.inputs["logs"] == [{"category": "kube-audit-admin", "enabled": True}]


def test_pools_boot_from_the_configured_os_disk_type():
    cfg = settings("prod", cluster={"workerPool": {"osDiskType": "Managed"}})
    assert dict(cluster.system_pool(cfg, "s"))["os_disk_type"] == "Ephemeral"
    assert cluster.worker_pool(cfg, "s")["os_disk_type"] == "Managed"


def test_etcd_kms_encrypts_secrets_with_a_key_the_control_plane_identity_may_use():
    """cluster.etcdKms: the cluster runs as a user-assigned identity that holds Key Vault Crypto User on a vault of
    its own before the cluster exists, and names the key with its version, the vault public (AKS's KMS rules)."""
    raw = stack_config("prod")
    raw["cdstack:cluster"] = {**raw["cdstack:cluster"], "etcdKms": True}
    plan = run("prod", raw)
    aks = plan.get(CLUSTER, "aks")
    vault = plan.get("azure-native:keyvault:Vault", "etcd-kms-vault")
    key = plan.get("azure-native:keyvault:Key", "etcd-kms-key")
    identity = plan.get("azure-native:managedidentity:UserAssignedIdentity", "control-plane-identity")
    role = plan.get(ROLE, "control-plane-crypto-user")
    kms = aks.inputs["securityProfile"]["azureKeyVaultKms"]
    assert kms["enabled"] is True and kms["keyVaultNetworkAccess"] == "Public"
    assert key.urn in aks.property_dependencies["securityProfile"]
    assert aks.inputs["identity"]["type"] == "UserAssigned"
    assert aks.property_dependencies["identity"] == [identity.urn]
    assert role.urn in aks.dependencies  # AKS checks the key when it creates the cluster
    assert role.inputs["roleDefinitionId"].endswith("/roleDefinitions/12338af0-0e69-4776-bea7-57ae8d297424")
    assert role.property_dependencies["scope"] == [vault.urn]
    assert role.property_dependencies["principalId"] == [identity.urn]
    assert vault.inputs["properties"]["enablePurgeProtection"] is True
    assert key.inputs["properties"]["keyOps"] == ["encrypt", "decrypt"]
    # The cloud provider runs as the cluster's identity, now the user-assigned one.
    assert plan.get(ROLE, "cluster-network-contributor").property_dependencies["principalId"] == [identity.urn]


@pytest.mark.parametrize("stack", STACKS)
def test_without_etcd_kms_the_cluster_keeps_its_system_assigned_identity(
    azure_plans: dict[str, offline.Plan], stack: str
):
    aks = azure_plans[stack].get(CLUSTER, "aks")
    assert aks.inputs["identity"] == {"type": "SystemAssigned"}
    assert "azureKeyVaultKms" not in aks.inputs["securityProfile"]
