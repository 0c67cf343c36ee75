"""The cost report: quantities from a planned graph, priced from the catalog, unknown prices never read as zero, and
the staging-share rule."""

from __future__ import annotations

import pytest

from components import catalog
from tests.costgraph import plan, resource
from tools import cost
from tools import figures as figures_tool

WEST = "westeurope"

# Round test prices (never the catalog's): the arithmetic below is checked by hand against these.
PRICES = {
    "aks-tier/Standard": catalog.Price(0.10, "hour", "test"),
    "vm/Standard_D4ds_v5": catalog.Price(0.25, "hour", "test", (WEST,)),
    "vm/Standard_D8ds_v5": catalog.Price(0.50, "hour", "test", (WEST,)),
    "load-balancer/Standard": catalog.Price(0.025, "hour", "test"),
    "public-ip/Standard": catalog.Price(0.005, "hour", "test"),
    "postgres/GeneralPurpose/Standard_D2ds_v5": catalog.Price(0.20, "hour", "test", (WEST,)),
    "postgres/storage": catalog.Price(0.10, "GiB-month", "test", (WEST,)),
    "disk/E4": catalog.Price(2.0, "month", "test", (WEST,)),
    "disk/P15": catalog.Price(30.0, "month", "test", (WEST,)),
}


@pytest.fixture
def prices(monkeypatch: pytest.MonkeyPatch) -> dict[str, catalog.Price]:
    table = dict(PRICES)
    monkeypatch.setattr(catalog, "PRICES", table)
    return table


def small_graph(stack: str = "small", workers: tuple[int, int] = (1, 3), ha: bool = True):
    return plan(
        stack,
        resource(
            cost.CLUSTER,
            "aks",
            {
                "sku": {"tier": "Standard"},
                "agentPoolProfiles": [
                    {"name": "system", "vmSize": "Standard_D4ds_v5", "count": 2, "osDiskSizeGB": 128}
                ],
                "networkProfile": {"loadBalancerSku": "standard"},
            },
        ),
        resource(
            cost.AGENT_POOL,
            "worker-pool",
            {
                "agentPoolName": "workers",
                "vmSize": "Standard_D8ds_v5",
                "enableAutoScaling": True,
                "minCount": workers[0],
                "maxCount": workers[1],
                "osDiskSizeGB": 256,  # fits the 300 GiB temp disk of a D8ds_v5: ephemeral, no disk line
            },
        ),
        resource(
            cost.POSTGRES,
            "postgres",
            {
                "sku": {"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"},
                "storage": {"storageSizeGB": 64},
                "highAvailability": {"mode": "ZoneRedundant" if ha else "Disabled"},
            },
        ),
        resource(
            cost.RELEASE,
            "consul",
            {"name": "consul", "chart": "consul", "values": {"server": {"replicas": 3, "storage": "20Gi"}}},
        ),
    )


def test_a_small_graph_costs_what_the_hand_computation_says(prices):
    rep = cost.report(small_graph(), WEST)
    # control plane 73 + system 2x730x0.25=365 + workers 1..3 x730x0.5=365..1095 + LB 18.25 + outbound IP 3.65
    # + PostgreSQL 2 (HA) x730x0.20=292 + 64 GiB x0.10=6.40 + Consul 3 x E4 (20 GiB -> 32 GiB tier) x2=6
    assert rep.unknown == []
    assert rep.low == pytest.approx(73 + 365 + 365 + 18.25 + 3.65 + 292 + 6.40 + 6)
    assert rep.high == pytest.approx(73 + 365 + 1095 + 18.25 + 3.65 + 292 + 6.40 + 6)
    by_item = {p.line.item: p for p in rep.items}
    assert by_item["consul-server data E4 (20 GiB)"].line.source == "values"
    assert by_item["compute GeneralPurpose Standard_D2ds_v5 x2 (HA standby)"].low == pytest.approx(292)


def test_high_availability_doubles_only_the_database_compute(prices):
    with_ha, without = (cost.report(small_graph(ha=ha), WEST) for ha in (True, False))
    assert with_ha.low - without.low == pytest.approx(730 * 0.20)


def test_a_price_gap_is_reported_unknown_never_zero(prices):
    del prices["vm/Standard_D8ds_v5"]  # the planted gap
    rep = cost.report(small_graph(), WEST)
    assert [line.item for line in rep.unknown] == ["workers pool nodes Standard_D8ds_v5"]
    workers = next(p for p in rep.items if p.line.item == "workers pool nodes Standard_D8ds_v5")
    assert workers.low is None and workers.high is None
    assert rep.low == pytest.approx(73 + 365 + 18.25 + 3.65 + 292 + 6.40 + 6)  # the gap is left out, not zeroed
    text = cost.render(rep)
    assert "unknown" in text
    assert "Not included, no price in the catalog for westeurope (1 items):" in text
    assert "workers pool nodes Standard_D8ds_v5 (vm/Standard_D8ds_v5)" in text


