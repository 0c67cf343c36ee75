"""What a stack costs a month, from its planned graph: every priced resource `pulumi up` would create, at the worker
pool's autoscaler minimum and maximum, priced from the catalog's list prices.

    python -m tools.cost prod                  line items per component, minimum and maximum per month
    python -m tools.cost staging prod          both side by side, with the ratio (and the staging-share rule)
    python -m tools.cost infra staging prod    any number side by side (`make cost` runs every stack file)
    python -m tools.cost prod --rendered DIR   volume claims from rendered manifests (one YAML file per release;
                                               default rendered/<stack>/ when `make render` has written it)

Quantities come from the offline plan (the same registrations `pulumi up` would make), so a new resource shows in the
bill. Volume claims come from the rendered manifests when a folder of them is given (`make render` of the Helm
tooling), otherwise from the Helm values the plan records; each line says which. A price no source gave is reported
as unknown, and totals say what they leave out: never a silent zero.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components import catalog, naming
from tools import offline

HOURS_PER_MONTH = 730
"""Azure's pricing calculator bills a month as 730 hours."""

KEY_VAULT_OPERATIONS_PER_MONTH = 50_000
"""An estimate: Vault's auto-unseal unwraps at every server start and Pulumi reads the key on every `up`; a few
thousand a day at most. Key Vault bills per 10,000 operations."""

STORAGE_ACCOUNT_GIB = 10
"""An estimate of ChartMuseum's charts in blob storage (the account's only data)."""

RENDERED_DIR = offline.PROJECT_DIR / "rendered"
"""Where `make render STACK=<stack>` (tools/render.py) writes `<stack>/<release>.yaml`; git-ignored."""

DEFAULT_STORAGE_CLASS = "default"
"""What a claim without a storage class gets on AKS (Standard SSD LRS)."""

CLUSTER = "azure-native:containerservice:ManagedCluster"
AGENT_POOL = "azure-native:containerservice:AgentPool"
POSTGRES = "azure-native:dbforpostgresql:Server"
PUBLIC_IP = "azure-native:network:PublicIPAddress"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
KEY_VAULT = "azure-native:keyvault:Vault"
PRIVATE_ZONE = "azure-native:privatedns:PrivateZone"
DNS_ZONE = "azure-native:dns:Zone"
RELEASE = "kubernetes:helm.sh/v3:Release"


@dataclass(frozen=True)
class Line:
    """One priced quantity: `low`/`high` units a month at the autoscaler's minimum/maximum."""

    component: str
    item: str
    price_key: str
    low: float
    high: float
    unit: str
    source: str
    """Where the quantity comes from: plan, values, rendered or estimate."""


@dataclass(frozen=True)
class Priced:
    line: Line
    price: catalog.Price | None

    @property
    def low(self) -> float | None:
        return None if self.price is None else self.line.low * self.price.usd

    @property
    def high(self) -> float | None:
        return None if self.price is None else self.line.high * self.price.usd


@dataclass(frozen=True)
class Report:
    stack: str
    region: str
    items: list[Priced]

    @property
    def low(self) -> float:
        return sum(p.low for p in self.items if p.low is not None)

    @property
    def high(self) -> float:
        return sum(p.high for p in self.items if p.high is not None)

    @property
    def unknown(self) -> list[Line]:
        return [p.line for p in self.items if p.price is None]


@dataclass(frozen=True)
class Claim:
    """Persistent volume claims of one kind: `count` claims of `size_gib` in `storage_class`."""

    release: str
    name: str
    count: int
    size_gib: float
    storage_class: str


# ---------------------------------------------------------------------------------------------------------------------
# Quantities from the plan


def gib(quantity: str | int | float) -> float:
    """A Kubernetes storage quantity (`20Gi`, `1Ti`, `500Mi`, `10G`) in GiB."""
    text = str(quantity)
    match = re.fullmatch(r"([0-9.]+)\s*(Ki|Mi|Gi|Ti|K|M|G|T)?", text)
    if not match:
        raise ValueError(f"not a storage quantity: {quantity!r}")
    number, unit = float(match.group(1)), match.group(2) or ""
    factor = {"": 2**-30, "Ki": 2**-20, "Mi": 2**-10, "Gi": 1, "Ti": 2**10}.get(unit)
    if factor is None:  # decimal units
        factor = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[unit] / 2**30
    return number * factor


