"""The AKS cluster: a stable system pool, an autoscaling pool reserved for Concourse workers, Entra ID with Azure
RBAC, workload identity, planned maintenance, and the Kubernetes provider the rest of the graph deploys through.

The pure builders return the SDK's arguments as plain dicts (its `...ArgsDict` types, and TypedDicts of a resource's
keyword arguments that pyright checks against the resource's signature where `Cluster` unpacks them), from the
configuration and the outputs that land inside them (a subnet id, the tenant); `Cluster` wires the rest (resource
group, the cluster's name) and the options."""

from __future__ import annotations

import base64
from typing import TypedDict

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import authorization, containerservice, monitor, operationalinsights

from components import naming, upgrades
from components.azure.etcd_kms import EtcdKms, etcd_kms
from components.azure.key_vault_shape import KEY_VAULT_CRYPTO_USER
from components.azure.kubeconfig import non_interactive
from components.azure.network import Network
from components.concourse import limits as concourse_limits
from components.config.schema import MaintenanceWindowConfig, StackConfig
from components.tags import common_tags

NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834ab3a3e"
"""Built-in role id: lets the cluster's cloud provider attach the ingress IP and manage load balancer rules."""

SYSTEM_POOL = "system"
WORKER_POOL = "workers"

# The AKS-managed schedules (their names are fixed by AKS): one for Kubernetes upgrades, one for node OS images.
UPGRADE_SCHEDULES = {
    "aksManagedAutoUpgradeSchedule": "upgrade-window",
    "aksManagedNodeOSUpgradeSchedule": "node-os-window",
}


