"""The typed configuration of one cdstack stack: every setting, its default, its documentation, its validation.

A stack is configured only through Pulumi's config API (`pulumi config set`, `secure:` values, `--config`), under the
`cdstack:` namespace. Each top-level key below is one section; structured sections are YAML objects in
`Pulumi.<stack>.yaml`. Unknown keys are errors, so a typo never passes silently.

This module is the schema only: the models and each field's own validation. It imports no rule and no loader, so
every module may import it at run time. The cross-field rules live beside the concern each guards (addressing.py,
membership.py, vault/settings.py, production.py, ...), the registry that lists them is config/rules.py, and
config/loader.py reads the configuration through Pulumi, validates it against these models and runs the rules.

Environments differ only in this configuration: `production: true` switches on the rules a production stack must
satisfy (production.py); nothing in the code branches on the stack's name.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

from components import catalog
from components.naming import Naming

GoDuration = Annotated[str, StringConstraints(pattern=r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")]
"""A Go duration as Concourse and Vault read it, for example `2m`, `120s`, `1h30m`."""

Cidr = Annotated[str, Field(description="an IPv4 network in CIDR notation, for example 10.40.0.0/16")]
ObjectId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
]
"""An Entra ID object id (a GUID)."""

HostName = Annotated[
    str,
    StringConstraints(max_length=253, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"),
]
"""A lower-case DNS name."""


def closest(value: str, choices: Any, normalise: Any = str.lower) -> str:
    """` (did you mean X?)` for the choice nearest to `value`, or nothing when none is near."""
    by_key = {normalise(c): c for c in choices}
    match = difflib.get_close_matches(normalise(value), list(by_key), n=1, cutoff=0.6)
    return f" (did you mean {by_key[match[0]]}?)" if match else ""


def _region_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _known_region(value: str) -> str:
    if value not in catalog.REGIONS:
        raise ValueError(
            "must be the programmatic name of an Azure region with availability zones, one of "
            f"components/catalog.py REGIONS{closest(value, catalog.REGIONS, _region_key)}"
        )
    return value


def _known_vm_size(value: str) -> str:
    if value not in catalog.VM_SIZES:
        raise ValueError(f"must be a VM size from components/catalog.py VM_SIZES{closest(value, catalog.VM_SIZES)}")
    return value


def _known_postgres_sku(value: str) -> str:
    if value not in catalog.POSTGRES_SKUS:
        raise ValueError(
            "must be a PostgreSQL flexible server SKU from components/catalog.py POSTGRES_SKUS"
            f"{closest(value, catalog.POSTGRES_SKUS)}"
        )
    return value


def _number_as_text(value: Any) -> Any:
    """A version or tag typed unquoted is a YAML number (and `pulumi config set --path ... 17` stores a number):
    read it as its text. A float keeps only its digits (1.30 arrives as 1.3), which the field's pattern then refuses
    with a hint to quote it."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return value


def _text_only(value: Any) -> Any:
    """A tag value must be written as text. One YAML reads as a number or boolean arrives already changed, with no way
    back to what was typed (go-yaml v3: `0815` is not octal, so the float 815; `0777` is octal 511; `1.50` is 1.5):
    refused, with the fix."""
    if isinstance(value, bool | int | float):
        shown = json.dumps(value)
        raise ValueError(
            f"tag values must be quoted text: YAML read this one unquoted as {shown}, having already dropped what "
            f'made it text (costCenter: 0815 arrives as 815, 0777 as 511); quote it in the stack file, as in "0815"'
        )
    return value


def _text_as_number(value: Any) -> Any:
    """A quoted number (`"3"`) where the field is one of a few numbers: the number (ints accept it already)."""
    return int(value) if isinstance(value, str) and re.fullmatch(r"[0-9]+", value) else value


def _seconds_as_duration(value: Any) -> Any:
    """A TTL typed as a bare number is seconds (`tokenTtl: 3600` is 3600s): the unit Vault's approle role takes,
    and what vault/access.py hands it in the end."""
    return f"{value}s" if isinstance(value, int) and not isinstance(value, bool) else value


AzureRegion = Annotated[str, AfterValidator(_known_region)]
VmSizeName = Annotated[str, AfterValidator(_known_vm_size)]
PostgresSkuName = Annotated[str, AfterValidator(_known_postgres_sku)]
NumberAsText = BeforeValidator(_number_as_text)
TextOnly = BeforeValidator(_text_only)
TextAsNumber = BeforeValidator(_text_as_number)

# Concourse validates team names against this pattern (atc/team.go: valid identifiers).
TeamName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
LocalUserName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]


