"""Upstream facts cdstack pins: every Helm chart (repository, chart, pinned version, how long an install may take),
the images it overrides, the VM sizes node pools may use, and AKS's Kubernetes support calendar.

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
    "influxdb2": Chart("https://helm.influxdata.com/", "influxdb2", "2.1.2", 600),
    "telegraf": Chart("https://helm.influxdata.com/", "telegraf", "1.8.74", 300),
    "eck-operator": Chart("https://helm.elastic.co", "eck-operator", "3.5.0", 600),
    "eck-stack": Chart("https://helm.elastic.co", "eck-stack", "0.20.0", 1800),
    # ElastAlert restarts until Elasticsearch first answers, which Helm does not wait for (it is a custom resource).
    "elastalert2": Chart("https://jertel.github.io/elastalert2/", "elastalert2", "2.31.0", 900),
    "chartmuseum": Chart("https://chartmuseum.github.io/charts", "chartmuseum", "3.10.4", 300),
}

IMAGES: dict[str, str] = {
    # The influxdb2 chart is stale (app 2.7.4, 2023): run a current 2.7.x image instead.
    "influxdb2": "2.7.12",
}


@dataclass(frozen=True)
class VmSize:
    vcpus: int
    memory_gib: int
    quota_family: str
    """The regional vCPU quota this size draws from (`az vm list-usage` names it the same way)."""


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
