"""Upstream facts cdstack pins: every Helm chart (repository, chart, pinned version, how long an install may take),
the images it overrides, the VM sizes node pools may use, and AKS's Kubernetes support calendar; and the list prices
and modelled create durations `make cost` and `make timeline` apply to the planned graph.

This is the one place chart versions live. A stack may override a version under `cdstack:charts` (that is how a
version is tried in staging and then promoted to prod); everything else reads `StackConfig.chart_version(key)`.
Versions are exact: Helm would accept a range and silently deploy something nobody reviewed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$")


@dataclass(frozen=True)
class Chart:
    repository: str
    chart: str
    version: str
    timeout_seconds: int
    """Helm's wait for this chart: long enough for its slowest first install (volumes, image pulls, elections)."""


CHARTS: dict[str, Chart] = {
    "traefik": Chart("https://traefik.github.io/charts", "traefik", "41.3.0", 600),
    "cert-manager": Chart("https://charts.jetstack.io", "cert-manager", "v1.21.1", 600),
    "consul": Chart("https://helm.releases.hashicorp.com", "consul", "2.0.3", 900),
    "vault": Chart("https://helm.releases.hashicorp.com", "vault", "0.34.1", 900),
    "concourse": Chart("https://concourse-charts.storage.googleapis.com/", "concourse", "20.1.3", 1800),
    "kube-prometheus-stack": Chart(
        "https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack", "88.5.3", 900
    ),
    # TLS and DNS probes from every node (monitoring.blackbox_values); app v0.28.0.
    "prometheus-blackbox-exporter": Chart(
        "https://prometheus-community.github.io/helm-charts", "prometheus-blackbox-exporter", "11.17.2", 300
    ),
    # PostgreSQL's Azure Monitor metrics for Prometheus (services/database_metrics.py); app 25.12.0. webdevops'
    # chart (github.com/webdevops/helm-charts charts/azure-metrics-exporter), maintained with the exporter.
    "azure-metrics-exporter": Chart(
        "https://webdevops.github.io/helm-charts/", "azure-metrics-exporter", "1.2.11", 300
    ),
    "influxdb2": Chart("https://helm.influxdata.com/", "influxdb2", "2.1.2", 600),
    "telegraf": Chart("https://helm.influxdata.com/", "telegraf", "1.8.74", 300),
    "eck-operator": Chart("https://helm.elastic.co", "eck-operator", "3.5.0", 600),
    "eck-stack": Chart("https://helm.elastic.co", "eck-stack", "0.20.0", 1800),
    # ElastAlert restarts until Elasticsearch first answers, which Helm does not wait for (it is a custom resource).
    "elastalert2": Chart("https://jertel.github.io/elastalert2/", "elastalert2", "2.31.0", 900),
    "chartmuseum": Chart("https://chartmuseum.github.io/charts", "chartmuseum", "3.10.4", 300),
}

PART_CHARTS: dict[str, tuple[str, ...]] = {
    "elasticsearch": ("eck-operator", "eck-stack", "elastalert2"),
    "influxdb": ("influxdb2", "telegraf"),
    "chartmuseum": ("chartmuseum",),
}
"""The charts of each optional part (`cdstack:parts`): a stack that leaves the part out deploys none of them."""
PART_IMAGES: dict[str, tuple[str, ...]] = {"influxdb": ("influxdb2",)}
"""The images only an optional part runs."""