class Section(BaseModel):
    """Every section: camelCase keys as in the stack file, unknown keys rejected, immutable once loaded."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, validate_default=True
    )


# ---------------------------------------------------------------------------------------------------------------------
# Azure


class NetworkConfig(Section):
    address_space: Cidr = Field(default="10.40.0.0/16", description="Address space of the stack's virtual network.")
    aks_subnet: Cidr = Field(
        default="10.40.0.0/20", description="Subnet for AKS nodes (Azure CNI overlay: nodes only)."
    )
    postgres_subnet: Cidr = Field(
        default="10.40.16.0/24", description="Subnet delegated to PostgreSQL flexible servers (at least a /28)."
    )
    pod_cidr: Cidr = Field(
        default="10.244.0.0/16", description="Pod address range of the CNI overlay; outside the VNet."
    )
    service_cidr: Cidr = Field(
        default="10.41.0.0/16", description="Kubernetes service address range; outside the VNet."
    )
    dns_service_ip: str = Field(default="10.41.0.10", description="Cluster DNS service address, inside serviceCidr.")


class PoolUpgradeConfig(Section):
    max_surge: Annotated[str, StringConstraints(pattern=r"^([1-9][0-9]{0,2}|([1-9][0-9]?|100)%)$")] = Field(
        default="1",
        description="Extra nodes AKS adds while it upgrades the pool: a count (1) or a share of the pool (33%); "
        "each needs vCPU quota (the plan counts it).",
    )
    node_soak_minutes: int = Field(
        default=0, ge=0, le=30, description="Minutes AKS waits after draining a node before it reimages it."
    )
    undrainable_node_behavior: Literal["Schedule", "Cordon"] = Field(
        default="Schedule",
        description="A node AKS cannot drain in time: Schedule (it stays in service, not upgraded, and the upgrade "
        "fails visibly) or Cordon (quarantined and replaced by a surge node that is kept).",
    )


class SystemPoolConfig(Section):
    vm_size: VmSizeName = Field(default="Standard_D4ds_v5", description="VM size of the system pool's nodes.")
    count: int = Field(default=2, ge=1, le=100, description="Node count of the system pool (fixed, no autoscaling).")
    os_disk_size_gb: int = Field(default=128, ge=30, le=2048, description="OS disk size of each system node, in GiB.")
    os_disk_type: Literal["Ephemeral", "Managed"] = Field(
        default="Ephemeral",
        description="Ephemeral: the OS disk lives on the VM's local temporary disk (no disk charge, faster, reimaged "
        "clean); osDiskSizeGb must fit that disk. Managed: a Premium SSD.",
    )
    zones: list[Literal["1", "2", "3"]] = Field(
        default_factory=lambda: ["1", "2", "3"], description="Availability zones the system pool spreads over."
    )
    drain_timeout_minutes: int = Field(
        default=30, ge=1, le=1440, description="How long AKS waits for a system node to drain before the upgrade fails."
    )
    upgrade: PoolUpgradeConfig = Field(
        default_factory=PoolUpgradeConfig, description="How AKS upgrades the system pool."
    )


class WorkerPoolConfig(Section):
    vm_size: VmSizeName = Field(default="Standard_D8ds_v5", description="VM size of the Concourse worker pool's nodes.")
    min_count: int = Field(default=2, ge=0, le=1000, description="Fewest worker-pool nodes the autoscaler keeps.")
    max_count: int = Field(
        default=6,
        ge=1,
        le=1000,
        description="Most Concourse workers, one per node (the workers' HPA maximum); during a Concourse upgrade the "
        "pool's autoscaler may add concourse.workerReplicas nodes more, for the new worker generation.",
    )
    os_disk_size_gb: int = Field(default=256, ge=30, le=2048, description="OS disk size of each worker node, in GiB.")
    os_disk_type: Literal["Ephemeral", "Managed"] = Field(
        default="Ephemeral",
        description="Ephemeral: the OS disk lives on the VM's local temporary disk (no disk charge, faster, reimaged "
        "clean); osDiskSizeGb must fit that disk. Managed: a Premium SSD.",
    )
    max_pods: int = Field(default=30, ge=10, le=250, description="Pods per worker node.")
    zones: list[Literal["1", "2", "3"]] = Field(
        default_factory=lambda: ["1", "2", "3"], description="Availability zones the worker pool spreads over."
    )
    upgrade: PoolUpgradeConfig = Field(
        default_factory=PoolUpgradeConfig,
        description="How AKS upgrades the worker pool; its drain timeout follows concourse.workerDrainSeconds.",
    )


class MaintenanceWindowConfig(Section):
    day_of_week: Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"] = Field(
        default="Sunday", description="Day the planned AKS maintenance window opens."
    )
    start_time: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = Field(
        default="02:00", description="Time of day (HH:MM) the window opens, in utcOffset."
    )
    duration_hours: int = Field(
        default=4, ge=4, le=24, description="Length of the window in hours (AKS needs at least 4)."
    )
    utc_offset: Annotated[str, StringConstraints(pattern=r"^[+-](0[0-9]|1[0-4]):[0-5][0-9]$")] = Field(
        default="+00:00", description="UTC offset of startTime, for example +01:00."
    )


class ImageCleanerConfig(Section):
    enabled: bool = Field(
        default=True,
        description="AKS Image Cleaner (Eraser): removes unused images, and images with known vulnerabilities, from "
        "the nodes; production requires true.",
    )
    interval_hours: int = Field(
        default=168,
        ge=24,
        le=2160,
        description="Hours between Image Cleaner's scans: 24 to 2160 (AKS allows a day to three months).",
    )


class AuditLogConfig(Section):
    enabled: bool = Field(
        default=True,
        description="Send the API server's audit log to the stack's Log Analytics workspace (a diagnostic setting "
        "on the cluster); production requires true.",
    )
    category: Literal["kube-audit", "kube-audit-admin"] = Field(
        default="kube-audit-admin",
        description="Which audit events: kube-audit-admin (every change, without get and list: far less volume) or "
        "kube-audit (every request, reads included).",
    )
    retention_days: int = Field(
        default=90,
        ge=30,
        le=730,
        description="Days the Log Analytics workspace keeps the audit log and Defender's data (30 to 730).",
    )


class ClusterConfig(Section):
    kubernetes_version: Annotated[str, NumberAsText, StringConstraints(pattern=r"^1\.[0-9]{2}(\.[0-9]+)?$")] = Field(
        default="1.36",
        description="AKS Kubernetes version (minor, or minor.patch); a minor in AKS's support calendar (catalog.py). "
        "The plan warns 60 days before its end of support and refuses it after.",
    )
    sku_tier: Literal["Free", "Standard", "Premium"] = Field(
        default="Free", description="AKS control-plane tier; production requires Standard or Premium (uptime SLA)."
    )
    long_term_support: bool = Field(
        default=False,
        description="AKS long-term support (support plan AKSLongTermSupport): keeps a minor past its community end "
        "of support; needs skuTier Premium.",
    )
    disable_local_accounts: bool = Field(
        default=False, description="Turn off the cluster's local admin account; production requires true."
    )
    image_cleaner: ImageCleanerConfig = Field(
        default_factory=ImageCleanerConfig, description="Removal of unused and vulnerable images from the nodes."
    )
    defender: bool = Field(
        default=True,
        description="Microsoft Defender for Containers' sensor on the nodes (securityProfile.defender), reporting to "
        "the stack's Log Analytics workspace; billed per vCore-hour of the nodes (`make cost`). The subscription's "
        "Containers plan must be on. Production requires true.",
    )
    audit_log: AuditLogConfig = Field(
        default_factory=AuditLogConfig, description="Where the API server's audit log goes, and for how long."
    )
    node_resource_group_restriction: Literal["ReadOnly", "Unrestricted"] = Field(
        default="ReadOnly",
        description="Who may change the node resource group (MC_...): ReadOnly leaves it to AKS alone (a hand-made "
        "change to the nodes' VMs, disks or load balancer is refused); production requires ReadOnly.",
    )
    encryption_at_host: bool = Field(
        default=True,
        description="Encrypt the nodes' OS disks, temporary disks and caches on the VM host (every size in the "
        "catalog supports it); needs the subscription feature Microsoft.Compute/EncryptionAtHost registered. "
        "Production requires true.",
    )
    os_sku: Literal["Ubuntu", "AzureLinux"] = Field(
        default="Ubuntu",
        description="Node OS of both pools: Ubuntu or Azure Linux (Microsoft's smaller container host). Concourse's "
        "overlay baggageclaim driver works on both (containerd's own overlayfs snapshotter runs there).",
    )
    upgrade_channel: Literal["none", "patch", "stable", "rapid", "node-image"] = Field(
        default="patch", description="AKS auto-upgrade channel for Kubernetes versions."
    )
    node_os_upgrade_channel: Literal["None", "Unmanaged", "SecurityPatch", "NodeImage"] = Field(
        default="NodeImage", description="AKS node OS upgrade channel."
    )
    maintenance_window: MaintenanceWindowConfig = Field(
        default_factory=MaintenanceWindowConfig, description="When AKS may upgrade the cluster and its nodes."
    )
    api_authorized_ranges: list[Cidr] = Field(
        default_factory=list,
        description="CIDRs allowed to reach the API server; empty means unrestricted (not allowed in production).",
    )
    admin_group_object_ids: list[ObjectId] = Field(
        min_length=1,
        description="Entra ID groups that get cluster-admin through Azure RBAC.",
        examples=[["00000000-0000-4000-8000-000000000000"]],
    )
    system_pool: SystemPoolConfig = Field(default_factory=SystemPoolConfig, description="The stable system pool.")
    worker_pool: WorkerPoolConfig = Field(
        default_factory=WorkerPoolConfig, description="The autoscaling pool reserved for Concourse workers."
    )
    etcd_kms: bool = Field(
        default=False,
        description="Encrypt Kubernetes secrets in etcd with a key of a Key Vault the stack creates for it (AKS's "
        "KMS plugin, securityProfile.azureKeyVaultKms); the control plane then runs as a user-assigned identity "
        "holding Key Vault Crypto User on that vault.",
    )


class DatabaseConfig(Section):
    version: Annotated[Literal["14", "15", "16", "17"], NumberAsText] = Field(
        default="16", description="PostgreSQL major version."
    )
    sku_name: PostgresSkuName = Field(
        default="Standard_D2ds_v5", description="Flexible server compute SKU (it must belong to skuTier)."
    )
    sku_tier: Literal["Burstable", "GeneralPurpose", "MemoryOptimized"] = Field(
        default="GeneralPurpose",
        description="Flexible server compute tier (HA needs GeneralPurpose or MemoryOptimized).",
    )
    storage_gb: Annotated[Literal[32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768], TextAsNumber] = Field(
        default=128, description="Provisioned storage in GiB (auto-grow raises it when needed)."
    )
    storage_auto_grow: bool = Field(default=True, description="Let Azure grow storage before it fills up.")
    backup_retention_days: int = Field(default=7, ge=7, le=35, description="Point-in-time restore window in days.")
    geo_redundant_backup: bool = Field(default=False, description="Keep backups in the paired region too.")
    high_availability: bool = Field(default=False, description="Zone-redundant standby; production requires true.")
    admin_login: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")] = Field(
        default="concourseadmin", description="Administrator login (its password is generated, never configured)."
    )


# ---------------------------------------------------------------------------------------------------------------------
# Public names and certificates


class HostsConfig(Section):
    concourse: HostName | None = Field(default=None, description="Concourse web host; default ci.<domain>.")
    vault: HostName | None = Field(default=None, description="Vault UI and API host; default vault.<domain>.")
    grafana: HostName | None = Field(default=None, description="Grafana host; default grafana.<domain>.")
    kibana: HostName | None = Field(default=None, description="Kibana host; default kibana.<domain>.")
    chartmuseum: HostName | None = Field(default=None, description="ChartMuseum host; default charts.<domain>.")


class DnsConfig(Section):
    domain: HostName = Field(description="DNS domain every public host lives under.", examples=["cd.example.com"])
    zone_resource_group: str | None = Field(
        default=None,
        description="Resource group of an Azure DNS zone named `domain`; when set, A records are written there.",
    )
    hosts: HostsConfig = Field(default_factory=HostsConfig, description="Public host names, each under `domain`.")

    def host(self, service: str) -> str:
        """The public host of a service: the configured one, or `<default label>.<domain>`."""
        configured = getattr(self.hosts, service)
        return configured or f"{DEFAULT_HOST_LABELS[service]}.{self.domain}"


DEFAULT_HOST_LABELS = {
    "concourse": "ci",
    "vault": "vault",
    "grafana": "grafana",
    "kibana": "kibana",
    "chartmuseum": "charts",
}

LETS_ENCRYPT = {
    "production": "https://acme-v02.api.letsencrypt.org/directory",
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}


class TlsConfig(Section):
    acme_email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] = Field(
        description="E-mail Let's Encrypt sends expiry notices to.", examples=["platform@example.com"]
    )
    acme_environment: Literal["production", "staging"] = Field(
        default="production", description="Let's Encrypt environment; staging issues untrusted certificates."
    )

    @property
    def acme_server(self) -> str:
        return LETS_ENCRYPT[self.acme_environment]


# ---------------------------------------------------------------------------------------------------------------------
# Identity and teams


class GroupConfig(Section):
    object_id: ObjectId | None = Field(default=None, description="Object id of an existing Entra ID security group.")
    create: bool = Field(
        default=False, description="Create the group (named <name>-<stack>-<key>) instead of referencing it."
    )
    description: str = Field(default="", description="Description of a created group.")


class IdentityConfig(Section):
    groups: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,39}$")], GroupConfig] = Field(
        min_length=1,
        description="Entra ID security groups by a short key; teams and the admin group refer to these keys.",
    )
    admin_group: str = Field(description="Key of the group that owns Concourse's main team.", examples=["admins"])
    group_claims: Literal["ApplicationGroup", "SecurityGroup"] = Field(
        default="ApplicationGroup",
        description="Groups Entra ID puts in the login token: ApplicationGroup (only the groups assigned to the login "
        "app, which cdstack assigns: never over the 200-group limit; needs Entra ID P1, direct members only) or "
        "SecurityGroup (every security group of the user; a user in more than 200 gets none).",
    )
    client_secret_rotation_days: int = Field(
        default=90,
        ge=7,
        le=730,
        description="Days between rotations of the client secrets of the login app registrations (Concourse's, "
        "and Vault's with vault.teamSecrets).",
    )


class TeamRoles(Section):
    owner: list[str] = Field(default_factory=list, description="Group keys with the owner role.")
    member: list[str] = Field(default_factory=list, description="Group keys with the member role.")
    pipeline_operator: list[str] = Field(default_factory=list, description="Group keys with pipeline-operator.")
    viewer: list[str] = Field(default_factory=list, description="Group keys with the viewer role.")


class TeamRoleAssignmentConfig(Section):
    scope: str = Field(
        description="Azure resource id the role applies on: a subscription, a resource group, a resource or a "
        "management group.",
        examples=["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-payments"],
    )
    role: Literal["Owner", "Contributor", "User Access Administrator"] | ObjectId = Field(
        description="A built-in role by name (Owner, Contributor, User Access Administrator) or any role "
        "definition by its GUID (`az role definition list --name`).",
        examples=["Contributor"],
    )


class TeamAzureConfig(Section):
    pipelines: list[str] = Field(
        min_length=1,
        description="The team's pipelines that may act in Azure: each gets a federated credential on the team's "
        "identity (at most 20, Entra ID's limit).",
        examples=[["deploy"]],
    )
    roles: list[TeamRoleAssignmentConfig] = Field(
        default_factory=list, description="Role assignments of the team's identity."
    )
    allow_privileged_roles: bool = Field(
        default=False,
        description="Allow Owner and User Access Administrator among roles (a production stack also needs "
        "allowTeamPrivilegedRoles).",
    )


class TeamConfig(Section):
    name: TeamName = Field(description="Concourse team name.", examples=["payments"])
    service_user: LocalUserName = Field(
        description="The team's local service user (owner of the team; credentials written to Vault).",
        examples=["payments-bot"],
    )
    roles: TeamRoles = Field(default_factory=TeamRoles, description="Entra ID groups per Concourse role.")
    azure: TeamAzureConfig | None = Field(
        default=None,
        description="An Azure identity for the team's pipelines, without a secret: they log in with Concourse's "
        "idtoken var source (README: Concourse teams).",
    )


# ---------------------------------------------------------------------------------------------------------------------
# Services


class ConcourseConfig(Section):
    web_replicas: int = Field(
        default=1, ge=1, le=10, description="Concourse web replicas; production requires 2 or more."
    )
    worker_replicas: int = Field(
        default=2,
        ge=2,
        le=200,
        description=(
            "Concourse workers at least (the autoscaler adds up to workerPool.maxCount, one per node); 2 or more so "
            "the chart's PodDisruptionBudget never blocks drains."
        ),
    )
    admin_user: LocalUserName = Field(default="admin", description="Main team's local admin user (password generated).")
    container_placement_strategy: Literal[
        "volume-locality",
        "fewest-build-containers",
        "random",
        "limit-active-tasks",
        "limit-active-containers",
        "limit-active-volumes",
    ] = Field(default="volume-locality", description="How web places build containers on workers.")
    baggageclaim_response_header_timeout: GoDuration = Field(
        default="2m", description="How long web waits for a worker's baggageclaim to answer."
    )
    max_build_logs_to_retain: int = Field(default=2000, ge=1, description="Upper bound on build logs kept per job.")
    default_build_logs_to_retain: int = Field(
        default=500, ge=1, description="Build logs kept per job unless it says otherwise."
    )
    default_days_to_retain_build_logs: int = Field(default=30, ge=1, description="Days of build logs kept by default.")
    max_days_to_retain_build_logs: int = Field(default=90, ge=1, description="Upper bound on days of build logs kept.")
    heartbeat_interval: GoDuration = Field(default="120s", description="TSA heartbeat interval of workers.")
    worker_disk_gi: int = Field(default=256, ge=20, le=4096, description="Persistent volume per worker, in GiB.")
    baggageclaim_driver: Literal["btrfs", "overlay", "naive"] = Field(
        default="overlay",
        description="Baggageclaim volume driver on workers: overlay (copy-on-write, Concourse's preferred driver "
        "since 7.5); btrfs needs the btrfs module and loop devices on the node.",
    )
    worker_drain_seconds: int = Field(
        default=3600, ge=60, le=86400, description="Grace period a retiring worker gets to finish running builds."
    )
    team_api_budget_seconds: int = Field(
        default=150,
        ge=30,
        le=600,
        description="Seconds one team API operation (create, read, update or delete of a team) may take, retries "
        "included, before `pulumi up` reports it failed; 30 to 600 (README: Concourse teams).",
    )
    certificate_wait_seconds: int = Field(
        default=900,
        ge=120,
        le=3600,
        description="Seconds the teams wait, on the first `up`, for Concourse's host to answer with its "
        "Let's Encrypt certificate (HTTP-01 issuance takes minutes); 120 to 3600.",
    )
    default_task_timeout: GoDuration = Field(
        default="2h", description="Timeout of a task step that sets none (a task's own `timeout` overrides it)."
    )
    default_task_memory_limit: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*(KB|MB|GB)$")] = Field(
        default="4GB",
        description="Memory of a task container that sets no `container_limits.memory` (for example 4GB).",
    )
    default_task_cpu_limit: int = Field(
        default=1024,
        ge=0,
        le=262144,
        description="CPU shares of a task container that sets no `container_limits.cpu` (1024 = one CPU's weight; "
        "0 = unlimited).",
    )
    resource_checking_interval: GoDuration = Field(
        default="2m",
        description="How often resources without a webhook are checked (Concourse's default 1m doubles the check "
        "load of 60 pipelines).",
    )
    resource_check_timeout: GoDuration = Field(
        default="15m", description="Longest one resource check may run before it is failed."
    )
    secret_cache_duration: GoDuration = Field(
        default="5m",
        description="How long web caches a credential it read from Vault, so 400 jobs do not each fetch it.",
    )
    api_max_connections: int = Field(
        default=10, ge=1, le=500, description="PostgreSQL connections of each web instance's API pool."
    )
    backend_max_connections: int = Field(
        default=50, ge=1, le=1000, description="PostgreSQL connections of each web instance's backend pool."
    )


class TeamSecretsConfig(Section):
    """Teams write their own secrets: Vault's OIDC login on Entra ID, one role per team (components/vault/teams.py)."""

    enabled: bool = Field(
        default=True,
        description="Let each team's Entra ID groups log in to Vault (`vault login -method=oidc role=<team>`) and "
        "create, read, update, delete and list secrets under <pathPrefix>/<team>/ themselves; false: only the admin "
        "group writes secrets.",
    )
    roles: list[Literal["owner", "member", "pipelineOperator", "viewer"]] = Field(
        default_factory=lambda: ["owner", "member"],
        min_length=1,
        description="The Concourse roles (teams[].roles) whose groups manage their team's secrets: by default the "
        "roles that set pipelines.",
    )
    token_ttl: Annotated[GoDuration, BeforeValidator(_seconds_as_duration)] = Field(
        default="1h", description="TTL of a team member's Vault token (a bare number is seconds)."
    )
    token_max_ttl: Annotated[GoDuration, BeforeValidator(_seconds_as_duration)] = Field(
        default="8h",
        description="Longest a team member's Vault token lives, renewals included: then they log in again (a bare "
        "number is seconds).",
    )


