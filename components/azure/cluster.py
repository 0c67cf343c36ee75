"""The AKS cluster: a stable system pool, an autoscaling pool reserved for Concourse workers, Entra ID with Azure
RBAC, workload identity, planned maintenance, and the Kubernetes provider the rest of the graph deploys through."""

from __future__ import annotations

import base64

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import authorization, containerservice

from components import naming, upgrades
from components.azure.kubeconfig import non_interactive
from components.azure.network import Network
from components.config import MaintenanceWindowConfig, StackConfig
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


def maintenance_window(window: MaintenanceWindowConfig) -> containerservice.MaintenanceWindowArgs:
    """Weekly, on the configured day, start time and UTC offset, for the configured number of hours."""
    return containerservice.MaintenanceWindowArgs(
        schedule=containerservice.ScheduleArgs(
            weekly=containerservice.WeeklyScheduleArgs(day_of_week=window.day_of_week, interval_weeks=1)
        ),
        start_time=window.start_time,
        duration_hours=window.duration_hours,
        utc_offset=window.utc_offset,
    )


def active_schedules(cfg: StackConfig) -> list[str]:
    """The AKS-managed schedules that govern something: a channel set to none/Unmanaged has nothing to schedule."""
    schedules = []
    if cfg.cluster.upgrade_channel != "none":
        schedules.append("aksManagedAutoUpgradeSchedule")
    if cfg.cluster.node_os_upgrade_channel not in ("None", "Unmanaged"):
        schedules.append("aksManagedNodeOSUpgradeSchedule")
    return schedules


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
        c = cfg.cluster
        tags = common_tags(cfg)
        child = pulumi.ResourceOptions(parent=self)

        cluster = containerservice.ManagedCluster(
            "aks",
            resource_name_=cfg.naming.cluster(),
            resource_group_name=net.resource_group_name,
            location=cfg.location,
            dns_prefix=cfg.naming.dns_prefix(),
            kubernetes_version=c.kubernetes_version,
            sku=containerservice.ManagedClusterSKUArgs(name="Base", tier=c.sku_tier),
            support_plan=(
                containerservice.KubernetesSupportPlan.AKS_LONG_TERM_SUPPORT
                if c.long_term_support
                else containerservice.KubernetesSupportPlan.KUBERNETES_OFFICIAL
            ),
            identity=containerservice.ManagedClusterIdentityArgs(
                type=containerservice.ResourceIdentityType.SYSTEM_ASSIGNED
            ),
            agent_pool_profiles=[
                containerservice.ManagedClusterAgentPoolProfileArgs(
                    name=SYSTEM_POOL,
                    mode="System",
                    os_type="Linux",
                    type="VirtualMachineScaleSets",
                    vm_size=c.system_pool.vm_size,
                    count=c.system_pool.count,
                    os_disk_size_gb=c.system_pool.os_disk_size_gb,
                    availability_zones=list(c.system_pool.zones),
                    vnet_subnet_id=net.aks_subnet_id,
                    upgrade_settings=containerservice.AgentPoolUpgradeSettingsArgs(
                        **upgrades.upgrade_settings(cfg, "system")
                    ),
                )
            ],
            enable_rbac=True,
            aad_profile=containerservice.ManagedClusterAADProfileArgs(
                managed=True,
                enable_azure_rbac=True,
                admin_group_object_ids=list(c.admin_group_object_ids),
                tenant_id=client.tenant_id,
            ),
            disable_local_accounts=c.disable_local_accounts,
            oidc_issuer_profile=containerservice.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=containerservice.ManagedClusterSecurityProfileArgs(
                workload_identity=containerservice.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True)
            ),
            # Azure CNI overlay: pods get addresses outside the VNet, nodes only use the AKS subnet. Cilium is both
            # dataplane and network policy engine (Azure's own policy manager is on its way out).
            network_profile=containerservice.ContainerServiceNetworkProfileArgs(
                network_plugin="azure",
                network_plugin_mode="overlay",
                network_dataplane="cilium",
                network_policy="cilium",
                load_balancer_sku="standard",
                outbound_type="loadBalancer",
                pod_cidr=cfg.network.pod_cidr,
                service_cidr=cfg.network.service_cidr,
                dns_service_ip=cfg.network.dns_service_ip,
            ),
            api_server_access_profile=containerservice.ManagedClusterAPIServerAccessProfileArgs(
                authorized_ip_ranges=list(c.api_authorized_ranges)
            ),
            auto_upgrade_profile=containerservice.ManagedClusterAutoUpgradeProfileArgs(
                upgrade_channel=c.upgrade_channel, node_os_upgrade_channel=c.node_os_upgrade_channel
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.production),
        )

        label_key, label_value = naming.WORKER_POOL_LABEL
        pool = c.worker_pool
        self.worker_pool = containerservice.AgentPool(
            "worker-pool",
            agent_pool_name=WORKER_POOL,
            resource_name_=cluster.name,
            resource_group_name=net.resource_group_name,
            mode="User",
            os_type="Linux",
            type="VirtualMachineScaleSets",
            vm_size=pool.vm_size,
            os_disk_size_gb=pool.os_disk_size_gb,
            max_pods=pool.max_pods,
            availability_zones=list(pool.zones),
            vnet_subnet_id=net.aks_subnet_id,
            enable_auto_scaling=True,
            min_count=pool.min_count,
            max_count=pool.max_count,
            count=pool.min_count,
            node_labels={label_key: label_value},
            node_taints=[naming.WORKER_POOL_TAINT],
            # A worker's drain waits for its running builds: the pool's drain timeout follows workerDrainSeconds.
            upgrade_settings=containerservice.AgentPoolUpgradeSettingsArgs(**upgrades.upgrade_settings(cfg, "workers")),
            tags=tags,
            # The cluster autoscaler owns the node count between min and max; writing it back would fight it.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["count"]),
        )

        for config_name in active_schedules(cfg):
            containerservice.MaintenanceConfiguration(
                UPGRADE_SCHEDULES[config_name],
                config_name=config_name,
                resource_name_=cluster.name,
                resource_group_name=net.resource_group_name,
                maintenance_window=maintenance_window(c.maintenance_window),
                opts=child,
            )

        # The cloud provider runs as the cluster's identity: it must attach the static ingress IP (in the stack's
        # resource group) to the load balancer and manage rules on the AKS subnet (also there).
        identity = cluster.identity.apply(lambda i: i.principal_id if i else "")
        network_contributor = authorization.RoleAssignment(
            "cluster-network-contributor",
            principal_id=identity,
            principal_type="ServicePrincipal",
            role_definition_id=client.subscription_id.apply(lambda s: role_definition_id(s, NETWORK_CONTRIBUTOR)),
            scope=net.resource_group_id,
            opts=child,
        )

        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=net.resource_group_name, resource_name=cluster.name, format="exec"
        )
        kubeconfig = credentials.kubeconfigs.apply(lambda k: non_interactive(base64.b64decode(k[0].value).decode()))
        self.k8s_provider = k8s.Provider(
            "aks",
            kubeconfig=pulumi.Output.secret(kubeconfig),
            # Every Kubernetes resource waits for the role: an ingress Service created before it exists leaves its
            # load balancer failing to attach the static IP until the cloud provider's next retry.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[network_contributor]),
        )

        self.cluster_name = cluster.name
        self.oidc_issuer_url = cluster.oidc_issuer_profile.apply(lambda p: (p.issuer_url if p else None) or "")
        self.register_outputs({"clusterName": self.cluster_name, "oidcIssuerUrl": self.oidc_issuer_url})
