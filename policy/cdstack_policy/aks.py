"""AKS: who may log in, how workloads get Azure identities, how the cluster stays patched and supported, where its
nodes run and who can reach its API server. Inputs as azure-native's ManagedCluster, AgentPool and
MaintenanceConfiguration take them (camelCase, as the engine sees them)."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, StackValidationArgs

from .common import attached_to, get, items, known, resource_policy, schema, stack_policy

CLUSTER = "azure-native:containerservice:ManagedCluster"
AGENT_POOL = "azure-native:containerservice:AgentPool"
MAINTENANCE = "azure-native:containerservice:MaintenanceConfiguration"
DIAGNOSTIC_SETTING = "azure-native:monitor:DiagnosticSetting"
AUDIT_CATEGORIES = ("kube-audit", "kube-audit-admin")
"""The AKS resource log categories that carry the API server's audit events (kube-audit-admin leaves out reads)."""

CRITICAL_ADDONS_TAINT = "CriticalAddonsOnly=true:NoSchedule"
"""The taint AKS documents for a system pool that only system pods may use (Microsoft Learn, "Manage system node
pools in AKS")."""

# The AKS-managed maintenance configurations, by the channel each schedules (their names are fixed by AKS).
SCHEDULES = {
    "upgradeChannel": "aksManagedAutoUpgradeSchedule",
    "nodeOSUpgradeChannel": "aksManagedNodeOSUpgradeSchedule",
}
INACTIVE_CHANNELS = {"upgradeChannel": ("none",), "nodeOSUpgradeChannel": ("None", "Unmanaged")}


def check_entra_id(args: ResourceValidationArgs) -> Iterator[str]:
    props = args.props
    if get(props, "enableRBAC") is not True:
        yield "enableRBAC is not true: Kubernetes RBAC must be on."
    if get(props, "aadProfile.managed") is not True:
        yield "aadProfile.managed is not true: log in through Entra ID (managed AAD integration)."
    if get(props, "aadProfile.enableAzureRBAC") is not True:
        yield "aadProfile.enableAzureRBAC is not true: authorise Kubernetes actions with Azure RBAC role assignments."


def check_local_accounts(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "disableLocalAccounts") is not True:
        yield "disableLocalAccounts is not true: the static cluster-admin kubeconfig bypasses Entra ID and its audit."


def check_image_cleaner(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "securityProfile.imageCleaner.enabled") is not True:
        yield "securityProfile.imageCleaner.enabled is not true: unused and vulnerable images stay on the nodes."


def check_defender(args: ResourceValidationArgs) -> Iterator[str]:
    defender = get(args.props, "securityProfile.defender") or {}
    if get(defender, "securityMonitoring.enabled") is not True:
        yield "securityProfile.defender.securityMonitoring.enabled is not true: no runtime threat detection on nodes."
    elif not get(defender, "logAnalyticsWorkspaceResourceId"):
        yield "securityProfile.defender has no logAnalyticsWorkspaceResourceId: the sensor has nowhere to report."


def check_etcd_kms(args: ResourceValidationArgs) -> Iterator[str]:
    """AKS's KMS limits (learn.microsoft.com/azure/aks/use-kms-etcd-encryption): a user-assigned control plane
    identity (its key vault role must exist before the cluster), a versioned key id, and a private vault only with
    API Server VNet Integration (Konnectivity no longer reaches one)."""
    props = args.props
    if get(props, "securityProfile.azureKeyVaultKms.enabled") is not True:
        return
    if get(props, "identity.type") != "UserAssigned":
        yield "securityProfile.azureKeyVaultKms is on with a system-assigned identity: KMS needs a user-assigned one."
    key_id = known(props, "securityProfile.azureKeyVaultKms.keyId")
    if isinstance(key_id, str) and len(key_id.removeprefix("https://").split("/")) != 4:
        yield f"securityProfile.azureKeyVaultKms.keyId {key_id!r} is not https://<vault>/keys/<name>/<version>."
    private = get(props, "securityProfile.azureKeyVaultKms.keyVaultNetworkAccess") == "Private"
    if private and get(props, "apiServerAccessProfile.enableVnetIntegration") is not True:
        yield "a private KMS key vault needs apiServerAccessProfile.enableVnetIntegration (API Server VNet Integration)"