class VaultConfig(Section):
    mode: Literal["in-cluster", "external"] = Field(
        default="in-cluster", description="Run Vault in the cluster (HA, storage below), or use an existing Vault."
    )
    address: str | None = Field(default=None, description="Address of the external Vault (mode external only).")
    path_prefix: Annotated[str, StringConstraints(pattern=r"^/[a-z0-9][a-z0-9/_-]*[a-z0-9]$")] = Field(
        default="/concourse", description="Path prefix of the KV mount Concourse reads credentials from."
    )
    shared_path: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$")] = Field(
        default="shared", description="Path under the prefix holding secrets every team may read."
    )
    storage: Literal["raft", "consul"] = Field(
        default="raft",
        description="Where the in-cluster Vault keeps its data: raft (integrated storage, a volume per server, "
        "snapshots to Blob) or consul (a Consul cluster beside it, the original stack's store). A stack already "
        "deployed keeps its store until storageMigration says the data moved (README: Moving Vault from Consul to "
        "Raft).",
    )
    storage_migration: Literal["done"] | None = Field(
        default=None,
        description="Set to done once Vault's data was migrated to the configured storage (`vault operator "
        "migrate`): only then may a deployed stack change vault.storage.",
    )
    server_replicas: int = Field(
        default=3,
        ge=1,
        le=7,
        description="Vault servers; on Raft an odd count (each one a voter), 3 or 5 in production, 1 allowed "
        "elsewhere.",
    )
    raft_storage_gi: int = Field(
        default=10, ge=1, le=1024, description="Persistent volume per Vault server on Raft storage, in GiB."
    )
    consul_replicas: Annotated[Literal[1, 3, 5], TextAsNumber] = Field(
        default=3, description="Consul servers (storage consul); production requires 3 or 5."
    )
    consul_storage_gi: int = Field(
        default=10, ge=1, le=1024, description="Persistent volume per Consul server (storage consul), in GiB."
    )
    secret_id_generation: int = Field(default=1, ge=1, description="Bump to rotate Concourse's approle secret id.")
    token_ttl: Annotated[GoDuration, BeforeValidator(_seconds_as_duration)] = Field(
        default="1h", description="TTL of the tokens Concourse's approle issues (a bare number is seconds)."
    )
    token_max_ttl: Annotated[GoDuration, BeforeValidator(_seconds_as_duration)] = Field(
        default="4h", description="Max TTL of the tokens Concourse's approle issues (a bare number is seconds)."
    )
    recovery_shares: int = Field(
        default=5,
        ge=1,
        le=10,
        description="Recovery key shares the first `pulumi up` creates at initialisation (kept in Key Vault).",
    )
    recovery_threshold: int = Field(
        default=3, ge=1, le=10, description="Recovery key shares needed to generate a root token (break-glass)."
    )
    deployer_object_ids: list[ObjectId] = Field(
        default_factory=list,
        description="Object ids of the service principals that run `pulumi up` (the infra pipeline's): they log in "
        "to Vault with their Entra ID token and may write Vault's keys to Key Vault. People do so through "
        "identity.adminGroup.",
    )
    team_secrets: TeamSecretsConfig = Field(
        default_factory=TeamSecretsConfig,
        description="Teams manage their own secrets through Vault's OIDC login (README: Teams write their own "
        "secrets).",
    )

    @property
    def in_cluster_store(self) -> Literal["raft", "consul"] | None:
        """The store the stack runs for Vault: `storage` for the in-cluster Vault, None for an external one."""
        return self.storage if self.mode == "in-cluster" else None


