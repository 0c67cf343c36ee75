"""The typed configuration of one cdstack stack: every setting, its default, its documentation, its validation.

A stack is configured only through Pulumi's config API (`pulumi config set`, `secure:` values, `--config`), under the
`cdstack:` namespace. Each top-level key below is one section; structured sections are YAML objects in
`Pulumi.<stack>.yaml`. `load()` reads every `cdstack:` key, parses it into the frozen `StackConfig`, applies the
cross-field rules and raises `ConfigError` (one message naming the stack file, the key path, the value given and
what is allowed) before any resource is constructed. Unknown keys are errors, so a typo never passes silently.

Environments differ only in this configuration: `production: true` switches on the rules a production stack must
satisfy; nothing in the code branches on the stack's name.
"""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import date
from typing import Annotated, Any, Literal, get_origin

import pulumi
import pulumi.runtime
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

from components import capacity, catalog, clock, upgrades
from components.naming import Naming, NamingError

NAMESPACE = "cdstack"

# Keys that may only hold values a person supplies, and only as `secure:` values. They never enter StackConfig:
# components read them with `secret()` so they stay Pulumi secrets from the config API to the Kubernetes Secret.
SECRET_KEYS = {
    "slackWebhookUrl": "the Slack incoming-webhook URL Alertmanager and ElastAlert post to",
}

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
    vm_size: str = Field(default="Standard_D4ds_v5", description="VM size of the system pool's nodes.")
    count: int = Field(default=2, ge=1, le=100, description="Node count of the system pool (fixed, no autoscaling).")
    os_disk_size_gb: int = Field(default=128, ge=30, le=2048, description="OS disk size of each system node, in GiB.")
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
    vm_size: str = Field(default="Standard_D8ds_v5", description="VM size of the Concourse worker pool's nodes.")
    min_count: int = Field(default=2, ge=0, le=1000, description="Fewest worker-pool nodes the autoscaler keeps.")
    max_count: int = Field(default=6, ge=1, le=1000, description="Most worker-pool nodes the autoscaler adds.")
    os_disk_size_gb: int = Field(default=256, ge=30, le=2048, description="OS disk size of each worker node, in GiB.")
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


class ClusterConfig(Section):
    kubernetes_version: Annotated[str, StringConstraints(pattern=r"^1\.[0-9]{2}(\.[0-9]+)?$")] = Field(
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
        min_length=1, description="Entra ID groups that get cluster-admin through Azure RBAC."
    )
    system_pool: SystemPoolConfig = Field(default_factory=SystemPoolConfig, description="The stable system pool.")
    worker_pool: WorkerPoolConfig = Field(
        default_factory=WorkerPoolConfig, description="The autoscaling pool reserved for Concourse workers."
    )


class DatabaseConfig(Section):
    version: Literal["14", "15", "16", "17"] = Field(default="16", description="PostgreSQL major version.")
    sku_name: str = Field(default="Standard_D2ds_v5", description="Flexible server compute SKU.")
    sku_tier: Literal["Burstable", "GeneralPurpose", "MemoryOptimized"] = Field(
        default="GeneralPurpose",
        description="Flexible server compute tier (HA needs GeneralPurpose or MemoryOptimized).",
    )
    storage_gb: Literal[32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768] = Field(
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
    domain: HostName = Field(description="DNS domain every public host lives under.")
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
        description="E-mail Let's Encrypt sends expiry notices to."
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
    admin_group: str = Field(description="Key of the group that owns Concourse's main team.")
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
        description="Days between rotations of the Concourse app registration's client secret.",
    )


class TeamRoles(Section):
    owner: list[str] = Field(default_factory=list, description="Group keys with the owner role.")
    member: list[str] = Field(default_factory=list, description="Group keys with the member role.")
    pipeline_operator: list[str] = Field(default_factory=list, description="Group keys with pipeline-operator.")
    viewer: list[str] = Field(default_factory=list, description="Group keys with the viewer role.")