def test_a_price_for_another_region_is_unknown_here(prices):
    rep = cost.report(small_graph(), "northeurope")
    assert "system pool nodes Standard_D4ds_v5" in [line.item for line in rep.unknown]


def test_an_os_disk_larger_than_the_temp_disk_is_a_premium_managed_disk(prices):
    graph = small_graph()
    graph.registrations[1].inputs["osDiskSizeGB"] = 512  # more than a D8ds_v5's 300 GiB temp disk
    rep = cost.report(graph, WEST)
    disks = [p for p in rep.items if "OS disks" in p.line.item]
    assert [(p.line.item, p.line.low, p.line.high) for p in disks] == [("workers pool OS disks P20 (512 GiB)", 1, 3)]


def test_claims_from_rendered_manifests_count_statefulset_replicas_and_node_sets():
    documents = [
        {"kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
         "spec": {"resources": {"requests": {"storage": "8Gi"}}, "storageClassName": "managed-csi-premium"}},
        {"kind": "StatefulSet", "metadata": {"name": "consul-server"},
         "spec": {"replicas": 5, "volumeClaimTemplates": [
             {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "10Gi"}}}}]}},
        {"kind": "Elasticsearch", "metadata": {"name": "es"},
         "spec": {"nodeSets": [{"name": "hot", "count": 3, "volumeClaimTemplates": [
             {"spec": {"resources": {"requests": {"storage": "1Ti"}}}}]}]}},
        {"kind": "Deployment", "metadata": {"name": "no-claims"}, "spec": {}},
    ]  # fmt: skip
    claims = cost.claims_from_manifests("r", documents)
    assert [(c.name, c.count, c.size_gib, c.storage_class) for c in claims] == [
        ("data", 1, 8, "managed-csi-premium"),
        ("consul-server/data", 5, 10, "default"),
        ("es/hot", 3, 1024, "default"),
    ]