CronSchedule = str
"""A Kubernetes CronJob schedule: five cron fields (minute hour day-of-month month day-of-week), in UTC; checked by
schedules.cron_problems with one message naming the key."""


class BackupConfig(Section):
    vault_schedule: CronSchedule = Field(
        default="0 */6 * * *",
        description="When Vault's data (a Raft snapshot, or a Consul snapshot on storage consul) is copied to Blob "
        "storage (cron, UTC).",
    )
    vault_retention_days: int = Field(
        default=30, ge=1, le=3650, description="Days Vault snapshots are kept in Blob storage before they are deleted."
    )
    blob_soft_delete_days: int = Field(
        default=14,
        ge=1,
        le=365,
        description="Days a deleted or overwritten blob (backups, charts) can still be restored; versioning is on.",
    )
    elasticsearch_schedule: CronSchedule = Field(
        default="30 */6 * * *",
        description="When Elasticsearch takes a snapshot of every index and Kibana's saved objects into Blob storage "
        "(cron, UTC): the backup-elasticsearch CronJob runs the snapshot lifecycle policy.",
    )
    elasticsearch_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Days Elasticsearch snapshots are kept before the snapshot lifecycle policy deletes them.",
    )
    elasticsearch_min_snapshots: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Snapshots the lifecycle policy keeps even when they are older than elasticsearchRetentionDays.",
    )


