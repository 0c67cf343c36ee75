"""The stack's resource group and network: a VNet with a subnet for AKS nodes and one delegated to PostgreSQL, the
private DNS zone the database resolves in, the ingress controller's static public IP and its public DNS records.

The pure builders return each resource's keyword arguments as plain dicts (TypedDicts that pyright checks against the
SDK's signatures where `Network` unpacks them); `Network` only wires them together."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import pulumi
from pulumi_azure_native import dns, network, privatedns, resources

from components.config.schema import StackConfig
from components.endpoints import IngressAddress
from components.tags import common_tags

POSTGRES_DELEGATION: network.DelegationArgsDict = {
    "name": "postgres",
    "service_name": "Microsoft.DBforPostgreSQL/flexibleServers",
}
"""A flexible server with private access needs a subnet delegated to it, and nothing else in that subnet."""

RECORD_TTL = 300


def postgres_private_zone(cfg: StackConfig) -> str:
    """The private DNS zone of the stack's flexible server: Azure requires the `.postgres.database.azure.com` suffix."""
    return f"{cfg.naming.postgres_server()}.private.postgres.database.azure.com"


def public_records(cfg: StackConfig) -> dict[str, str]:
    """Every public host as its record name relative to the zone `cfg.dns.domain`, by service."""
    suffix = "." + cfg.dns.domain
    return {service: cfg.dns.host(service).removesuffix(suffix) for service in cfg.public_services()}


class VirtualNetworkArgs(TypedDict):
    virtual_network_name: str
    location: str
    address_space: network.AddressSpaceArgsDict
    tags: dict[str, str]


def virtual_network(cfg: StackConfig) -> VirtualNetworkArgs:
    return {
        "virtual_network_name": cfg.naming.virtual_network(),
        "location": cfg.location,
        "address_space": {"address_prefixes": [cfg.network.address_space]},
        "tags": common_tags(cfg),
    }


class SubnetArgs(TypedDict):
    subnet_name: str
    address_prefix: str
    delegations: NotRequired[list[network.DelegationArgsDict]]


def subnets(cfg: StackConfig) -> dict[str, SubnetArgs]:
    """The VNet's subnets by purpose, in the order they are created: AKS's nodes, and PostgreSQL's delegated one."""
    return {
        "aks": {"subnet_name": cfg.naming.subnet("aks"), "address_prefix": cfg.network.aks_subnet},
        "postgres": {
            "subnet_name": cfg.naming.subnet("postgres"),
            "address_prefix": cfg.network.postgres_subnet,
            "delegations": [POSTGRES_DELEGATION],
        },
    }


class PrivateZoneArgs(TypedDict):
    private_zone_name: str
    location: str
    tags: dict[str, str]


def postgres_dns_zone(cfg: StackConfig) -> PrivateZoneArgs:
    """Private access: the server's name resolves only inside the VNet, through this zone (private zones are global)."""
    return {"private_zone_name": postgres_private_zone(cfg), "location": "global", "tags": common_tags(cfg)}


class PublicIPAddressArgs(TypedDict):
    public_ip_address_name: str
    location: str
    sku: network.PublicIPAddressSkuArgsDict
    public_ip_allocation_method: str
    public_ip_address_version: str
    tags: dict[str, str]


def ingress_ip(cfg: StackConfig) -> PublicIPAddressArgs:
    """The ingress controller's load balancer takes this address (Standard: AKS's load balancer is Standard, and only
    a Standard IP can be static and zone-redundant). Static, so DNS records never chase it."""
    return {
        "public_ip_address_name": cfg.naming.public_ip("ingress"),
        "location": cfg.location,
        "sku": {"name": "Standard", "tier": "Regional"},
        "public_ip_allocation_method": "Static",
        "public_ip_address_version": "IPv4",
        "tags": common_tags(cfg),
    }


class RecordSetArgs(TypedDict):
    zone_name: str
    resource_group_name: str
    relative_record_set_name: str
    record_type: str
    ttl: int
    a_records: list[dns.ARecordArgsDict]


def a_records(cfg: StackConfig, ip_address: pulumi.Input[str]) -> dict[str, RecordSetArgs]:
    """An A record to the ingress address for every public host, by service; none without the zone's resource group
    (the operator then keeps DNS elsewhere)."""
    if not cfg.dns.zone_resource_group:
        return {}
    return {
        service: {
            "zone_name": cfg.dns.domain,
            "resource_group_name": cfg.dns.zone_resource_group,
            "relative_record_set_name": record,
            "record_type": "A",
            "ttl": RECORD_TTL,
            "a_records": [{"ipv4_address": ip_address}],
        }
        for service, record in public_records(cfg).items()
    }


class Network(pulumi.ComponentResource):
    resource_group_name: pulumi.Output[str]
    resource_group_id: pulumi.Output[str]
    vnet_id: pulumi.Output[str]
    aks_subnet_id: pulumi.Output[str]
    postgres_subnet_id: pulumi.Output[str]
    postgres_dns_zone_id: pulumi.Output[str]
    postgres_dns_link: privatedns.VirtualNetworkLink
    ingress: IngressAddress

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cdstack:azure:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        group = resources.ResourceGroup(
            "resource-group",
            resource_group_name=cfg.naming.resource_group(),
            location=cfg.location,
            tags=common_tags(cfg),
            opts=child,
        )
        vnet = network.VirtualNetwork(
            "vnet",
            resource_group_name=group.name,
            **virtual_network(cfg),
            # Subnets are their own resources below; an inline list here would fight them on every update.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["subnets"]),
        )
        created: dict[str, network.Subnet] = {}
        previous: list[pulumi.Resource] = []
        for purpose, subnet in subnets(cfg).items():
            created[purpose] = network.Subnet(
                f"{purpose}-subnet",
                resource_group_name=group.name,
                virtual_network_name=vnet.name,
                **subnet,
                # Azure serialises subnet changes in one VNet: two at once fail with AnotherOperationInProgress.
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            previous = [created[purpose]]

        zone = privatedns.PrivateZone(
            "postgres-dns-zone", resource_group_name=group.name, **postgres_dns_zone(cfg), opts=child
        )
        link = privatedns.VirtualNetworkLink(
            "postgres-dns-link",
            virtual_network_link_name=cfg.naming.virtual_network(),
            private_zone_name=zone.name,
            resource_group_name=group.name,
            location="global",
            virtual_network=privatedns.SubResourceArgs(id=vnet.id),
            registration_enabled=False,
            tags=common_tags(cfg),
            opts=child,
        )

        ingress_address = network.PublicIPAddress(
            "ingress-ip", resource_group_name=group.name, **ingress_ip(cfg), opts=child
        )
        ip_address = ingress_address.ip_address.apply(lambda ip: ip or "")
        for service, record in a_records(cfg, ip_address).items():
            dns.RecordSet(f"{service}-a-record", **record, opts=child)

        self.resource_group_name = group.name
        self.resource_group_id = group.id
        self.vnet_id = vnet.id
        self.aks_subnet_id = created["aks"].id
        self.postgres_subnet_id = created["postgres"].id
        self.postgres_dns_zone_id = zone.id
        self.postgres_dns_link = link
        self.ingress = IngressAddress(ip_address=ip_address, resource_group_name=group.name)
        self.register_outputs(
            {
                "resourceGroupName": self.resource_group_name,
                "vnetId": self.vnet_id,
                "aksSubnetId": self.aks_subnet_id,
                "postgresSubnetId": self.postgres_subnet_id,
                "postgresDnsZoneId": self.postgres_dns_zone_id,
                "ingressIp": ip_address,
            }
        )