def _dig(values: Any, *path: str, default: Any = None) -> Any:
    """`values[path[0]][path[1]]...`, or `default` where a level is missing."""
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return default
        values = values[key]
    return values


def claims_from_values(chart: str, release: str, values: dict[str, Any]) -> list[Claim]:
    """The volume claims a chart creates for these values, where the chart's templates create claims at all.

    Chart defaults apply where the values say nothing (read from each chart's values.yaml and templates at the
    pinned version). Only the charts cdstack installs are known; the rendered path covers everything else."""
    if chart == "consul":
        server = values.get("server", {})
        return [
            Claim(release, "consul-server data", int(server.get("replicas", 1)), gib(server.get("storage", "10Gi")),
                  server.get("storageClass") or DEFAULT_STORAGE_CLASS)
        ]  # fmt: skip
    if chart == "vault":
        # vault 0.34.1 _helpers.tpl vault.volumeclaims: a `data` claim per server in HA mode only with Raft on.
        storage = values.get("server", {}).get("dataStorage", {})
        if not _dig(values, "server", "ha", "raft", "enabled", default=False) or not storage.get("enabled", True):
            return []
        return [
            Claim(release, "vault data", int(_dig(values, "server", "ha", "replicas", default=3)),
                  gib(storage.get("size", "10Gi")), storage.get("storageClass") or DEFAULT_STORAGE_CLASS)
        ]  # fmt: skip
    if chart == "concourse":
        worker = _dig(values, "persistence", "worker", default={})
        # The web release (worker.enabled false) renders no worker StatefulSet, so no claim template.
        if not all(_dig(values, key, "enabled", default=True) for key in ("persistence", "worker")):
            return []
        return [
            Claim(release, "concourse-worker", int(_dig(values, "worker", "replicas", default=2)),
                  gib(worker.get("size", "20Gi")), worker.get("storageClass") or DEFAULT_STORAGE_CLASS)
        ]  # fmt: skip
    if chart == "kube-prometheus-stack":
        spec = _dig(values, "prometheus", "prometheusSpec", "storageSpec", "volumeClaimTemplate", "spec")
        if not spec:
            return []
        replicas = int(_dig(values, "prometheus", "prometheusSpec", "replicas", default=1))
        return [
            Claim(release, "prometheus", replicas, gib(spec["resources"]["requests"]["storage"]),
                  spec.get("storageClassName") or DEFAULT_STORAGE_CLASS)
        ]  # fmt: skip
    if chart == "influxdb2":
        persistence = values.get("persistence", {})
        if not persistence.get("enabled", True):
            return []
        return [
            Claim(release, "influxdb2", 1, gib(persistence.get("size", "50Gi")),
                  persistence.get("storageClass") or DEFAULT_STORAGE_CLASS)
        ]  # fmt: skip
    if chart == "eck-stack":
        claims = []
        for node_set in _dig(values, "eck-elasticsearch", "nodeSets", default=[]):
            for template in node_set.get("volumeClaimTemplates", []):
                spec = template.get("spec", {})
                claims.append(
                    Claim(release, f"elasticsearch {node_set.get('name', '')}".strip(), int(node_set.get("count", 1)),
                          gib(spec["resources"]["requests"]["storage"]),
                          spec.get("storageClassName") or DEFAULT_STORAGE_CLASS)
                )  # fmt: skip
        return claims
    return []