SlackChannel = Annotated[str, StringConstraints(pattern=r"^#[a-z0-9][a-z0-9._-]{0,79}$")]
Severity = Literal["critical", "warning", "info"]
"""An alert's `severity` label (alerts/prometheus/*.yaml); Alertmanager routes on it."""


class ObservabilityConfig(Section):
    slack_channel: SlackChannel = Field(
        description="Slack channel alerts go to, for example #cd-alerts; the default for every severity.",
        examples=["#cd-alerts"],
    )
    slack_channels: dict[Severity, SlackChannel] = Field(
        default_factory=dict,
        description="Slack channel per alert severity (critical, warning, info), for example "
        "{critical: '#cd-pages'}; a severity not listed goes to slackChannel.",
    )
    heartbeat_interval: GoDuration = Field(
        default="5m",
        description="How often Alertmanager re-sends the always-firing Watchdog to the secure heartbeatUrl; set the "
        "external check's period to a few times this.",
    )
    prometheus_retention: Annotated[str, StringConstraints(pattern=r"^[0-9]+(h|d|w|y)$")] = Field(
        default="15d", description="How long Prometheus keeps samples."
    )
    prometheus_storage_gi: int = Field(default=50, ge=5, le=4096, description="Prometheus volume size, in GiB.")
    influxdb_storage_gi: int = Field(default=20, ge=1, le=4096, description="InfluxDB volume size, in GiB.")
    influxdb_retention: Annotated[str, StringConstraints(pattern=r"^[0-9]+(h|d|w)$")] = Field(
        default="30d", description="How long InfluxDB keeps Concourse's metrics."
    )
    elasticsearch_nodes: int = Field(
        default=1, ge=1, le=20, description="Elasticsearch nodes; production requires 3 or more."
    )
    elasticsearch_storage_gi: int = Field(
        default=100, ge=10, le=16384, description="Volume per Elasticsearch node, in GiB."
    )
    log_retention_days: int = Field(
        default=14, ge=1, le=365, description="Days of container logs kept in Elasticsearch."
    )
    step_wait_alert_minutes: int = Field(
        default=10,
        ge=1,
        le=60,
        description="Minutes a build step may wait for a worker before ConcourseStepsWaitingTooLong fires (1 to 60: "
        "the alert looks back one hour).",
    )
    check_lag_alert_minutes: int = Field(
        default=10,
        ge=1,
        le=60,
        description="Minutes resource checks may run late, beyond their checking interval, before "
        "ConcourseChecksLagging fires (1 to 60).",
    )

    def channel_for(self, severity: Severity) -> str:
        """The Slack channel alerts of this severity go to."""
        return self.slack_channels.get(severity, self.slack_channel)