def role_definition_id(subscription_id: str, role: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"


def maintenance_window(window: MaintenanceWindowConfig) -> containerservice.MaintenanceWindowArgsDict:
    """Weekly, on the configured day, start time and UTC offset, for the configured number of hours."""
    return {
        "schedule": {"weekly": {"day_of_week": window.day_of_week, "interval_weeks": 1}},
        "start_time": window.start_time,
        "duration_hours": window.duration_hours,
        "utc_offset": window.utc_offset,
    }


def active_schedules(cfg: StackConfig) -> list[str]:
    """The AKS-managed schedules that govern something: a channel set to none/Unmanaged has nothing to schedule."""
    schedules = []
    if cfg.cluster.upgrade_channel != "none":
        schedules.append("aksManagedAutoUpgradeSchedule")
    if cfg.cluster.node_os_upgrade_channel not in ("None", "Unmanaged"):
        schedules.append("aksManagedNodeOSUpgradeSchedule")
    return schedules


def network_profile(cfg: StackConfig) -> containerservice.ContainerServiceNetworkProfileArgsDict:
    """Azure CNI overlay: pods get addresses outside the VNet, nodes only use the AKS subnet. Cilium is both dataplane
    and network policy engine (Azure's own policy manager is on its way out)."""
    return {
        "network_plugin": "azure",
        "network_plugin_mode": "overlay",
        "network_dataplane": "cilium",
        "network_policy": "cilium",
        "load_balancer_sku": "standard",
        "outbound_type": "loadBalancer",
        "pod_cidr": cfg.network.pod_cidr,
        "service_cidr": cfg.network.service_cidr,
        "dns_service_ip": cfg.network.dns_service_ip,
    }


class NodeOsArgs(TypedDict):
    """What both pools' nodes run on: the OS image and where their disks are encrypted."""

    os_sku: str
    enable_encryption_at_host: bool


def node_os(cfg: StackConfig) -> NodeOsArgs:
    """The configured node OS, and encryption at host: the OS and temporary disks and their caches are encrypted
    on the VM host, so nothing a node writes leaves the host in clear."""
    return {"os_sku": cfg.cluster.os_sku, "enable_encryption_at_host": cfg.cluster.encryption_at_host}


def system_pool(
    cfg: StackConfig, subnet_id: pulumi.Input[str]
) -> containerservice.ManagedClusterAgentPoolProfileArgsDict:
    """The cluster's inline pool: fixed size (no autoscaling), for the system pods and the stack's services."""
    pool = cfg.cluster.system_pool
    return {
        "name": SYSTEM_POOL,
        "mode": "System",
        "os_type": "Linux",
        "type": "VirtualMachineScaleSets",
        "vm_size": pool.vm_size,
        "count": pool.count,
        "os_disk_size_gb": pool.os_disk_size_gb,
        "os_disk_type": pool.os_disk_type,
        **node_os(cfg),
        "availability_zones": list(pool.zones),
        "vnet_subnet_id": subnet_id,
        "upgrade_settings": upgrades.upgrade_settings(cfg, "system"),
    }


class WorkerPoolArgs(TypedDict):
    """The worker pool's AgentPool keyword arguments that come from the configuration."""

    agent_pool_name: str
    mode: str
    os_type: str
    type: str
    vm_size: str
    os_disk_size_gb: int
    os_disk_type: str
    os_sku: str
    enable_encryption_at_host: bool
    max_pods: int
    availability_zones: list[str]
    vnet_subnet_id: pulumi.Input[str]
    enable_auto_scaling: bool
    min_count: int
    max_count: int
    count: int
    node_labels: dict[str, str]
    node_taints: list[str]
    upgrade_settings: containerservice.AgentPoolUpgradeSettingsArgsDict
    tags: dict[str, str]


def worker_pool(cfg: StackConfig, subnet_id: pulumi.Input[str]) -> WorkerPoolArgs:
    """The pool reserved for Concourse workers (label and taint), scaled by the cluster autoscaler between min and max,
    starting at min. A worker's drain waits for its running builds: the drain timeout follows workerDrainSeconds."""
    pool = cfg.cluster.worker_pool
    label_key, label_value = naming.WORKER_POOL_LABEL
    return {
        "agent_pool_name": WORKER_POOL,
        "mode": "User",
        "os_type": "Linux",
        "type": "VirtualMachineScaleSets",
        "vm_size": pool.vm_size,
        "os_disk_size_gb": pool.os_disk_size_gb,
        "os_disk_type": pool.os_disk_type,
        **node_os(cfg),
        "max_pods": pool.max_pods,
        "availability_zones": list(pool.zones),
        "vnet_subnet_id": subnet_id,
        "enable_auto_scaling": True,
        "min_count": pool.min_count,
        # Room for a new worker generation beside a full old one during an upgrade (concourse_limits).
        "max_count": concourse_limits.worker_pool_max_nodes(cfg),
        "count": pool.min_count,
        "node_labels": {label_key: label_value},
        "node_taints": [naming.WORKER_POOL_TAINT],
        "upgrade_settings": upgrades.upgrade_settings(cfg, "workers"),
        "tags": common_tags(cfg),
    }


def aad_profile(cfg: StackConfig, tenant_id: pulumi.Input[str]) -> containerservice.ManagedClusterAADProfileArgsDict:
    """Entra ID login with Azure RBAC for Kubernetes authorization; the admin groups are cluster admins."""
    return {
        "managed": True,
        "enable_azure_rbac": True,
        "admin_group_object_ids": list(cfg.cluster.admin_group_object_ids),
        "tenant_id": tenant_id,
    }


def needs_workspace(cfg: StackConfig) -> bool:
    """The Log Analytics workspace exists for Defender and the audit log; with both off there is nothing to keep."""
    return cfg.cluster.defender or cfg.cluster.audit_log.enabled


class WorkspaceArgs(TypedDict):
    """The Log Analytics workspace's keyword arguments."""

    workspace_name: str
    location: str
    sku: operationalinsights.WorkspaceSkuArgsDict
    retention_in_days: int
    tags: dict[str, str]


def log_workspace(cfg: StackConfig) -> WorkspaceArgs:
    """Pay-as-you-go (PerGB2018) workspace keeping the audit log and Defender's data for auditLog.retentionDays."""
    return {
        "workspace_name": cfg.naming.log_workspace(),
        "location": cfg.location,
        "sku": {"name": operationalinsights.WorkspaceSkuNameEnum.PER_GB2018},
        "retention_in_days": cfg.cluster.audit_log.retention_days,
        "tags": common_tags(cfg),
    }


AUDIT_SETTING = "kube-audit-to-log-analytics"


class AuditSettingArgs(TypedDict):
    """The cluster's diagnostic setting's keyword arguments."""

    name: str
    resource_uri: pulumi.Input[str]
    workspace_id: pulumi.Input[str]
    log_analytics_destination_type: str
    logs: list[monitor.DiagnosticsLogSettingsArgsDict]


def audit_setting(cfg: StackConfig, cluster_id: pulumi.Input[str], workspace_id: pulumi.Input[str]) -> AuditSettingArgs:
    """The API server's audit log (auditLog.category) into the workspace, in resource-specific tables (AKSAudit,
    AKSAuditAdmin) rather than the shared AzureDiagnostics table. Retention is the workspace's."""
    return {
        "name": AUDIT_SETTING,
        "resource_uri": cluster_id,
        "workspace_id": workspace_id,
        "log_analytics_destination_type": "Dedicated",
        "logs": [{"category": cfg.cluster.audit_log.category, "enabled": True}],
    }


def security_profile(
    cfg: StackConfig,
    workspace_id: pulumi.Input[str] | None,
    kms: containerservice.AzureKeyVaultKmsArgsDict | None = None,
) -> containerservice.ManagedClusterSecurityProfileArgsDict:
    """Workload identity: pods (Vault, the backup jobs) log in to Azure as user-assigned identities. Image Cleaner
    removes the images no pod uses any more (and the vulnerable ones) every intervalHours. Defender's sensor reports
    to the stack's workspace. With etcdKms, secrets in etcd are encrypted with the Key Vault key `kms` names."""
    cleaner = cfg.cluster.image_cleaner
    profile: containerservice.ManagedClusterSecurityProfileArgsDict = {
        "workload_identity": {"enabled": True},
        "image_cleaner": {"enabled": cleaner.enabled, "interval_hours": cleaner.interval_hours},
    }
    if cfg.cluster.defender and workspace_id is not None:
        profile["defender"] = {
            "log_analytics_workspace_resource_id": workspace_id,
            "security_monitoring": {"enabled": True},
        }
    if kms is not None:
        profile["azure_key_vault_kms"] = kms
    return profile


def support_plan(cfg: StackConfig) -> containerservice.KubernetesSupportPlan:
    if cfg.cluster.long_term_support:
        return containerservice.KubernetesSupportPlan.AKS_LONG_TERM_SUPPORT
    return containerservice.KubernetesSupportPlan.KUBERNETES_OFFICIAL


class ManagedClusterArgs(TypedDict):
    """The ManagedCluster's keyword arguments."""

    resource_name_: str
    location: str
    dns_prefix: str
    kubernetes_version: str
    sku: containerservice.ManagedClusterSKUArgsDict
    support_plan: containerservice.KubernetesSupportPlan
    identity: containerservice.ManagedClusterIdentityArgsDict
    agent_pool_profiles: list[containerservice.ManagedClusterAgentPoolProfileArgsDict]
    enable_rbac: bool
    aad_profile: containerservice.ManagedClusterAADProfileArgsDict
    disable_local_accounts: bool
    oidc_issuer_profile: containerservice.ManagedClusterOIDCIssuerProfileArgsDict
    security_profile: containerservice.ManagedClusterSecurityProfileArgsDict
    node_resource_group_profile: containerservice.ManagedClusterNodeResourceGroupProfileArgsDict
    network_profile: containerservice.ContainerServiceNetworkProfileArgsDict
    api_server_access_profile: containerservice.ManagedClusterAPIServerAccessProfileArgsDict
    auto_upgrade_profile: containerservice.ManagedClusterAutoUpgradeProfileArgsDict
    tags: dict[str, str]


def managed_cluster(
    cfg: StackConfig,
    subnet_id: pulumi.Input[str],
    tenant_id: pulumi.Input[str],
    workspace_id: pulumi.Input[str] | None = None,
    kms: EtcdKms | None = None,
) -> ManagedClusterArgs:
    """The cluster: the configured tier, version and channels, a system-assigned identity (the cloud provider's;
    with etcdKms the user-assigned one that holds the key's role), the OIDC issuer for workload identity, and the API
    server open only to the authorized ranges."""
    c = cfg.cluster
    identity: containerservice.ManagedClusterIdentityArgsDict = (
        kms.identity if kms else {"type": containerservice.ResourceIdentityType.SYSTEM_ASSIGNED}
    )
    return {
        "resource_name_": cfg.naming.cluster(),
        "location": cfg.location,
        "dns_prefix": cfg.naming.dns_prefix(),
        "kubernetes_version": c.kubernetes_version,
        "sku": {"name": "Base", "tier": c.sku_tier},
        "support_plan": support_plan(cfg),
        "identity": identity,
        "agent_pool_profiles": [system_pool(cfg, subnet_id)],
        "enable_rbac": True,
        "aad_profile": aad_profile(cfg, tenant_id),
        "disable_local_accounts": c.disable_local_accounts,
        "oidc_issuer_profile": {"enabled": True},
        "security_profile": security_profile(cfg, workspace_id, kms.profile if kms else None),
        # ReadOnly: only AKS changes the node resource group; a hand-made change to a node's VM, disk or the load
        # balancer there would be undone or break the next upgrade.
        "node_resource_group_profile": {"restriction_level": c.node_resource_group_restriction},
        "network_profile": network_profile(cfg),
        "api_server_access_profile": {"authorized_ip_ranges": list(c.api_authorized_ranges)},
        "auto_upgrade_profile": {
            "upgrade_channel": c.upgrade_channel,
            "node_os_upgrade_channel": c.node_os_upgrade_channel,
        },
        "tags": common_tags(cfg),
    }


class Cluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]
    k8s_provider: k8s.Provider

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        net: Network,
        client: pulumi.Output[authorization.GetClientConfigResult],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:azure:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        group = net.resource_group_name

        workspace = (
            operationalinsights.Workspace("logs", resource_group_name=group, **log_workspace(cfg), opts=child)
            if needs_workspace(cfg)
            else None
        )
        kms = (
            etcd_kms(
                cfg,
                group,
                client.tenant_id,
                client.subscription_id.apply(lambda s: role_definition_id(s, KEY_VAULT_CRYPTO_USER)),
                self,
            )
            if cfg.cluster.etcd_kms
            else None
        )
        cluster = containerservice.ManagedCluster(
            "aks",
            resource_group_name=group,
            **managed_cluster(cfg, net.aks_subnet_id, client.tenant_id, workspace.id if workspace else None, kms),
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.production, depends_on=[kms.role] if kms else None),
        )
        if workspace and cfg.cluster.audit_log.enabled:
            monitor.DiagnosticSetting("kube-audit", **audit_setting(cfg, cluster.id, workspace.id), opts=child)
        self.worker_pool = containerservice.AgentPool(
            "worker-pool",
            resource_name_=cluster.name,
            resource_group_name=group,
            **worker_pool(cfg, net.aks_subnet_id),
            # The cluster autoscaler owns the node count between min and max; writing it back would fight it.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["count"]),
        )
        for config_name in active_schedules(cfg):
            containerservice.MaintenanceConfiguration(
                UPGRADE_SCHEDULES[config_name],
                config_name=config_name,
                resource_name_=cluster.name,
                resource_group_name=group,
                maintenance_window=maintenance_window(cfg.cluster.maintenance_window),
                opts=child,
            )

        # The cloud provider runs as the cluster's identity: it must attach the static ingress IP (in the stack's
        # resource group) to the load balancer and manage rules on the AKS subnet (also there).
        identity = kms.principal_id if kms else cluster.identity.apply(lambda i: i.principal_id if i else "")
        network_contributor = authorization.RoleAssignment(
            "cluster-network-contributor",
            principal_id=identity,
            principal_type="ServicePrincipal",
            role_definition_id=client.subscription_id.apply(lambda s: role_definition_id(s, NETWORK_CONTRIBUTOR)),
            scope=net.resource_group_id,
            opts=child,
        )

        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=group, resource_name=cluster.name, format="exec"
        )
        kubeconfig = credentials.kubeconfigs.apply(lambda k: non_interactive(base64.b64decode(k[0].value).decode()))
        # Only the ingress controller's LoadBalancer Service needs the role (an ingress Service created before it
        # exists leaves its load balancer failing to attach the static IP until the cloud provider's next retry):
        # the platform hands the role to the ingress through its address, and every other Kubernetes resource
        # starts as soon as the cluster answers.
        self.network_contributor = network_contributor
        self.k8s_provider = k8s.Provider("aks", kubeconfig=pulumi.Output.secret(kubeconfig), opts=child)

        self.cluster_name = cluster.name
        self.oidc_issuer_url = cluster.oidc_issuer_profile.apply(lambda p: (p.issuer_url if p else None) or "")
        self.register_outputs({"clusterName": self.cluster_name, "oidcIssuerUrl": self.oidc_issuer_url})