def check_audit_log(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    """Each cluster has a diagnostic setting that sends an audit category to a workspace or a storage account."""
    for cluster in (r for r in args.resources if r.resource_type == CLUSTER):
        settings = [
            r
            for r in args.resources
            if r.resource_type == DIAGNOSTIC_SETTING and attached_to(r, "resourceUri", cluster, ("id",))
        ]
        audited = any(
            get(log, "enabled") is True and get(log, "category") in AUDIT_CATEGORIES
            for setting in settings
            if get(setting.props, "workspaceId") or get(setting.props, "storageAccountId")
            for log in items(get(setting.props, "logs"))
        )
        if not audited:
            yield (
                "the API server's audit log goes nowhere: add a diagnostic setting on the cluster that enables "
                f"{' or '.join(AUDIT_CATEGORIES)} into a Log Analytics workspace or a storage account.",
                cluster.urn,
            )


def check_node_resource_group(args: ResourceValidationArgs) -> Iterator[str]:
    level = get(args.props, "nodeResourceGroupProfile.restrictionLevel")
    if level != "ReadOnly":
        yield (
            f"nodeResourceGroupProfile.restrictionLevel is {level!r}, not 'ReadOnly': anyone with rights on the node "
            "resource group can change the nodes behind AKS's back."
        )


def pools(args: ResourceValidationArgs) -> list[tuple[str, object]]:
    """The node pools a resource defines, by name: a cluster's inline profiles, or the AgentPool itself."""
    if args.resource_type == CLUSTER:
        return [(str(get(p, "name")), p) for p in items(get(args.props, "agentPoolProfiles"))]
    return [(str(get(args.props, "agentPoolName") or args.name), args.props)]


def check_encryption_at_host(args: ResourceValidationArgs) -> Iterator[str]:
    for name, pool in pools(args):
        if get(pool, "enableEncryptionAtHost") is not True:
            yield f"node pool {name!r} has enableEncryptionAtHost off: its OS and temporary disks are not encrypted."


def check_ephemeral_os_disk(args: ResourceValidationArgs) -> Iterator[str]:
    for name, pool in pools(args):
        if get(pool, "osDiskType") != "Ephemeral":
            yield f"node pool {name!r} has osDiskType {get(pool, 'osDiskType')!r}, not 'Ephemeral'."


def check_workload_identity(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "oidcIssuerProfile.enabled") is not True:
        yield "oidcIssuerProfile.enabled is not true: federated credentials need the cluster's OIDC issuer."
    if get(args.props, "securityProfile.workloadIdentity.enabled") is not True:
        yield "securityProfile.workloadIdentity.enabled is not true: pods cannot exchange tokens for Entra ID ones."


def check_upgrade_channels(args: ResourceValidationArgs) -> Iterator[str]:
    config = args.get_config()
    channel = get(args.props, "autoUpgradeProfile.upgradeChannel")
    if channel not in config["upgradeChannels"]:
        yield f"autoUpgradeProfile.upgradeChannel is {channel!r}; set one of {config['upgradeChannels']}."
    node_channel = get(args.props, "autoUpgradeProfile.nodeOSUpgradeChannel")
    if node_channel not in config["nodeOSUpgradeChannels"]:
        yield (
            f"autoUpgradeProfile.nodeOSUpgradeChannel is {node_channel!r}; set one of "
            f"{config['nodeOSUpgradeChannels']}."
        )


def kubernetes_minor(version: str) -> str:
    """The minor ("1.34") of "1.34", "1.34.2" or "v1.34.2"."""
    return ".".join(version.lstrip("v").split(".")[:2])


def check_kubernetes_version(args: ResourceValidationArgs) -> Iterator[str]:
    supported = args.get_config()["supportedMinors"]
    version = get(args.props, "kubernetesVersion")
    if not isinstance(version, str):
        yield f"kubernetesVersion is not set: pin a supported minor, one of {supported}."
    elif kubernetes_minor(version) not in supported:
        yield f"kubernetesVersion {version} is not a supported minor; use one of {supported}."


def check_system_pool_taint(args: ResourceValidationArgs) -> Iterator[str]:
    for pool in items(get(args.props, "agentPoolProfiles")):
        if get(pool, "mode") == "System" and CRITICAL_ADDONS_TAINT not in items(get(pool, "nodeTaints")):
            yield f"system pool {get(pool, 'name')!r} has no {CRITICAL_ADDONS_TAINT} taint: other pods may land on it."


def check_zones(args: ResourceValidationArgs) -> Iterator[str]:
    minimum = args.get_config()["minZones"]
    pools = items(get(args.props, "agentPoolProfiles")) if args.resource_type == CLUSTER else [args.props]
    for pool in pools:
        zones = items(get(pool, "availabilityZones"))
        if len(zones) < minimum:
            name = get(pool, "name") or get(pool, "agentPoolName") or args.name
            yield f"node pool {name!r} spans {len(zones)} availability zone(s); spread it over at least {minimum}."


def check_api_server_access(args: ResourceValidationArgs) -> Iterator[str]:
    if not args.get_config()["restricted"]:
        return
    access = get(args.props, "apiServerAccessProfile") or {}
    ranges = [str(r) for r in items(get(access, "authorizedIPRanges"))]
    if get(access, "enablePrivateCluster") is True:
        return
    if not ranges:
        yield (
            "the API server is public to the internet: set apiServerAccessProfile.authorizedIPRanges or make the "
            "cluster private."
        )
    for open_range in ("0.0.0.0/0", "::/0"):
        if open_range in ranges:
            yield f"apiServerAccessProfile.authorizedIPRanges contains {open_range}, which authorises everyone."


def check_maintenance_windows(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    """Each active upgrade channel of a cluster has its AKS-managed maintenance configuration with a window."""
    clusters = [r for r in args.resources if r.resource_type == CLUSTER]
    for cluster in clusters:
        windows = {}
        for r in args.resources:
            if r.resource_type != MAINTENANCE:
                continue
            if attached_to(r, "resourceName", cluster, ("resourceName", "name")):
                windows[known(r.props, "configName") or known(r.props, "name")] = get(r.props, "maintenanceWindow")
        for channel_key, schedule in SCHEDULES.items():
            channel = get(cluster.props, f"autoUpgradeProfile.{channel_key}")
            if channel is None or channel in INACTIVE_CHANNELS[channel_key]:
                continue
            if not windows.get(schedule):
                yield (
                    f"{channel_key} {channel!r} runs at any time: add the {schedule} maintenance configuration with "
                    "a maintenanceWindow.",
                    cluster.urn,
                )


POLICIES = [
    resource_policy(
        "aks-entra-id-azure-rbac",
        "AKS logs in through Entra ID and authorises with Azure RBAC: set enableRBAC, aadProfile.managed and "
        "aadProfile.enableAzureRBAC to true.",
        [CLUSTER],
        check_entra_id,
    ),
    resource_policy(
        "aks-local-accounts-disabled",
        "AKS has no local accounts: set disableLocalAccounts (cluster.disableLocalAccounts) to true.",
        [CLUSTER],
        check_local_accounts,
    ),
    resource_policy(
        "aks-image-cleaner",
        "AKS removes unused and vulnerable images from its nodes: set securityProfile.imageCleaner.enabled "
        "(cluster.imageCleaner.enabled) to true.",
        [CLUSTER],
        check_image_cleaner,
    ),
    resource_policy(
        "aks-node-resource-group-read-only",
        "Only AKS changes the node resource group: set nodeResourceGroupProfile.restrictionLevel "
        "(cluster.nodeResourceGroupRestriction) to ReadOnly.",
        [CLUSTER],
        check_node_resource_group,
    ),
    resource_policy(
        "aks-encryption-at-host",
        "Every AKS node pool encrypts its disks on the VM host: set enableEncryptionAtHost "
        "(cluster.encryptionAtHost) to true.",
        [CLUSTER, AGENT_POOL],
        check_encryption_at_host,
    ),
    resource_policy(
        "aks-defender",
        "Microsoft Defender for Containers watches the AKS nodes: set securityProfile.defender.securityMonitoring "
        "with a Log Analytics workspace (cluster.defender).",
        [CLUSTER],
        check_defender,
    ),
    resource_policy(
        "aks-etcd-kms",
        "Where etcd's secrets are encrypted with a Key Vault key (cluster.etcdKms), the cluster meets AKS's KMS "
        "limits: a user-assigned identity, a versioned key id, a private vault only with API Server VNet Integration.",
        [CLUSTER],
        check_etcd_kms,
    ),
    stack_policy(
        "aks-audit-log",
        "The AKS API server's audit log is kept: a diagnostic setting on the cluster sends kube-audit or "
        "kube-audit-admin to a Log Analytics workspace or a storage account (cluster.auditLog).",
        check_audit_log,
    ),
    resource_policy(
        "aks-ephemeral-os-disk",
        "AKS nodes boot from ephemeral OS disks (local, reimaged clean, no disk charge): set each pool's osDiskType "
        "(cluster.systemPool.osDiskType, cluster.workerPool.osDiskType) to Ephemeral.",
        [CLUSTER, AGENT_POOL],
        check_ephemeral_os_disk,
    ),
    resource_policy(
        "aks-workload-identity",
        "AKS issues OIDC tokens and exchanges them for Entra ID ones: enable oidcIssuerProfile and "
        "securityProfile.workloadIdentity.",
        [CLUSTER],
        check_workload_identity,
    ),
    resource_policy(
        "aks-upgrade-channels",
        "AKS patches itself: set autoUpgradeProfile.upgradeChannel and nodeOSUpgradeChannel "
        "(cluster.upgradeChannel, cluster.nodeOsUpgradeChannel) to an automatic channel.",
        [CLUSTER],
        check_upgrade_channels,
        config=schema(
            upgradeChannels={
                "type": "array",
                "items": {"type": "string"},
                "default": ["patch", "stable", "rapid", "node-image"],
                "description": "automatic Kubernetes upgrade channels allowed",
            },
            nodeOSUpgradeChannels={
                "type": "array",
                "items": {"type": "string"},
                "default": ["NodeImage", "SecurityPatch"],
                "description": "automatic node OS upgrade channels allowed",
            },
        ),
    ),
    stack_policy(
        "aks-maintenance-windows",
        "AKS upgrades only inside planned windows: every active upgrade channel needs its AKS-managed maintenance "
        "configuration (cluster.maintenanceWindow).",
        check_maintenance_windows,
    ),
    resource_policy(
        "aks-supported-kubernetes-version",
        "AKS runs a Kubernetes minor that AKS still supports: set cluster.kubernetesVersion to one of the minors in "
        "this stack's policy config (supportedMinors).",
        [CLUSTER],
        check_kubernetes_version,
        config=schema(
            supportedMinors={
                "type": "array",
                "items": {"type": "string", "pattern": "^[0-9]+\\.[0-9]+$"},
                "default": [],
                "description": "Kubernetes minors inside their AKS support window, e.g. 1.34",
            }
        ),
    ),
    resource_policy(
        "aks-system-pool-critical-addons-only",
        "The AKS system pool runs only critical add-ons: taint it CriticalAddonsOnly=true:NoSchedule. Advisory: "
        "cdstack deliberately runs its platform services on the system pool (policy/README.md).",
        [CLUSTER],
        check_system_pool_taint,
        level=EnforcementLevel.ADVISORY,
    ),
    resource_policy(
        "aks-availability-zones",
        "Every AKS node pool spreads over availability zones: set the pool's zones "
        "(cluster.systemPool.zones, cluster.workerPool.zones).",
        [CLUSTER, AGENT_POOL],
        check_zones,
        config=schema(
            minZones={"type": "integer", "minimum": 1, "default": 3, "description": "zones every pool spans"}
        ),
    ),
    resource_policy(
        "aks-api-server-restricted",
        "The AKS API server is not open to the internet: set cluster.apiAuthorizedRanges (or make the cluster "
        "private).",
        [CLUSTER],
        check_api_server_access,
        config=schema(
            restricted={
                "type": "boolean",
                "default": True,
                "description": "whether this stack's API server must be restricted",
            }
        ),
    ),
]