class CanaryConfig(Section):
    """The canary pipeline every stack runs in its cdstack-smoke team (components/concourse/canary.py)."""

    interval_minutes: int = Field(
        default=15,
        ge=5,
        le=60,
        description="Minutes between the canary's builds (Vault read, DNS, image pull); 5 to 60: below 5 a build "
        "(an image pull on a busy worker) may outlast its period, and ConcourseCanaryFailing fires after 3 periods, "
        "which must fit the 4 hours its rules look back.",
    )


class CostConfig(Section):
    staging_share_of_prod: float = Field(
        default=0.35,
        gt=0,
        le=1,
        description="Most a staging stack may cost a month at its minimum, as a share of the production stack it "
        "gates (set in the production stack's file; `make cost STACK='staging prod'` judges it).",
    )


# ---------------------------------------------------------------------------------------------------------------------
# Deployer identities of the infra pipeline (components/azure/deployers.py; hosted by the infra stack)

AzureScope = Annotated[
    str,
    StringConstraints(
        pattern=r"^/subscriptions/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
        r"(/resourceGroups/[-\w._()]+(/providers/[\w.]+/[^/\s]+(/[^/\s]+/[^/\s]+)*)?)?$"
    ),
]
"""An Azure resource id a role can be assigned on: a subscription, a resource group, or a resource."""


