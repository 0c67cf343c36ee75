"""The network under the mock engine, for both stacks: the private DNS zone the database resolves in, the static
ingress IP and the public DNS records."""

from __future__ import annotations

import pytest

from components import config
from components.azure import network
from tests.azure import STACKS, run, settings
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
    assert len(records) == len(config.DEFAULT_HOST_LABELS)
    for record in records:
        assert record.inputs["zoneName"] == cfg.dns.domain
        assert record.inputs["resourceGroupName"] == "rg-contoso-dns"
        assert record.inputs["recordType"] == "A"
        assert record.inputs["aRecords"] == [{"ipv4Address": "20.31.0.10"}]
        assert ip.urn in record.dependencies
    fqdns = {f"{r.inputs['relativeRecordSetName']}.{cfg.dns.domain}" for r in records}
    assert fqdns == {cfg.dns.host(service) for service in config.DEFAULT_HOST_LABELS}
    assert plan.outputs["ingressIp"] == "20.31.0.10"
    assert plan.outputs["ingress.rg"] == f"rg-contoso-{stack}"


def test_record_names_are_relative_to_the_zone_including_configured_hosts():
    cfg = settings("staging").model_copy(
        update={
            "dns": config.DnsConfig(domain="cd.contoso.com", hosts=config.HostsConfig(grafana="dash.cd.contoso.com"))
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