IMAGES: dict[str, str] = {
    # The influxdb2 chart is stale (app 2.7.4, 2023): run a current 2.7.x image instead.
    "influxdb2": "2.7.12",
    # kube-prometheus-stack's CRD upgrade job unpacks the CRDs with busybox; the chart defaults to `latest`.
    "busybox": "1.37.0",
    # Vault's backup job: `consul snapshot save` with the Consul the consul chart runs (its values.yaml global.image),
    # then an upload with the Azure CLI logged in through workload identity (mcr.microsoft.com/azure-cli).
    "consul": "2.0.3",
    "azure-cli": "2.91.0",
    # Vault's servers: the vault chart's own default at 0.34.1 (values.yaml server.image.tag), pinned here so the
    # promotion gate and the smoke test (which compares it with what sys/health reports) know the version.
    "vault": "2.0.4",
    # The chart's appVersion, pinned here too so a chart bump never changes the exporter unreviewed.
    "azure-metrics-exporter": "25.12.0",
    # Elasticsearch's backup job runs a standard-library script (services/es_snapshot.py): the official image, at a
    # tag docker-library/official-images still builds (library/python, 2026-08-22), so it gets security rebuilds.
    "python": "3.14.7-alpine3.24",
    # The end-to-end smoke's task image (tools/smoke_e2e.py, curlimages/curl: sh, curl, tar, sha256sum, nslookup),
    # pulled by the workers like the canary's busybox: in the release set the smoke attests.
    "curl": "8.11.1",
}


@dataclass(frozen=True)
class VmSize:
    vcpus: int
    memory_gib: int
    quota_family: str
    """The regional vCPU quota this size draws from (`az vm list-usage` names it the same way)."""

    @property
    def temp_disk_gib(self) -> float:
        """The local temporary disk (TEMP_DISK_GIB_PER_VCPU; 0 for sizes without one): the Ddsv5/Dadsv5/Edsv5 sizes
        have no cache disk, so AKS places an ephemeral OS disk there, and it must fit."""
        return self.vcpus * TEMP_DISK_GIB_PER_VCPU.get(self.quota_family, 0)


def _series(family: str, pattern: str, sizes: tuple[int, ...], gib_per_vcpu: int) -> dict[str, VmSize]:
    return {pattern.format(n): VmSize(n, n * gib_per_vcpu, family) for n in sizes}


# The VM sizes a stack may use for node pools, with the facts capacity and quota checks need. Source: Microsoft
# Learn, "Sizes for virtual machines in Azure" (general purpose Dsv5/Ddsv5/Dasv5/Dadsv5, memory optimised
# Esv5/Edsv5), read 2026-11-29. Add a series here to allow it; a size not listed is refused at config time.
VM_SIZES: dict[str, VmSize] = {
    **_series("standardDSv5Family", "Standard_D{}s_v5", (2, 4, 8, 16, 32, 48, 64, 96), 4),
    **_series("standardDDSv5Family", "Standard_D{}ds_v5", (2, 4, 8, 16, 32, 48, 64, 96), 4),
    **_series("standardDASv5Family", "Standard_D{}as_v5", (2, 4, 8, 16, 32, 48, 64, 96), 4),
    **_series("standardDADSv5Family", "Standard_D{}ads_v5", (2, 4, 8, 16, 32, 48, 64, 96), 4),
    **_series("standardESv5Family", "Standard_E{}s_v5", (2, 4, 8, 16, 20, 32, 48, 64), 8),
    **_series("standardEDSv5Family", "Standard_E{}ds_v5", (2, 4, 8, 16, 20, 32, 48, 64), 8),
}


@dataclass(frozen=True)
class KubernetesMinor:
    end_of_support: date
    """The first day of the month AKS's calendar gives as the minor's end of life: from then on AKS creates no new
    cluster at that minor and upgrades existing ones (Premium tier with long-term support aside)."""


# AKS's release calendar. Source: Microsoft Learn, AKS "Supported Kubernetes versions", release calendar table,
# read 2026-11-29 (month granularity there; the first day of the month here, to warn and refuse early, not late).
# Add the next minor when AKS publishes it; a minor that is not listed is refused. Never list one below 1.32: the
# Concourse chart deletes a retired worker's volume claim (PVC retention policy) only from Kubernetes 1.32 on.
KUBERNETES_MINORS: dict[str, KubernetesMinor] = {
    "1.33": KubernetesMinor(date(2026, 7, 1)),
    "1.34": KubernetesMinor(date(2026, 11, 1)),
    "1.35": KubernetesMinor(date(2027, 3, 1)),
    "1.36": KubernetesMinor(date(2027, 6, 1)),
    "1.37": KubernetesMinor(date(2027, 10, 1)),
}