class TeamConfig(Section):
    name: TeamName = Field(description="Concourse team name.")
    service_user: LocalUserName = Field(
        description="The team's local service user (owner of the team; credentials written to Vault)."
    )
    roles: TeamRoles = Field(default_factory=TeamRoles, description="Entra ID groups per Concourse role.")


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
        description="Concourse workers; 2 or more so the chart's PodDisruptionBudget never blocks drains.",
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


class VaultConfig(Section):
    mode: Literal["in-cluster", "external"] = Field(
        default="in-cluster", description="Run Vault on Consul in the cluster, or use an existing Vault."
    )
    address: str | None = Field(default=None, description="Address of the external Vault (mode external only).")
    path_prefix: Annotated[str, StringConstraints(pattern=r"^/[a-z0-9][a-z0-9/_-]*[a-z0-9]$")] = Field(
        default="/concourse", description="Path prefix of the KV mount Concourse reads credentials from."
    )
    shared_path: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$")] = Field(
        default="shared", description="Path under the prefix holding secrets every team may read."
    )
    server_replicas: int = Field(default=3, ge=1, le=7, description="Vault server replicas (HA on Consul).")
    consul_replicas: Literal[1, 3, 5] = Field(default=3, description="Consul servers; production requires 3 or 5.")
    consul_storage_gi: int = Field(
        default=10, ge=1, le=1024, description="Persistent volume per Consul server, in GiB."
    )
    secret_id_generation: int = Field(default=1, ge=1, description="Bump to rotate Concourse's approle secret id.")
    token_ttl: GoDuration = Field(default="1h", description="TTL of the tokens Concourse's approle issues.")
    token_max_ttl: GoDuration = Field(default="4h", description="Max TTL of the tokens Concourse's approle issues.")
    initialized: bool = Field(
        default=False,
        description="The in-cluster Vault has been initialised (README: Vault bootstrap runbook); until then the "
        "Vault-side resources are skipped. Not used in external mode.",
    )


class ObservabilityConfig(Section):
    slack_channel: Annotated[str, StringConstraints(pattern=r"^#[a-z0-9][a-z0-9._-]{0,79}$")] = Field(
        description="Slack channel alerts go to, for example #cd-alerts."
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


class PromotionConfig(Section):
    source_stack: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")] = (
        Field(description="Fully qualified stack (org/project/stack) whose deployed release set gates this one.")
    )
    override_reason: str = Field(
        default="",
        description="Emergency override: deploy versions the source stack has not deployed, for this reason.",
    )


# ---------------------------------------------------------------------------------------------------------------------
# The stack


class StackConfig(Section):
    """Everything one stack is. Each field is a `cdstack:<key>` in the stack file."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{1,9}$")] = Field(
        description="Short base name of every resource (2-10 lower-case letters and digits)."
    )
    production: bool = Field(default=False, description="Apply the production rules (HA, paid tier, protected state).")
    location: str = Field(description="Azure region, for example westeurope.")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags on every Azure resource.")
    network: NetworkConfig = Field(default_factory=NetworkConfig, description="Virtual network layout.")
    cluster: ClusterConfig = Field(description="AKS cluster.")
    database: DatabaseConfig = Field(default_factory=DatabaseConfig, description="PostgreSQL for Concourse.")
    dns: DnsConfig = Field(description="Public names.")
    tls: TlsConfig = Field(description="Let's Encrypt certificates.")
    identity: IdentityConfig = Field(description="Entra ID groups and the Concourse login app.")
    teams: list[TeamConfig] = Field(default_factory=list, description="Concourse teams besides main.")
    concourse: ConcourseConfig = Field(default_factory=ConcourseConfig, description="Concourse tuning.")
    vault: VaultConfig = Field(default_factory=VaultConfig, description="Vault for Concourse's credentials.")
    observability: ObservabilityConfig = Field(description="Monitoring, logging and alerting.")
    charts: dict[str, str] = Field(
        default_factory=dict, description="Chart version overrides by catalog key (promotion writes these)."
    )
    promotion: PromotionConfig | None = Field(
        default=None, description="Gate this stack on the release set another stack deployed."
    )
    slack_webhook_configured: bool = Field(
        default=False, exclude=True, description="Set by load() when the secure slackWebhookUrl is present."
    )
    stack: str = Field(default="", exclude=True, description="The Pulumi stack name, set by load().")

    @property
    def naming(self) -> Naming:
        return Naming(self.name, self.stack)

    def chart_version(self, key: str) -> str:
        """The version of a catalog chart this stack deploys: its override, else the catalog's pin."""
        return self.charts.get(key, catalog.CHARTS[key].version)

    def team_names(self) -> list[str]:
        return [team.name for team in self.teams]