def claims_from_manifests(release: str, documents: list[dict[str, Any]]) -> list[Claim]:
    """The volume claims in rendered manifests: PersistentVolumeClaims, StatefulSets' claim templates (times their
    replicas) and Elasticsearch node sets' claim templates (times their count)."""
    claims: list[Claim] = []

    def add(name: str, count: int, spec: dict[str, Any]) -> None:
        size = _dig(spec, "resources", "requests", "storage")
        if size is not None:
            claims.append(Claim(release, name, count, gib(size), spec.get("storageClassName") or DEFAULT_STORAGE_CLASS))

    for doc in documents:
        kind, name = doc.get("kind"), _dig(doc, "metadata", "name", default="")
        if kind == "PersistentVolumeClaim":
            add(name, 1, doc.get("spec", {}))
        elif kind == "StatefulSet":
            for template in _dig(doc, "spec", "volumeClaimTemplates", default=[]):
                add(f"{name}/{_dig(template, 'metadata', 'name')}", int(_dig(doc, "spec", "replicas", default=1)),
                    template.get("spec", {}))  # fmt: skip
        elif kind == "Elasticsearch":
            for node_set in _dig(doc, "spec", "nodeSets", default=[]):
                for template in node_set.get("volumeClaimTemplates", []):
                    add(f"{name}/{node_set.get('name')}", int(node_set.get("count", 1)), template.get("spec", {}))
    return claims