SUPPORT_WARNING_DAYS = 60
"""The plan warns this many days before a pinned minor's end of support: time to run the upgrade through staging."""


def kubernetes_support(version: str, today: date, long_term_support: bool) -> tuple[str, str] | None:
    """Whether AKS still supports `version` (minor or minor.patch) on `today`: None when it does with time to
    spare, ("warning", why) within SUPPORT_WARNING_DAYS of the end, ("error", why) when unknown or past it."""
    minor = ".".join(version.split(".")[:2])
    known = KUBERNETES_MINORS.get(minor)
    if known is None:
        return "error", f"must be a minor in AKS's support calendar ({', '.join(KUBERNETES_MINORS)}; catalog.py)"
    days_left = (known.end_of_support - today).days
    if days_left <= 0 and not long_term_support:
        return "error", (
            f"AKS support for {minor} ended {known.end_of_support.isoformat()}; choose a newer minor "
            "(or skuTier Premium with longTermSupport)"
        )
    if days_left <= SUPPORT_WARNING_DAYS:
        return "warning", f"AKS support for {minor} ends {known.end_of_support.isoformat()} ({days_left} days)"
    return None


# The Azure regions a stack may be placed in: public regions with availability zones, without access restrictions.
# Every node pool spreads over zones 1-3 and the database's HA standby is zone-redundant, so a region without zones
# would fail at `pulumi up`. Source: Microsoft Learn, "Azure regions list" (learn.microsoft.com/azure/reliability/
# regions-list, ms.date 2025-09-23; rows with availability zone support, neither "restricted" nor "coming soon"),
# read 2026-11-29. The names are the programmatic names ARM and `az account list-locations` use.
# Defender for Containers (cluster.defender) runs in every region listed: its support matrix gives the AKS sensor's
# features (runtime threat detection, running-image assessment) as available in the commercial clouds
# (learn.microsoft.com/azure/defender-for-cloud/support-matrix-defender-for-containers, "Azure clouds availability",
# read 2026-12-03), and every region here is a commercial one. The regions without it are the national clouds' (Azure
# Government; Azure operated by 21Vianet, where Defender for Cloud is being retired in 2026), which are not listed, so
# a stack placed there is refused by this list (tests/test_config.py plants one with Defender on).
REGIONS: frozenset[str] = frozenset(
    {
        "australiaeast",
        "austriaeast",
        "belgiumcentral",
        "brazilsouth",
        "canadacentral",
        "centralindia",
        "centralus",
        "chilecentral",
        "eastasia",
        "eastus",
        "eastus2",
        "francecentral",
        "germanywestcentral",
        "indonesiacentral",
        "israelcentral",
        "italynorth",
        "japaneast",
        "japanwest",
        "koreacentral",
        "malaysiawest",
        "mexicocentral",
        "newzealandnorth",
        "northeurope",
        "norwayeast",
        "polandcentral",
        "qatarcentral",
        "southafricanorth",
        "southcentralus",
        "southeastasia",
        "spaincentral",
        "swedencentral",
        "switzerlandnorth",
        "uaenorth",
        "uksouth",
        "westeurope",
        "westus2",
        "westus3",
    }
)


@dataclass(frozen=True)
class PostgresSku:
    tier: str
    vcores: int
    memory_gib: int


def _postgres_series(tier: str, pattern: str, sizes: dict[int, int]) -> dict[str, PostgresSku]:
    return {pattern.format(n): PostgresSku(tier, n, gib) for n, gib in sizes.items()}