# ---------------------------------------------------------------------------------------------------------------------
# Loading and validation


class ConfigError(pulumi.RunError):
    """Bad configuration. A RunError, so Pulumi prints the message without a Python traceback."""

    def __init__(self, stack_file: str, problems: list[tuple[str, Any, str]]):
        self.stack_file = stack_file
        self.problems = problems
        lines = [f"{stack_file}: invalid configuration"]
        for key, value, allowed in problems:
            lines.append(f"  {key}: got {_show(value)}; {allowed}")
        super().__init__("\n".join(lines))

    @property
    def keys(self) -> list[str]:
        return [key for key, _, _ in self.problems]


def _show(value: Any) -> str:
    if value is _MISSING:
        return "nothing (the key is required)"
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


_MISSING = object()


_GO_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def go_duration_seconds(duration: str) -> int:
    """Whole seconds of a GoDuration (as Vault's TTL fields take them); fractions of a second are dropped."""
    parts = re.findall(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)", duration)
    return int(sum(float(number) * _GO_DURATION_UNITS[unit] for number, unit in parts))


def stack_file() -> str:
    return f"Pulumi.{pulumi.get_stack()}.yaml"


def _config_keys() -> set[str]:
    """Every config key Pulumi gave this program: set in-process (mocks, automation) or in PULUMI_CONFIG (the CLI)."""
    keys = set(pulumi.runtime.config.CONFIG.get())
    keys |= set(pulumi.runtime.get_config_env())
    return {key for key in keys if key.startswith(NAMESPACE + ":")}


def _is_secret(full_key: str) -> bool:
    return pulumi.runtime.is_config_secret(full_key) or full_key in pulumi.runtime.get_config_secret_keys_env()


def _wants_object(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (list, dict):
        return True
    candidates = getattr(annotation, "__args__", None) or (annotation,)
    return any(isinstance(c, type) and issubclass(c, BaseModel) for c in candidates)


def load() -> StackConfig:
    """Read and validate the whole `cdstack:` configuration, or raise ConfigError. Creates nothing."""
    config = pulumi.Config(NAMESPACE)
    file = stack_file()
    problems: list[tuple[str, Any, str]] = []
    raw: dict[str, Any] = {}
    by_alias = {
        (info.alias or name): (name, info) for name, info in StackConfig.model_fields.items() if not info.exclude
    }

    for full_key in sorted(_config_keys()):
        key = full_key.split(":", 1)[1]
        if key in SECRET_KEYS:
            if not _is_secret(full_key):
                problems.append(
                    (full_key, "[a plain value]", f"{SECRET_KEYS[key]} must be set with `pulumi config set --secret`")
                )
            continue
        if key not in by_alias:
            allowed = ", ".join(sorted(list(by_alias) + list(SECRET_KEYS)))
            problems.append((full_key, config.get(key), f"unknown key; known keys are {allowed}"))
            continue
        _, info = by_alias[key]
        if _wants_object(info.annotation):
            try:
                raw[key] = config.get_object(key)
            except pulumi.ConfigTypeError:
                problems.append((full_key, config.get(key), "expected a YAML object or list"))
        else:
            raw[key] = config.get(key)

    raw["stack"] = pulumi.get_stack()
    raw["slackWebhookConfigured"] = config.get("slackWebhookUrl") is not None
    if problems:
        raise ConfigError(file, problems)
    try:
        cfg = StackConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(file, [_pydantic_problem(e, raw) for e in error.errors()]) from None
    today = clock.today()
    problems = check_rules(cfg, today)
    if problems:
        raise ConfigError(file, problems)
    support = kubernetes_support(cfg, today)
    if support is not None:
        pulumi.log.warn(f"{file}: {NAMESPACE}:cluster.kubernetesVersion: {support[1]}; plan the upgrade now")
    return cfg


def _pydantic_problem(error: Any, raw: dict[str, Any]) -> tuple[str, Any, str]:
    loc = [str(part) for part in error["loc"]]
    key = f"{NAMESPACE}:{loc[0]}" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[1:])
    value = error.get("input", _MISSING) if error["type"] != "missing" else _MISSING
    allowed = error["msg"]
    if error["type"] == "extra_forbidden":
        allowed = "unknown key (check its spelling against the configuration reference)"
    elif error["type"] == "string_pattern_mismatch":
        allowed = f"must match {error['ctx']['pattern']}"
    elif error["type"] == "missing":
        allowed = "this key is required"
    return key, value, allowed