class DeployerRoleConfig(Section):
    scope: AzureScope = Field(
        description="Where the role applies: /subscriptions/<id>, a resource group or a resource id.",
        examples=["/subscriptions/00000000-0000-4000-8000-000000000000"],
    )
    role_definition_id: ObjectId = Field(
        description="The built-in role's id (the GUID in Azure's built-in roles list), for example Contributor "
        "b24988ac-6180-42a0-ab88-20f7382dd24c."
    )


class DeployerConfig(Section):
    environment: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{1,19}$")] = Field(
        description="The stack this identity deploys (staging, prod): the infra pipeline's jobs <environment>-up and "
        "<environment>-smoke log in as it.",
        examples=["staging"],
    )
    roles: list[DeployerRoleConfig] = Field(
        min_length=1,
        description="The identity's Azure role assignments (README: Permissions). The first role's subscription is "
        "the one the environment deploys to (`azure-<environment>.subscription_id` for the pipeline).",
    )

    @property
    def subscription_id(self) -> str:
        """The subscription the environment is deployed to: that of the first role's scope."""
        return self.roles[0].scope.split("/")[2]


class StateBackendConfig(Section):
    """Where the infra pipeline's tasks find the Pulumi state (`pulumi-state` in the infra Concourse's Vault)."""

    url: Annotated[str, StringConstraints(pattern=r"^azblob://[a-z0-9]([a-z0-9-]{1,61}[a-z0-9])?$")] = Field(
        description="The state backend the pipeline logs in to: azblob://<container> (docs/first-deployment.md).",
        examples=["azblob://pulumi-state"],
    )
    storage_account: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]{3,24}$")] = Field(
        description="The storage account that holds the container (its name only: the deployers log in as "
        "themselves, no account key)."
    )


class PromotionConfig(Section):
    source_stack: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")] = (
        Field(
            description="Fully qualified stack (org/project/stack) whose deployed release set gates this one.",
            examples=["organization/cdstack/staging"],
        )
    )
    override_reason: str = Field(
        default="",
        description="Emergency override: deploy versions the source stack has not deployed, for this reason.",
    )


class PartsConfig(Section):
    """The optional parts of the stack (issue 29): a lean stack, such as the infra Concourse or a demo, leaves out what
    it does not need. Monitoring, alerting to Slack, Vault and backups are not optional. Production keeps every part
    (components/parts.py)."""

    elasticsearch: bool = Field(
        default=True,
        description="Log search: Elasticsearch, Kibana, ElastAlert and Filebeat, with the ECK operator that runs them "
        "(the logging namespace), the ElastAlert log alerts, Grafana's log datasource and the Elasticsearch snapshots. "
        "They stand together: Filebeat and ElastAlert have nothing to talk to without Elasticsearch.",
    )
    influxdb: bool = Field(
        default=True,
        description="Build metrics: InfluxDB, Concourse's metrics emitter into it, Telegraf's probes of the public "
        "hosts and Grafana's InfluxDB datasource. Prometheus and the blackbox probes stay.",
    )
    chartmuseum: bool = Field(
        default=True, description="ChartMuseum, its public host and its Blob container (the chartmuseum namespace)."
    )

    def off(self) -> list[str]:
        """The keys of the parts switched off."""
        return [key for key, on in self.model_dump(by_alias=True).items() if not on]