# The PostgreSQL flexible server compute SKUs a stack may use, by tier (Azure refuses a SKU outside its tier).
# Source: Microsoft Learn, "Compute options in Azure Database for PostgreSQL" (learn.microsoft.com/azure/postgresql/
# configure-maintain/concepts-compute, table "SKU name / vCores / Memory size"), read 2026-11-29.
def postgres_user_connections(sku: PostgresSku) -> int:
    """Connections the server accepts from users at its default max_connections, which Azure derives from memory,
    less the 15 Azure reserves for replication and monitoring. Source: Microsoft Learn, "Limits in Azure Database
    for PostgreSQL flexible server", maximum connections table, read 2026-11-29."""
    by_memory = {2: 35, 4: 414, 8: 844, 16: 1703, 32: 3422}
    return by_memory.get(sku.memory_gib, 4985)


POSTGRES_SKUS: dict[str, PostgresSku] = {
    "Standard_B1ms": PostgresSku("Burstable", 1, 2),
    "Standard_B2s": PostgresSku("Burstable", 2, 4),
    **_postgres_series("Burstable", "Standard_B{}ms", {2: 8, 4: 16, 8: 32, 12: 48, 16: 64, 20: 80}),
    **_postgres_series("GeneralPurpose", "Standard_D{}ds_v5", {n: 4 * n for n in (2, 4, 8, 16, 32, 48, 64, 96)}),
    **_postgres_series("GeneralPurpose", "Standard_D{}ds_v4", {n: 4 * n for n in (2, 4, 8, 16, 32, 48, 64)}),
    **_postgres_series(
        "MemoryOptimized",
        "Standard_E{}ds_v5",
        {2: 16, 4: 32, 8: 64, 16: 128, 20: 160, 32: 256, 48: 384, 64: 512, 96: 672},
    ),
}


# ---------------------------------------------------------------------------------------------------------------------
# Prices: what `make cost` multiplies the planned graph's quantities by.


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    """What one `usd` buys: `hour`, `month`, `GiB-month`, `10k operations`."""
    source: str
    regions: tuple[str, ...] = ("*",)
    """Regions the price holds in; `*`: the source publishes one list price without naming a region."""


PRICES_TAKEN = date(2026, 11, 29)
"""When the prices below were read. Azure changes list prices; re-read them (and this date) before relying on them."""

# Microsoft Defender for Containers (`defender/containers`, per vCore-hour of the nodes) has no entry: searched for on
# 2026-12-03 (issue 24), and again that day for its follow-up: no stored source states its list price. Microsoft's
# pricing page is out of reach; the Microsoft Learn pages found (the Defender for Containers tutorial, the pricings
# REST API) only point to it, and third-party summaries either give no figure or are not Microsoft's. So `make cost`
# shows it as unknown until someone with network adds it from
# https://azure.microsoft.com/pricing/details/defender-for-cloud/ with its source and date.
# Azure pay-as-you-go list prices in US dollars. Only prices a published source states are listed; a priced item with no
# entry here (in westeurope today: the PostgreSQL flexible server's compute, storage and geo-redundant backup, and the
# private DNS zone) is reported as "unknown" by `make cost`, never as zero. Azure's own price API and calculator are out
# of reach from here; the westeurope VM, disk and blob prices come from a public snapshot of that API (below), each
# with the snapshot's date. Add or refresh a region's figure from https://prices.azure.com/api/retail/prices (filter
# `armRegionName eq '<region>' and priceType eq 'Consumption'`) with its source.
# PostgreSQL flexible server, searched for again on 2026-12-03 (issue 26): the snapshot above holds VM and storage
# meters only (data/latest/vm-*.json, storage-*.json), and the public copies of the API's PostgreSQL rows found
# (products `... Flexible Server General Purpose Ddsv5 Series Compute`, `... Burstable BS Series Compute`,
# `Az DB for PostgreSQL Flexible Server Storage`) are for eastus, westus, westus2 and japaneast, never westeurope;
# another region's figure is not westeurope's, so compute and storage stay unknown and the staging-share rule says
# it cannot judge.
_RETAIL_SNAPSHOT = (
    "Azure Retail Prices API (api-version 2023-01-01-preview), westeurope, Consumption, as snapshotted in "
    "github.com/andy-diericks/azure-pricing-radar "
)
_VM_SNAPSHOT = _RETAIL_SNAPSHOT + "data/latest/vm-eu-west.json @1b7f554 (fetched 2026-08-20); Linux meter"
_STORAGE_SNAPSHOT = _RETAIL_SNAPSHOT + "data/latest/storage-eu-west.json @25ddcc8 (fetched 2026-07-15)"
_WESTEUROPE = ("westeurope",)