def kubernetes_support(cfg: StackConfig, today: date) -> tuple[str, str] | None:
    """AKS's support of the stack's Kubernetes minor on `today` (catalog.kubernetes_support)."""
    return catalog.kubernetes_support(cfg.cluster.kubernetes_version, today, cfg.cluster.long_term_support)


def check_rules(cfg: StackConfig, today: date | None = None) -> list[tuple[str, Any, str]]:
    """Rules that span fields. Each problem is (key path, value given, what is allowed). `today` judges the AKS
    support window (default: clock.today())."""
    # Concourse's rollout rule lives with Concourse, whose module imports this one: imported when first needed.
    from components.services import concourse

    p: list[tuple[str, Any, str]] = []
    k = NAMESPACE + ":"

    # Network: valid, inside/outside the VNet as they must be, no overlaps.
    net = cfg.network
    nets: dict[str, ipaddress.IPv4Network] = {}
    for field in ("address_space", "aks_subnet", "postgres_subnet", "pod_cidr", "service_cidr"):
        value = getattr(net, field)
        try:
            nets[field] = ipaddress.IPv4Network(value, strict=True)
        except ValueError as error:
            p.append((f"{k}network.{to_camel(field)}", value, f"must be an IPv4 network in CIDR notation ({error})"))
    if len(nets) == 5:
        vnet = nets["address_space"]
        for field in ("aks_subnet", "postgres_subnet"):
            if not nets[field].subnet_of(vnet):
                p.append((f"{k}network.{to_camel(field)}", str(nets[field]), f"must lie inside addressSpace {vnet}"))
        if nets["aks_subnet"].overlaps(nets["postgres_subnet"]):
            p.append(
                (f"{k}network.postgresSubnet", net.postgres_subnet, f"must not overlap aksSubnet {net.aks_subnet}")
            )
        if nets["postgres_subnet"].prefixlen > 28:
            p.append((f"{k}network.postgresSubnet", net.postgres_subnet, "must be a /28 or larger"))
        for field in ("pod_cidr", "service_cidr"):
            if nets[field].overlaps(vnet):
                p.append((f"{k}network.{to_camel(field)}", str(nets[field]), f"must not overlap addressSpace {vnet}"))
        if nets["pod_cidr"].overlaps(nets["service_cidr"]):
            p.append((f"{k}network.serviceCidr", net.service_cidr, f"must not overlap podCidr {net.pod_cidr}"))
        try:
            if ipaddress.IPv4Address(net.dns_service_ip) not in nets["service_cidr"]:
                p.append(
                    (f"{k}network.dnsServiceIp", net.dns_service_ip, f"must lie inside serviceCidr {net.service_cidr}")
                )
        except ValueError:
            p.append((f"{k}network.dnsServiceIp", net.dns_service_ip, "must be an IPv4 address"))
    for i, cidr in enumerate(cfg.cluster.api_authorized_ranges):
        try:
            ipaddress.IPv4Network(cidr, strict=True)
        except ValueError as error:
            p.append(
                (f"{k}cluster.apiAuthorizedRanges[{i}]", cidr, f"must be an IPv4 network in CIDR notation ({error})")
            )

    pool = cfg.cluster.worker_pool
    if pool.min_count > pool.max_count:
        p.append((f"{k}cluster.workerPool.minCount", pool.min_count, f"must be <= maxCount ({pool.max_count})"))

    # Host names live under the domain; each is distinct.
    seen: dict[str, str] = {}
    for service in DEFAULT_HOST_LABELS:
        host = cfg.dns.host(service)
        if not host.endswith("." + cfg.dns.domain):
            p.append((f"{k}dns.hosts.{service}", host, f"must be a name under the domain {cfg.dns.domain}"))
        if host in seen:
            p.append((f"{k}dns.hosts.{service}", host, f"must differ from the {seen[host]} host"))
        seen[host] = service

    # Groups and teams.
    groups = cfg.identity.groups
    for key, group in groups.items():
        if (group.object_id is None) == (not group.create):
            p.append(
                (
                    f"{k}identity.groups.{key}",
                    group.model_dump(by_alias=True),
                    "set exactly one of objectId or create: true",
                )
            )
    if cfg.identity.admin_group not in groups:
        p.append(
            (f"{k}identity.adminGroup", cfg.identity.admin_group, f"must be one of the group keys {sorted(groups)}")
        )
    names: set[str] = set()
    users = {cfg.concourse.admin_user: "concourse.adminUser"}
    for i, team in enumerate(cfg.teams):
        if team.name == "main":
            p.append(
                (f"{k}teams[{i}].name", team.name, "main is configured by identity.adminGroup and concourse.adminUser")
            )
        if team.name in names:
            p.append((f"{k}teams[{i}].name", team.name, "team names must be unique"))
        names.add(team.name)
        if team.service_user in users:
            p.append((f"{k}teams[{i}].serviceUser", team.service_user, f"already used by {users[team.service_user]}"))
        users[team.service_user] = f"teams[{i}]"
        for role in ("owner", "member", "pipeline_operator", "viewer"):
            for j, ref in enumerate(getattr(team.roles, role)):
                if ref not in groups:
                    p.append(
                        (
                            f"{k}teams[{i}].roles.{to_camel(role)}[{j}]",
                            ref,
                            f"must be one of the group keys {sorted(groups)}",
                        )
                    )

    # Concourse looks a team's credentials up under <prefix>/<team>/ and shared ones under <prefix>/<sharedPath>/:
    # a team named like the shared path would read and write every team's shared secrets.
    for i, team in enumerate(cfg.teams):
        if team.name == cfg.vault.shared_path:
            p.append((f"{k}teams[{i}].name", team.name, "must differ from vault.sharedPath"))
    if cfg.vault.shared_path == "main":
        p.append((f"{k}vault.sharedPath", cfg.vault.shared_path, "must differ from main (the main team's path)"))
    if go_duration_seconds(cfg.vault.token_ttl) > go_duration_seconds(cfg.vault.token_max_ttl):
        p.append((f"{k}vault.tokenTtl", cfg.vault.token_ttl, f"must be <= tokenMaxTtl ({cfg.vault.token_max_ttl})"))
    if go_duration_seconds(cfg.vault.token_ttl) < 1:
        p.append((f"{k}vault.tokenTtl", cfg.vault.token_ttl, "must be at least 1s"))
    if cfg.vault.mode == "external" and not cfg.vault.address:
        p.append((f"{k}vault.address", None, "required when vault.mode is external (an https:// URL)"))
    if cfg.vault.address is not None and not re.match(r"^https://[a-z0-9.-]+(:[0-9]+)?/?$", cfg.vault.address):
        p.append((f"{k}vault.address", cfg.vault.address, "must be an https:// URL of a Vault server"))
    if cfg.vault.mode == "in-cluster" and cfg.vault.address is not None:
        p.append((f"{k}vault.address", cfg.vault.address, "only allowed when vault.mode is external"))

    c = cfg.concourse
    if c.default_build_logs_to_retain > c.max_build_logs_to_retain:
        p.append(
            (
                f"{k}concourse.defaultBuildLogsToRetain",
                c.default_build_logs_to_retain,
                f"must be <= maxBuildLogsToRetain ({c.max_build_logs_to_retain})",
            )
        )
    if c.default_days_to_retain_build_logs > c.max_days_to_retain_build_logs:
        p.append(
            (
                f"{k}concourse.defaultDaysToRetainBuildLogs",
                c.default_days_to_retain_build_logs,
                f"must be <= maxDaysToRetainBuildLogs ({c.max_days_to_retain_build_logs})",
            )
        )

    for key, version in cfg.charts.items():
        if key not in catalog.CHARTS:
            p.append((f"{k}charts.{key}", version, f"must be a catalog chart: {', '.join(sorted(catalog.CHARTS))}"))
        elif not catalog.VERSION.match(version):
            p.append((f"{k}charts.{key}", version, "must be an exact chart version such as 1.2.3 (no ranges)"))

    if cfg.database.high_availability and cfg.database.sku_tier == "Burstable":
        p.append(
            (f"{k}database.skuTier", cfg.database.sku_tier, "high availability needs GeneralPurpose or MemoryOptimized")
        )

    try:
        cfg.naming.check()
    except NamingError as error:
        p.append((f"{k}name", cfg.name, str(error)))

    support = kubernetes_support(cfg, today or clock.today())
    if support is not None and support[0] == "error":
        p.append((f"{k}cluster.kubernetesVersion", cfg.cluster.kubernetes_version, support[1]))
    if cfg.cluster.long_term_support and cfg.cluster.sku_tier != "Premium":
        p.append((f"{k}cluster.skuTier", cfg.cluster.sku_tier, "must be Premium when longTermSupport is true"))
    p.extend(capacity.system_pool_problems(cfg))
    p.extend(upgrades.problems(cfg))
    p.extend(concourse.rollout_problems(cfg))

    if cfg.production:
        rules = [
            (
                "database.highAvailability",
                cfg.database.high_availability,
                cfg.database.high_availability,
                "must be true in production",
            ),
            ("concourse.webReplicas", c.web_replicas, c.web_replicas >= 2, "must be 2 or more in production"),
            (
                "cluster.skuTier",
                cfg.cluster.sku_tier,
                cfg.cluster.sku_tier != "Free",
                "must be Standard or Premium in production",
            ),
            (
                "cluster.disableLocalAccounts",
                cfg.cluster.disable_local_accounts,
                cfg.cluster.disable_local_accounts,
                "must be true in production",
            ),
            (
                "cluster.apiAuthorizedRanges",
                cfg.cluster.api_authorized_ranges,
                bool(cfg.cluster.api_authorized_ranges),
                "must list at least one range in production",
            ),
            (
                "vault.consulReplicas",
                cfg.vault.consul_replicas,
                cfg.vault.consul_replicas >= 3,
                "must be 3 or 5 in production",
            ),
            (
                "observability.elasticsearchNodes",
                cfg.observability.elasticsearch_nodes,
                cfg.observability.elasticsearch_nodes >= 3,
                "must be 3 or more in production",
            ),
            (
                "tls.acmeEnvironment",
                cfg.tls.acme_environment,
                cfg.tls.acme_environment == "production",
                "must be production in production",
            ),
        ]
        p.extend((f"{k}{key}", value, allowed) for key, value, ok, allowed in rules if not ok)
    return p


def secret(key: str) -> pulumi.Output[str] | None:
    """A person-supplied secret from SECRET_KEYS, as a Pulumi secret (validated as `secure:` by load())."""
    if key not in SECRET_KEYS:
        raise KeyError(f"{key} is not a declared secret key")
    return pulumi.Config(NAMESPACE).get_secret(key)