# ---------------------------------------------------------------------------------------------------------------------
# The stack


class StackConfig(Section):
    """Everything one stack is. Each field is a `cdstack:<key>` in the stack file."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{1,9}$")] = Field(
        description="Short base name of every resource (2-10 lower-case letters and digits).", examples=["cdstack"]
    )
    production: bool = Field(default=False, description="Apply the production rules (HA, paid tier, protected state).")
    location: AzureRegion = Field(description="Azure region, for example westeurope.", examples=["westeurope"])
    tags: dict[str, Annotated[str, TextOnly]] = Field(
        default_factory=dict,
        description="Tags on every Azure resource. Quote a value YAML would read as a number or boolean "
        '(costCenter: "0815"): it is refused unquoted.',
    )
    network: NetworkConfig = Field(default_factory=NetworkConfig, description="Virtual network layout.")
    cluster: ClusterConfig = Field(description="AKS cluster.")
    database: DatabaseConfig = Field(default_factory=DatabaseConfig, description="PostgreSQL for Concourse.")
    dns: DnsConfig = Field(description="Public names.")
    tls: TlsConfig = Field(description="Let's Encrypt certificates.")
    identity: IdentityConfig = Field(description="Entra ID groups and the Concourse login app.")
    teams: list[TeamConfig] = Field(default_factory=list, description="Concourse teams besides main.")
    concourse: ConcourseConfig = Field(default_factory=ConcourseConfig, description="Concourse tuning.")
    vault: VaultConfig = Field(default_factory=VaultConfig, description="Vault for Concourse's credentials.")
    backup: BackupConfig = Field(default_factory=BackupConfig, description="Backups of the stack's state.")
    observability: ObservabilityConfig = Field(description="Monitoring, logging and alerting.")
    charts: dict[str, str] = Field(
        default_factory=dict, description="Chart version overrides by catalog key (promotion writes these)."
    )
    cost: CostConfig = Field(default_factory=CostConfig, description="Cost limits between stacks.")
    parts: PartsConfig = Field(
        default_factory=PartsConfig, description="Optional parts, each on by default; a lean stack switches some off."
    )
    canary: CanaryConfig = Field(
        default_factory=CanaryConfig, description="The canary pipeline that proves a build can run, every few minutes."
    )
    chart_mirror: (
        Annotated[str, StringConstraints(pattern=r"^oci://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)*$")]
        | None
    ) = Field(
        default=None,
        description=(
            "OCI registry path every Helm release installs from instead of the charts' public repositories, for "
            "example oci://contosocharts.azurecr.io/helm (README: Chart mirror). Not under `charts`, which maps "
            "chart keys to versions."
        ),
    )
    promotion: PromotionConfig | None = Field(
        default=None, description="Gate this stack on the release set another stack deployed."
    )
    infra_stack: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")] | None
    ) = Field(
        default=None,
        description="The infra stack (org/project/stack) whose pipeline deploys this one: this stack's Vault "
        "trusts that Concourse's token for the `<stack>-up` job (components/vault/pipeline_login.py), with the "
        "issuer and subject read from the infra stack's outputs through a StackReference.",
        examples=["organization/cdstack/infra"],
    )
    allow_team_privileged_roles: bool = Field(
        default=False,
        description="On a production stack, let a team entry with azure.allowPrivilegedRoles give its pipelines "
        "Owner or User Access Administrator; without it production refuses them outright.",
    )
    slack_webhook_configured: bool = Field(
        default=False, exclude=True, description="Set by load() when the secure slackWebhookUrl is present."
    )
    stack: str = Field(default="", exclude=True, description="The Pulumi stack name, set by load().")
    deployers: list[DeployerConfig] = Field(
        default_factory=list,
        description="The infra pipeline's deployer identities this stack creates (one user-assigned identity per "
        "environment, federated to the pipeline's jobs for it on this stack's Concourse): for the infra stack.",
    )
    state_backend: StateBackendConfig | None = Field(
        default=None,
        description="With `deployers`: the state backend the infra pipeline's tasks use, written to this stack's "
        "Vault as `pulumi-state` for the pipeline (without it an operator writes that secret).",
    )

    @property
    def naming(self) -> Naming:
        return Naming(self.name, self.stack)

    def chart_version(self, key: str) -> str:
        """The version of a catalog chart this stack deploys: its override, else the catalog's pin."""
        return self.charts.get(key, catalog.CHARTS[key].version)

    def team_names(self) -> list[str]:
        return [team.name for team in self.teams]

    def public_services(self) -> list[str]:
        """The services with a public host in this stack: Kibana and ChartMuseum only where their part is on."""
        left_out = {"kibana"} if not self.parts.elasticsearch else set()
        left_out |= {"chartmuseum"} if not self.parts.chartmuseum else set()
        return [service for service in DEFAULT_HOST_LABELS if service not in left_out]

    def public_hosts(self) -> dict[str, str]:
        """Every public host this stack serves, by service."""
        return {service: self.dns.host(service) for service in self.public_services()}