def _vm_prices(usd_per_hour: dict[str, float]) -> dict[str, Price]:
    """Linux pay-as-you-go hourly prices of VM sizes in westeurope (product `Virtual Machines <series> Series`)."""
    return {f"vm/{size}": Price(usd, "hour", _VM_SNAPSHOT, _WESTEUROPE) for size, usd in usd_per_hour.items()}


def _disk_prices(usd_per_month: dict[str, float]) -> dict[str, Price]:
    """Managed disks by billing tier, LRS, per disk-month (meters `<tier> LRS Disk` of Standard/Premium SSD Managed
    Disks) in westeurope."""
    return {f"disk/{tier}": Price(usd, "month", _STORAGE_SNAPSHOT, _WESTEUROPE) for tier, usd in usd_per_month.items()}


PRICES: dict[str, Price] = {
    # AKS control plane: Free tier has no charge, Standard costs per cluster-hour (one price in every public region).
    "aks-tier/Free": Price(0.0, "hour", "https://techmarmot.com/post/6188/ (AKS pricing tiers table)"),
    "aks-tier/Standard": Price(0.10, "hour", "https://techmarmot.com/post/6188/ (AKS pricing tiers table)"),
    # Standard load balancer: first five rules included (AKS's outbound and ingress rules stay within that here).
    "load-balancer/Standard": Price(0.025, "hour", "https://c3x.dev/resources/azure/azurerm_lb"),
    "public-ip/Standard": Price(0.005, "hour", "https://c3x.dev/resources/azure/azurerm_public_ip"),
    "key-vault/Standard": Price(
        0.03,
        "10k operations",
        "https://learn.microsoft.com/en-us/answers/questions/5608202/how-to-correctly-estimate-azure-key-vault-cost",
    ),
    **_vm_prices(
        {"Standard_D2ds_v5": 0.136, "Standard_D4ds_v5": 0.272, "Standard_D8ds_v5": 0.544, "Standard_D16ds_v5": 1.088}
    ),
    **_disk_prices(
        {
            "E3": 1.2,
            "E4": 2.4,
            "E6": 4.8,
            "E10": 9.6,
            "E15": 19.2,
            "E20": 38.4,
            "E30": 76.8,
            "P3": 3.12,
            "P4": 5.8072,
            "P6": 11.2272,
            "P10": 21.68,
            "P15": 41.811428,
            "P20": 80.54,
            "P30": 148.68,
        }
    ),
    # General Block Blob v2 (StorageV2, default Hot tier), meter `Hot ZRS Data Stored`. The snapshot keeps one row per
    # meter and this meter has volume tiers (first 50 TB, next 450 TB, over 500 TB), so the figure may be a higher
    # tier's rate: a lower bound for the first tier, which the 10 GiB estimated per account pays. Cents either way.
    "storage/Standard_ZRS": Price(
        0.02208, "GiB-month", _STORAGE_SNAPSHOT + "; may be a volume tier's rate", _WESTEUROPE
    ),
}


def price(key: str, region: str) -> Price | None:
    """The list price of `key` in `region`, or None when no source gave one (the report then says "unknown")."""
    found = PRICES.get(key)
    if found is None or ("*" not in found.regions and region not in found.regions):
        return None
    return found


# Managed disk tiers: a disk is billed as the smallest tier at least its size (Standard SSD `E<n>`, Premium SSD
# `P<n>`, the same sizes). Source: Microsoft Learn, "Azure managed disk types" and "Understand Azure Disk Storage
# billing" (a disk is billed at the next provisioned size), read 2026-11-29.
DISK_TIER_GIB: dict[str, int] = {
    "1": 4, "2": 8, "3": 16, "4": 32, "6": 64, "10": 128, "15": 256, "20": 512,
    "30": 1024, "40": 2048, "50": 4096, "60": 8192, "70": 16384, "80": 32767,
}  # fmt: skip
DISK_SKU_PREFIX = {"StandardSSD_LRS": "E", "Premium_LRS": "P"}

