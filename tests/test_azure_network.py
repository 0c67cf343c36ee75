"""The network under the mock engine, for both stacks: the private DNS zone the database resolves in, the static
ingress IP and the public DNS records."""

from __future__ import annotations

import pytest

from components.azure import network
from components.config import schema
from tests.azure_plans import STACKS, run, settings
from tests.conftest import stack_config
from tools import offline


@pytest.mark.parametrize("stack", STACKS)
def test_postgres_private_dns_zone_is_linked_to_the_vnet(azure_plans: dict[str, offline.Plan], stack: str):
    plan = azure_plans[stack]
    zone = plan.get("azure-native:privatedns:PrivateZone", "postgres-dns-zone")
    assert zone.inputs["privateZoneName"] == f"psql-contoso-{stack}.private.postgres.database.azure.com"
    assert zone.inputs["location"] == "global"
    link = plan.get("azure-native:privatedns:VirtualNetworkLink", "postgres-dns-link")
    vnet = plan.get("azure-native:network:VirtualNetwork", "vnet")
    assert link.inputs["virtualNetwork"] == {"id": "/offline/azure-native/network/VirtualNetwork/vnet"}
    assert zone.urn in link.dependencies and vnet.urn in link.dependencies
    assert link.inputs["registrationEnabled"] is False


@pytest.mark.parametrize("stack", STACKS)
def test_ingress_ip_is_static_standard_and_every_public_host_has_an_a_record(
    azure_plans: dict[str, offline.Plan], stack: str
):
    plan, cfg = azure_plans[stack], settings(stack)
    ip = plan.get("azure-native:network:PublicIPAddress", "ingress-ip")
    assert ip.inputs["sku"]["name"] == "Standard"
    assert ip.inputs["publicIPAllocationMethod"] == "Static"
    assert ip.inputs["publicIpAddressName"] == f"pip-contoso-{stack}-ingress"
    records = plan.by_type("azure-native:dns:RecordSet")
    assert len(records) == len(schema.DEFAULT_HOST_LABELS)
    for record in records:
        assert record.inputs["zoneName"] == cfg.dns.domain
        assert record.inputs["resourceGroupName"] == "rg-contoso-dns"
        assert record.inputs["recordType"] == "A"
        assert record.inputs["aRecords"] == [{"ipv4Address": "20.31.0.10"}]
        assert ip.urn in record.dependencies
    fqdns = {f"{r.inputs['relativeRecordSetName']}.{cfg.dns.domain}" for r in records}
    assert fqdns == {cfg.dns.host(service) for service in schema.DEFAULT_HOST_LABELS}
    assert plan.outputs["ingressIp"] == "20.31.0.10"
    assert plan.outputs["ingress.rg"] == f"rg-contoso-{stack}"


def test_record_names_are_relative_to_the_zone_including_configured_hosts():
    cfg = settings("staging").model_copy(
        update={
            "dns": schema.DnsConfig(domain="cd.contoso.com", hosts=schema.HostsConfig(grafana="dash.cd.contoso.com"))
        }
    )
    assert network.public_records(cfg) == {
        "concourse": "ci",
        "vault": "vault",
        "grafana": "dash",
        "kibana": "kibana",
        "chartmuseum": "charts",
    }


def test_no_dns_records_without_a_zone_resource_group():
    cfg = stack_config("staging")
    cfg["cdstack:dns"] = {"domain": "staging.cd.contoso.com"}
    plan = run("staging", cfg)
    assert plan.by_type("azure-native:dns:RecordSet") == []
    assert plan.by_type("azure-native:network:PublicIPAddress")


# ---------------------------------------------------------------------------------------------------------------------
# The pure builders, without the mock engine


def test_subnets_come_in_creation_order_and_only_postgres_is_delegated():
    cfg = settings("staging", network={"aksSubnet": "10.40.0.0/22", "postgresSubnet": "10.40.8.0/27"})
    subnets = network.subnets(cfg)
    assert list(subnets) == ["aks", "postgres"]
    assert subnets["aks"] == {"subnet_name": "snet-aks", "address_prefix": "10.40.0.0/22"}
    assert subnets["postgres"] == {
        "subnet_name": "snet-postgres",
        "address_prefix": "10.40.8.0/27",
        "delegations": [{"name": "postgres", "service_name": "Microsoft.DBforPostgreSQL/flexibleServers"}],
    }


def test_virtual_network_spans_the_configured_address_space():
    cfg = settings("prod", network={"addressSpace": "10.50.0.0/16"})
    vnet = network.virtual_network(cfg)
    assert vnet["address_space"] == {"address_prefixes": ["10.50.0.0/16"]}
    assert vnet["virtual_network_name"] == "vnet-contoso-prod"
    assert vnet["location"] == cfg.location


def test_postgres_zone_is_global_and_named_as_azure_requires():
    zone = network.postgres_dns_zone(settings("prod"))
    assert zone["private_zone_name"] == "psql-contoso-prod.private.postgres.database.azure.com"
    assert zone["location"] == "global"


def test_ingress_ip_is_a_static_standard_ipv4_address():
    ip = network.ingress_ip(settings("staging"))
    assert ip["sku"] == {"name": "Standard", "tier": "Regional"}
    assert (ip["public_ip_allocation_method"], ip["public_ip_address_version"]) == ("Static", "IPv4")
    assert ip["public_ip_address_name"] == "pip-contoso-staging-ingress"


def test_a_records_point_every_public_host_at_the_ingress_address_in_the_zones_resource_group():
    cfg = settings("staging")
    records = network.a_records(cfg, "20.0.0.1")
    assert set(records) == set(schema.DEFAULT_HOST_LABELS)
    for service, record in records.items():
        assert record["relative_record_set_name"] == network.public_records(cfg)[service]
        assert (record["zone_name"], record["resource_group_name"]) == (cfg.dns.domain, "rg-contoso-dns")
        assert (record["record_type"], record["ttl"]) == ("A", network.RECORD_TTL)
        assert record["a_records"] == [{"ipv4_address": "20.0.0.1"}]
    without_zone = settings("staging", dns={"zoneResourceGroup": None})
    assert network.a_records(without_zone, "20.0.0.1") == {}