def read_rendered(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Rendered manifests per release: `<release>.yaml` files (multi-document) in `folder`."""
    return {
        path.stem: [doc for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict)]
        for path in sorted(folder.glob("*.yaml"))
    }


def _vm_lines(
    component: str, pool: str, vm_size: str, low: int, high: int, os_disk_gib: float, os_disk_type: str | None
) -> list[Line]:
    lines = [Line(component, f"{pool} nodes {vm_size}", f"vm/{vm_size}", low * HOURS_PER_MONTH,
                  high * HOURS_PER_MONTH, "node-hours", "plan")]  # fmt: skip
    size = catalog.VM_SIZES.get(vm_size)
    temp = size.temp_disk_gib if size else 0
    # Unset, AKS picks ephemeral when the OS disk fits the temp disk; Managed is a Premium SSD whatever the size.
    if os_disk_type == "Managed" or os_disk_gib > temp:
        tier = catalog.disk_tier("Premium_LRS", os_disk_gib)
        lines.append(Line(component, f"{pool} OS disks {tier} ({os_disk_gib:g} GiB)", f"disk/{tier}", low, high,
                          "disk-months", "plan"))  # fmt: skip
    return lines


def _vcores(vm_size: str) -> int:
    size = catalog.VM_SIZES.get(vm_size)
    return size.vcpus if size else 0


def _defender_lines(plan: offline.Plan) -> list[Line]:
    """Defender for Containers bills every vCore of the nodes it watches, per hour: the pools' vCPUs at the
    autoscaler's minimum and maximum."""
    if not any(_dig(c.inputs, "securityProfile", "defender", "securityMonitoring", "enabled") for c in
               plan.by_type(CLUSTER)):  # fmt: skip
        return []
    low = high = 0
    for cluster in plan.by_type(CLUSTER):
        for profile in cluster.inputs.get("agentPoolProfiles", []):
            low += _vcores(profile["vmSize"]) * int(profile.get("count", 1))
            high += _vcores(profile["vmSize"]) * int(profile.get("count", 1))
    for pool in plan.by_type(AGENT_POOL):
        inputs = pool.inputs
        count = int(inputs.get("count", 1))
        auto = inputs.get("enableAutoScaling")
        low += _vcores(inputs["vmSize"]) * (int(inputs["minCount"]) if auto else count)
        high += _vcores(inputs["vmSize"]) * (int(inputs["maxCount"]) if auto else count)
    return [Line("Security", "Defender for Containers (node vCores)", "defender/containers", low * HOURS_PER_MONTH,
                 high * HOURS_PER_MONTH, "vCore-hours", "plan")]  # fmt: skip


def lines_of(plan: offline.Plan, rendered: dict[str, list[dict[str, Any]]] | None = None) -> list[Line]:
    """Every priced quantity in a planned graph."""
    lines: list[Line] = _defender_lines(plan)
    for cluster in plan.by_type(CLUSTER):
        inputs = cluster.inputs
        tier = _dig(inputs, "sku", "tier", default="Free")
        lines.append(Line("AKS", f"control plane ({tier} tier)", f"aks-tier/{tier}", HOURS_PER_MONTH,
                          HOURS_PER_MONTH, "cluster-hours", "plan"))  # fmt: skip
        for profile in inputs.get("agentPoolProfiles", []):
            count = int(profile.get("count", 1))
            low, high = int(profile.get("minCount", count)), int(profile.get("maxCount", count))
            if not profile.get("enableAutoScaling"):
                low = high = count
            lines += _vm_lines("AKS", f"{profile.get('name')} pool", profile["vmSize"], low, high,
                               float(profile.get("osDiskSizeGB", 128)), profile.get("osDiskType"))  # fmt: skip
        # AKS creates one Standard load balancer and one outbound public IP for `outboundType: loadBalancer`.
        if _dig(inputs, "networkProfile", "loadBalancerSku", default="standard").lower() == "standard":
            lines.append(Line("Networking", "AKS Standard load balancer", "load-balancer/Standard", HOURS_PER_MONTH,
                              HOURS_PER_MONTH, "hours", "plan"))  # fmt: skip
            outbound = int(_dig(inputs, "networkProfile", "loadBalancerProfile", "managedOutboundIPs", "count",
                                default=1))  # fmt: skip
            lines.append(Line("Networking", "AKS outbound public IP", "public-ip/Standard", outbound * HOURS_PER_MONTH,
                              outbound * HOURS_PER_MONTH, "IP-hours", "plan"))  # fmt: skip
    workers = _worker_autoscaling_max(plan)
    for pool in plan.by_type(AGENT_POOL):
        inputs = pool.inputs
        count = int(inputs.get("count", 1))
        low, high = (int(inputs["minCount"]), int(inputs["maxCount"])) if inputs.get("enableAutoScaling") else (
            count, count)  # fmt: skip
        name, disk = f"{inputs.get('agentPoolName', pool.name)} pool", float(inputs.get("osDiskSizeGB", 128))
        disk_type = inputs.get("osDiskType")
        surge = high - workers if _is_worker_pool(inputs) and workers is not None and low <= workers < high else 0
        lines += _vm_lines("AKS", name, inputs["vmSize"], low, high - surge, disk, disk_type)
        if surge:
            # Nodes only a Concourse upgrade asks for: the new worker generation beside the old one while the old
            # drains (concourse_limits.worker_pool_max_nodes). The maximum counts them all month, as for any node.
            lines += _vm_lines("AKS", f"{name} generation surge", inputs["vmSize"], 0, surge,
                               disk, disk_type)  # fmt: skip
    for server in plan.by_type(POSTGRES):
        inputs = server.inputs
        sku, tier = _dig(inputs, "sku", "name"), _dig(inputs, "sku", "tier")
        ha = _dig(inputs, "highAvailability", "mode", default="Disabled") not in ("Disabled", None)
        servers = 2 if ha else 1  # a zone-redundant standby is billed like the primary
        item = f"compute {tier} {sku}" + (" x2 (HA standby)" if ha else "")
        lines.append(Line("PostgreSQL", item, f"postgres/{tier}/{sku}", servers * HOURS_PER_MONTH,
                          servers * HOURS_PER_MONTH, "server-hours", "plan"))  # fmt: skip
        storage = float(_dig(inputs, "storage", "storageSizeGB", default=32))
        lines.append(Line("PostgreSQL", "storage", "postgres/storage", storage, storage, "GiB-months", "plan"))
        # Backups up to the provisioned size are free; a geo-redundant copy is billed per GiB.
        if _dig(inputs, "backup", "geoRedundantBackup") == "Enabled":
            lines.append(Line("PostgreSQL", "geo-redundant backup copy", "postgres/geo-backup", storage, storage,
                              "GiB-months", "estimate"))  # fmt: skip
    for ip in plan.by_type(PUBLIC_IP):
        sku = _dig(ip.inputs, "sku", "name", default="Standard")
        lines.append(Line("Networking", f"public IP {ip.name}", f"public-ip/{sku}", HOURS_PER_MONTH, HOURS_PER_MONTH,
                          "IP-hours", "plan"))  # fmt: skip
    for account in plan.by_type(STORAGE_ACCOUNT):
        sku = _dig(account.inputs, "sku", "name", default="Standard_LRS")
        lines.append(Line("Storage", f"blob storage {sku} ({account.name})", f"storage/{sku}", STORAGE_ACCOUNT_GIB,
                          STORAGE_ACCOUNT_GIB, "GiB-months", "estimate"))  # fmt: skip
    for vault in plan.by_type(KEY_VAULT):
        sku = str(_dig(vault.inputs, "properties", "sku", "name", default="standard")).capitalize()
        ops = KEY_VAULT_OPERATIONS_PER_MONTH / 10_000
        lines.append(Line("Key Vault", f"operations ({vault.name})", f"key-vault/{sku}", ops, ops,
                          "10k operations", "estimate"))  # fmt: skip
    for zone in plan.by_type(PRIVATE_ZONE):
        lines.append(Line("Networking", f"private DNS zone {zone.name}", "private-dns-zone", 1, 1, "zone-months",
                          "plan"))  # fmt: skip
    for zone in plan.by_type(DNS_ZONE):
        lines.append(Line("Networking", f"DNS zone {zone.name}", "dns-zone", 1, 1, "zone-months", "plan"))
    lines += _claim_lines(plan, rendered)
    return lines


def _worker_autoscaling_max(plan: offline.Plan) -> int | None:
    """The HPA's maximum of the Concourse worker release (web.enabled false): workers of one generation at most."""
    for release in plan.by_type(RELEASE):
        values = release.inputs.get("values")
        if release.inputs.get("chart") == "concourse" and _dig(values, "web", "enabled", default=True) is False:
            maximum = _dig(values, "concourse", "worker", "autoscaling", "maxReplicas")
            return None if maximum is None else int(maximum)
    return None


def _is_worker_pool(inputs: dict[str, Any]) -> bool:
    return naming.WORKER_POOL_LABEL[0] in (inputs.get("nodeLabels") or {})


def _claim_lines(plan: offline.Plan, rendered: dict[str, list[dict[str, Any]]] | None) -> list[Line]:
    lines: list[Line] = []
    for release in plan.by_type(RELEASE):
        name = str(release.inputs.get("name", release.name))
        if rendered is not None and name in rendered:
            claims, source = claims_from_manifests(name, rendered[name]), "rendered"
        else:
            values = release.inputs.get("values")
            claims, source = claims_from_values(str(release.inputs.get("chart")), name, values or {}), "values"
        for claim in claims:
            sku = catalog.STORAGE_CLASS_DISK_SKU.get(claim.storage_class)
            tier = catalog.disk_tier(sku, claim.size_gib) if sku else f"class {claim.storage_class}"
            lines.append(Line("Volumes", f"{claim.name} {tier} ({claim.size_gib:g} GiB)", f"disk/{tier}",
                              claim.count, claim.count, "disk-months", source))  # fmt: skip
    return lines


def report(plan: offline.Plan, region: str, rendered: dict[str, list[dict[str, Any]]] | None = None) -> Report:
    return Report(
        plan.stack, region, [Priced(line, catalog.price(line.price_key, region)) for line in lines_of(plan, rendered)]
    )


# ---------------------------------------------------------------------------------------------------------------------
# The staging-share rule


def share_problems(staging: Report, prod: Report, share: float, key: str) -> list[tuple[str, Any, str]]:
    """Staging's monthly cost at its minimum must stay at or below `share` of prod's minimum. Judged only on complete
    prices: with an unknown price on either side the rule cannot be decided, and says so."""
    unknown = [f"{r.stack}: {line.item}" for r in (staging, prod) for line in r.unknown]
    if unknown:
        return [(key, share, f"cannot be judged: no price for {len(unknown)} items ({'; '.join(unknown[:3])} ...)")]
    if staging.low <= share * prod.low:
        return []
    biggest = sorted((p for p in staging.items if p.low), key=lambda p: -(p.low or 0))[:3]
    names = ", ".join(f"{p.line.item} ${p.low:,.0f}" for p in biggest)
    return [
        (
            key,
            share,
            f"staging's minimum ${staging.low:,.0f}/month is {staging.low / prod.low:.0%} of prod's "
            f"${prod.low:,.0f}; allowed {share:.0%}. Biggest staging items: {names}",
        )
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Printing


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.2f}"


def render(rep: Report) -> str:
    lines = [f"Monthly cost of stack {rep.stack!r} ({rep.region}), at the worker pool's minimum / maximum:"]
    header = f"  {'item':<58} {'quantity (min/max)':>24} {'unit price':>24} {'min/month':>12} {'max/month':>12}  source"
    for component in sorted({p.line.component for p in rep.items}):
        lines += ["", component, header]
        for p in (p for p in rep.items if p.line.component == component):
            line = p.line
            quantity = f"{line.low:g}" if line.low == line.high else f"{line.low:g}/{line.high:g}"
            unit_price = "unknown" if p.price is None else f"${p.price.usd:g}/{p.price.unit}"
            lines.append(
                f"  {line.item:<58} {quantity + ' ' + line.unit:>24} {unit_price:>24} {_money(p.low):>12} "
                f"{_money(p.high):>12}  {line.source}"
            )
    lines += ["", f"Total of known prices: {_money(rep.low)} - {_money(rep.high)} per month"]
    if rep.unknown:
        lines.append(f"Not included, no price in the catalog for {rep.region} ({len(rep.unknown)} items):")
        lines += [f"  {line.item} ({line.price_key})" for line in rep.unknown]
    lines.append(f"Prices: catalog.PRICES, taken {catalog.PRICES_TAKEN.isoformat()} (each line's source is there).")
    return "\n".join(lines)


def render_side_by_side(reports: list[Report]) -> str:
    """The stacks' totals in columns; with two stacks, the ratio of the first to the second."""

    def ratio(x: float, y: float) -> str:
        return f"{x / y:.2f}" if y else "-"

    def total(r: Report, value: float) -> str:
        return _money(value) + (" + unknown" if r.unknown else "")

    pair = len(reports) == 2
    rows = [
        f"{'':<14}" + "".join(f" {r.stack:>24}" for r in reports) + (f" {'ratio':>8}" if pair else ""),
        f"{'minimum':<14}"
        + "".join(f" {total(r, r.low):>24}" for r in reports)
        + (f" {ratio(reports[0].low, reports[1].low):>8}" if pair else ""),
        f"{'maximum':<14}"
        + "".join(f" {total(r, r.high):>24}" for r in reports)
        + (f" {ratio(reports[0].high, reports[1].high):>8}" if pair else ""),
        f"{'unknown items':<14}" + "".join(f" {len(r.unknown):>24}" for r in reports),
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cost", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("stacks", nargs="+", help="one stack, or several side by side (reads Pulumi.<stack>.yaml)")
    parser.add_argument("--rendered", type=Path, help="a folder of rendered manifests, <release>.yaml each")
    args = parser.parse_args(argv)
    configs = {stack: offline.load_config(stack) for stack in args.stacks}
    reports = []
    for stack, cfg in configs.items():
        folder = args.rendered or RENDERED_DIR / stack
        rendered = read_rendered(folder) if folder.is_dir() else None
        reports.append(report(offline.run_stack(stack), cfg.location, rendered))
    for rep in reports:
        print(render(rep) + "\n")
    if len(reports) < 2:
        return 0
    print(render_side_by_side(reports))
    # The rule belongs to the stack whose promotion gate reads another: its file sets the share.
    by_stack = {rep.stack: rep for rep in reports}
    failed = False
    for gated in reports:
        promotion = configs[gated.stack].promotion
        source = by_stack.get(promotion.source_stack.split("/")[-1]) if promotion else None
        if source is None:
            continue
        share = configs[gated.stack].cost.staging_share_of_prod
        key = f"Pulumi.{gated.stack}.yaml: cdstack:cost.stagingShareOfProd"
        problems = share_problems(source, gated, share, key)
        for where, value, why in problems:
            print(f"\n{where}: {value}; {why}")
        if not problems:
            print(f"\n{source.stack} costs at most {share:.0%} of {gated.stack} at the minimum: the rule holds.")
        failed |= bool(problems) and "cannot be judged" not in problems[0][2]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