# AKS's built-in storage classes and the disk SKU behind each. Source: Microsoft Learn, AKS "Storage options":
# `default` and `managed-csi` are Standard SSD LRS, `managed-csi-premium` and `managed-premium` Premium SSD LRS.
STORAGE_CLASS_DISK_SKU: dict[str, str] = {
    "default": "StandardSSD_LRS",
    "managed-csi": "StandardSSD_LRS",
    "managed": "StandardSSD_LRS",
    "managed-csi-premium": "Premium_LRS",
    "managed-premium": "Premium_LRS",
}

TEMP_DISK_GIB_PER_VCPU: dict[str, float] = {
    "standardDDSv5Family": 37.5,
    "standardDADSv5Family": 37.5,
    "standardEDSv5Family": 37.5,
}
"""Local temporary disk per vCPU of the `d` sizes (D4ds_v5: 150 GiB). AKS puts the OS disk on it (ephemeral, no disk
charge) when the requested OS disk fits; other sizes get a managed Premium SSD OS disk. Sources: Microsoft Learn,
"Ddsv5 sizes" / "Edsv5 sizes" and AKS "Ephemeral OS disk" (default when the VM supports it), read 2026-11-29."""


def disk_tier(sku: str, size_gib: float) -> str:
    """The billing tier of a managed disk, for example `E15` for a 200 GiB Standard SSD."""
    for tier, gib in DISK_TIER_GIB.items():
        if size_gib <= gib:
            return DISK_SKU_PREFIX[sku] + tier
    raise ValueError(f"{size_gib} GiB exceeds the largest managed disk tier")


# ---------------------------------------------------------------------------------------------------------------------
# Durations: how long a first `pulumi up` spends creating each kind of resource (`make timeline`).


@dataclass(frozen=True)
class Duration:
    seconds: int
    source: str