def test_rendered_manifests_replace_the_values_as_the_source_of_a_release_claims(prices):
    rendered = {
        "consul": [
            {"kind": "StatefulSet", "metadata": {"name": "consul-server"},
             "spec": {"replicas": 3, "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                 "storageClassName": "managed-csi-premium", "resources": {"requests": {"storage": "200Gi"}}}}]}}
        ]
    }  # fmt: skip
    rep = cost.report(small_graph(), WEST, rendered)
    volume = next(p for p in rep.items if p.line.component == "Volumes")
    assert (volume.line.item, volume.line.source, volume.low) == ("consul-server/data P15 (200 GiB)", "rendered", 90)


@pytest.mark.parametrize(("size", "tier"), [(1, "E1"), (20, "E4"), (32, "E4"), (33, "E6"), (200, "E15"), (1024, "E30")])
def test_disk_tiers_round_up_to_the_next_billed_size(size, tier):
    assert catalog.disk_tier("StandardSSD_LRS", size) == tier


def test_storage_quantities_in_every_unit():
    assert [cost.gib(q) for q in ("20Gi", "1Ti", "512Mi", "2147483648")] == [20, 1024, 0.5, 2]


# ---------------------------------------------------------------------------------------------------------------------
# The staging-share rule


def test_staging_within_its_share_of_prod_passes(prices):
    staging = cost.report(small_graph("staging", workers=(0, 1), ha=False), WEST)
    prod = cost.report(small_graph("prod", workers=(10, 20)), WEST)
    assert staging.low <= 0.35 * prod.low
    assert cost.share_problems(staging, prod, 0.35, "cdstack:cost.stagingShareOfProd") == []


def test_staging_above_its_share_of_prod_fails_naming_the_biggest_items(prices):
    staging = cost.report(small_graph("staging", workers=(1, 3), ha=False), WEST)
    prod = cost.report(small_graph("prod", workers=(1, 3)), WEST)
    problems = cost.share_problems(staging, prod, 0.35, "cdstack:cost.stagingShareOfProd")
    assert len(problems) == 1
    key, value, why = problems[0]
    assert (key, value) == ("cdstack:cost.stagingShareOfProd", 0.35)
    assert "allowed 35%" in why
    assert "Biggest staging items: system pool nodes Standard_D4ds_v5 $365, workers pool nodes" in why


def test_the_rule_is_not_passed_while_a_price_is_unknown(prices):
    del prices["disk/E4"]
    staging = cost.report(small_graph("staging", workers=(0, 1), ha=False), WEST)
    prod = cost.report(small_graph("prod", workers=(10, 20)), WEST)
    [(_, _, why)] = cost.share_problems(staging, prod, 0.35, "cdstack:cost.stagingShareOfProd")
    assert why.startswith("cannot be judged: no price for 2 items")


def test_three_stacks_side_by_side_each_with_its_totals(prices):
    """`make cost` prints every stack file's totals in one table (infra beside staging and prod)."""
    reports = [
        cost.report(small_graph(stack, workers=workers, ha=stack == "prod"), WEST)
        for stack, workers in (("infra", (0, 1)), ("prod", (10, 20)), ("staging", (1, 3)))
    ]
    header, minimum, maximum, _ = cost.render_side_by_side(reports).splitlines()
    assert header.split() == ["infra", "prod", "staging"]
    assert minimum.split()[1:] == [f"${r.low:,.2f}" for r in reports]
    assert maximum.split()[1:] == [f"${r.high:,.2f}" for r in reports]
    assert reports[0].low < reports[2].low < reports[1].low


def test_the_share_is_a_validated_setting(shared_plan):
    from components.config.loader import ConfigError
    from tests.conftest import stack_config

    config = stack_config("prod")
    config["cdstack:cost"] = {"stagingShareOfProd": 1.5}
    with pytest.raises(ConfigError) as error:
        shared_plan("prod", config)
    assert error.value.keys == ["cdstack:cost.stagingShareOfProd"]


def test_the_shipped_stacks_cost_is_computed_from_their_plans():
    """Every priced kind of resource the stacks create shows up as a line (a new one would too)."""
    from tests.conftest import cached_plan

    rep = cost.report(cached_plan("prod"), "westeurope")
    components = {p.line.component for p in rep.items}
    assert components == {"AKS", "Key Vault", "Networking", "PostgreSQL", "Security", "Storage", "Volumes"}
    volumes = {p.line.item.split(" ")[0] for p in rep.items if p.line.component == "Volumes"}
    assert volumes == {"vault", "concourse-worker", "prometheus", "influxdb2", "elasticsearch"}
    (vault,) = [p for p in rep.items if p.line.item.startswith("vault data")]
    assert vault.line.item == "vault data P4 (20 GiB)"  # Raft: a Premium SSD per server in prod


def test_a_concourse_upgrades_worker_generation_surge_is_its_own_line():
    """prod: 4..12 workers of one generation, and up to workerReplicas (4) nodes more while a new generation comes
    up beside a full old one; the web release (worker.enabled false) has no worker volumes."""
    from tests.conftest import cached_plan

    rep = cost.report(cached_plan("prod"), "westeurope")
    lines = {p.line.item: p.line for p in rep.items if p.line.component == "AKS"}
    workers = lines["workers pool nodes Standard_D16ds_v5"]
    surge = lines["workers pool generation surge nodes Standard_D16ds_v5"]
    assert (workers.low, workers.high) == (4 * cost.HOURS_PER_MONTH, 12 * cost.HOURS_PER_MONTH)
    assert (surge.low, surge.high) == (0, 4 * cost.HOURS_PER_MONTH)
    assert cost.claims_from_values("concourse", "concourse", {"worker": {"enabled": False}}) == []


def test_the_manual_cost_and_timeline_block_is_fresh():
    page = figures_tool.PAGE.read_text()
    start, end = page.index(figures_tool.BEGIN), page.index(figures_tool.END) + len(figures_tool.END)
    assert page[start:end] == figures_tool.block(), "docs/tooling.md's cost and timeline block is stale: `make figures`"
    assert (figures_tool.DOCS / "timeline-prod.svg").exists()


def test_defender_bills_every_node_vcore_at_the_autoscaler_bounds(prices):
    graph = small_graph()
    assert "Defender for Containers (node vCores)" not in [p.line.item for p in cost.report(graph, WEST).items]
    graph.registrations[0].inputs["securityProfile"] = {"defender": {"securityMonitoring": {"enabled": True}}}
    prices["defender/containers"] = catalog.Price(0.01, "vCore-hour", "test")
    [line] = [p for p in cost.report(graph, WEST).items if p.line.item == "Defender for Containers (node vCores)"]
    # system 2 x D4 (4 vCPUs) + workers 1..3 x D8 (8 vCPUs): 8 + 8..24 = 16..32 vCores, 730 hours each
    assert (line.line.low, line.line.high) == (16 * 730, 32 * 730)
    assert (line.low, line.high) == (pytest.approx(16 * 7.3), pytest.approx(32 * 7.3))


def test_a_managed_os_disk_is_billed_even_where_an_ephemeral_one_fits(prices):
    graph = small_graph()
    graph.registrations[1].inputs["osDiskType"] = "Managed"  # 256 GiB fits a D8ds_v5's 300 GiB temp disk
    rep = cost.report(graph, WEST)
    assert [p.line.item for p in rep.items if "OS disks" in p.line.item] == ["workers pool OS disks P15 (256 GiB)"]