# Modelled create times: typical, not worst case (worst cases are the Helm timeouts in CHARTS). Keys are resource
# types, or `release/<chart key>` for a Helm release (the time until Helm's wait is satisfied: the chart's pods
# ready, image pulls and volume binding included; custom resources a chart creates are not waited for by Helm).
# Types not listed take DEFAULT_DURATION. "estimate" marks a figure no published source states.
DURATIONS: dict[str, Duration] = {
    "azure-native:containerservice:ManagedCluster": Duration(
        420,
        "estimate: Microsoft Learn's AKS quickstart says creation 'takes a few minutes'; kubedex.com (2019) quotes "
        "AKS's claim of 5-6 min (its 2018 runs averaged 17:52); 7 min assumed",
    ),
    "azure-native:containerservice:AgentPool": Duration(240, "estimate: a node pool is VMSS creation plus node join"),
    "azure-native:dbforpostgresql:Server": Duration(
        420, "estimate: Microsoft Learn's flexible server quickstart says 'a few minutes'; 7 min assumed"
    ),
    "azure-native:dbforpostgresql:Server/ha": Duration(
        600, "estimate: zone-redundant HA also provisions and seeds a standby in a second zone (10 min assumed)"
    ),
    "azure-native:dbforpostgresql:Configuration": Duration(30, "estimate: a server parameter update"),
    "azure-native:dbforpostgresql:Database": Duration(20, "estimate"),
    "azure-native:keyvault:Vault": Duration(60, "estimate"),
    "azure-native:storage:StorageAccount": Duration(30, "estimate"),
    "azure-native:network:VirtualNetwork": Duration(15, "estimate"),
    "azure-native:network:Subnet": Duration(15, "estimate"),
    "azure-native:privatedns:PrivateZone": Duration(45, "estimate"),
    "azure-native:privatedns:VirtualNetworkLink": Duration(45, "estimate"),
    "azure-native:authorization:RoleAssignment": Duration(20, "estimate"),
    "azure-native:dns:RecordSet": Duration(
        60, "Azure DNS FAQ: record changes reach Azure's name servers within 60 seconds (propagation)"
    ),
    "kubernetes:core/v1:Namespace": Duration(2, "estimate: one API call"),
    "kubernetes:core/v1:Secret": Duration(2, "estimate: one API call"),
    "kubernetes:core/v1:ConfigMap": Duration(2, "estimate: one API call"),
    "random:index/randomPassword:RandomPassword": Duration(0, "local"),
    "random:index/randomString:RandomString": Duration(0, "local"),
    "pulumi:providers:kubernetes": Duration(0, "local"),
    "release/traefik": Duration(60, "estimate: one Deployment and its load balancer Service"),
    "release/cert-manager": Duration(90, "estimate: three Deployments, CRDs, the webhook answering"),
    # Off prod's critical path since Concourse no longer waits for Vault (components/vault/access.py).
    "release/consul": Duration(
        240,
        "estimate, on the slow side: hashicorp/consul-helm#10 shows a fresh 3-server install all Ready at about 2 min "
        "(server volumes ~50 s); Azure disk attach and leader election assumed slower",
    ),
    "release/vault": Duration(
        90,
        "estimate: servers start with their volumes (Raft) or once Consul answers; Ready while not yet initialised "
        "(services/secrets.py)",
    ),
    "release/concourse": Duration(240, "estimate: web migrates the database and answers (the web release)"),
    "release/concourse/workers": Duration(
        240, "estimate: a worker generation on nodes the pool has: volumes bound, Garden and Baggageclaim answering"
    ),
    # An upgrade's new worker generation finds the pool full of the old one: it waits for the nodes it asks for.
    "azure-native:containerservice:AgentPool/scale-out": Duration(
        240, "estimate: the cluster autoscaler's new VMSS instances created and joined, as a pool's creation"
    ),
    "release/kube-prometheus-stack": Duration(180, "estimate: operator, Prometheus volume, Grafana"),
    "release/influxdb2": Duration(90, "estimate: one StatefulSet with a volume"),
    "release/telegraf": Duration(45, "estimate: one Deployment"),
    "release/eck-operator": Duration(60, "estimate: the operator StatefulSet and its webhook"),
    # Helm's wait covers Pods, Deployments, StatefulSets, DaemonSets, Services and claims, never custom resources
    # (Helm docs, `helm install --wait`): eck-stack's release is done once its Elasticsearch, Kibana and Beat
    # resources exist. ElastAlert's pods are ready only once Elasticsearch answers, so its wait holds the cluster's
    # forming (volumes bound, nodes joined, about 6 minutes: estimate) plus its own start.
    "release/eck-stack": Duration(30, "Helm docs (--wait skips custom resources); estimate for the API calls"),
    # ElastAlert's release is not awaited (services/logging.py): Helm applies it and returns. Its pod still starts
    # only once Elasticsearch has formed (about 6 minutes, then 1.5 minutes of its own: estimate), after `up`.
    "release/unawaited": Duration(10, "estimate: Helm applies a few manifests and returns (skipAwait)"),
    "release/chartmuseum": Duration(45, "estimate: one Deployment"),
    "release/azure-metrics-exporter": Duration(30, "estimate: one small Deployment (a static Go binary)"),
    # The internal CA's certificates: pulumi-kubernetes waits for Ready (pulumi.com/waitFor); a selfSigned or CA
    # issuer signs inside cert-manager's controller, so Ready follows the request within seconds.
    "kubernetes:cert-manager.io/v1:Certificate": Duration(10, "estimate: in-process signing by a CA issuer"),
    "certificate": Duration(
        60, "estimate: cert-manager's HTTP-01 order after DNS answers; after `up`, which does not wait for it"
    ),
}
DEFAULT_DURATION = Duration(10, "estimate: an ordinary create call")
