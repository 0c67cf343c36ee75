"""The stack's resource group and network: a VNet with a subnet for AKS nodes and one delegated to PostgreSQL, the
private DNS zone the database resolves in, the ingress controller's static public IP and its public DNS records."""

from __future__ import annotations

import pulumi
from pulumi_azure_native import dns, network, privatedns, resources

from components.config import DEFAULT_HOST_LABELS, StackConfig
from components.endpoints import IngressAddress
from components.tags import common_tags


def postgres_private_zone(cfg: StackConfig) -> str:
    """The private DNS zone of the stack's flexible server: Azure requires the `.postgres.database.azure.com` suffix."""
    return f"{cfg.naming.postgres_server()}.private.postgres.database.azure.com"


def public_records(cfg: StackConfig) -> dict[str, str]:
    """Every public host as its record name relative to the zone `cfg.dns.domain`, by service."""
    suffix = "." + cfg.dns.domain
    return {service: cfg.dns.host(service).removesuffix(suffix) for service in DEFAULT_HOST_LABELS}


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
        names = cfg.naming
        tags = common_tags(cfg)
        child = pulumi.ResourceOptions(parent=self)

        group = resources.ResourceGroup(
            "resource-group",
            resource_group_name=names.resource_group(),
            location=cfg.location,
            tags=tags,
            opts=child,
        )
        vnet = network.VirtualNetwork(
            "vnet",
            virtual_network_name=names.virtual_network(),
            resource_group_name=group.name,
            location=cfg.location,
            address_space=network.AddressSpaceArgs(address_prefixes=[cfg.network.address_space]),
            tags=tags,
            # Subnets are their own resources below; an inline list here would fight them on every update.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["subnets"]),
        )
        aks_subnet = network.Subnet(
            "aks-subnet",
            subnet_name=names.subnet("aks"),
            resource_group_name=group.name,
            virtual_network_name=vnet.name,
            address_prefix=cfg.network.aks_subnet,
            opts=child,
        )
        postgres_subnet = network.Subnet(
            "postgres-subnet",
            subnet_name=names.subnet("postgres"),
            resource_group_name=group.name,
            virtual_network_name=vnet.name,
            address_prefix=cfg.network.postgres_subnet,
            delegations=[
                network.DelegationArgs(name="postgres", service_name="Microsoft.DBforPostgreSQL/flexibleServers")
            ],
            # Azure serialises subnet changes in one VNet: two at once fail with AnotherOperationInProgress.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[aks_subnet]),
        )

        # Private access: the server's name resolves only inside the VNet, through this zone.
        zone = privatedns.PrivateZone(
            "postgres-dns-zone",
            private_zone_name=postgres_private_zone(cfg),
            resource_group_name=group.name,
            location="global",
            tags=tags,
            opts=child,
        )
        link = privatedns.VirtualNetworkLink(
            "postgres-dns-link",
            virtual_network_link_name=names.virtual_network(),
            private_zone_name=zone.name,
            resource_group_name=group.name,
            location="global",
            virtual_network=privatedns.SubResourceArgs(id=vnet.id),
            registration_enabled=False,
            tags=tags,
            opts=child,
        )

        # The ingress controller's load balancer takes this address (Standard: AKS's load balancer is Standard, and
        # only a Standard IP can be static and zone-redundant). Static, so DNS records never chase it.
        ingress_ip = network.PublicIPAddress(
            "ingress-ip",
            public_ip_address_name=names.public_ip("ingress"),
            resource_group_name=group.name,
            location=cfg.location,
            sku=network.PublicIPAddressSkuArgs(name="Standard", tier="Regional"),
            public_ip_allocation_method="Static",
            public_ip_address_version="IPv4",
            tags=tags,
            opts=child,
        )
        ip_address = ingress_ip.ip_address.apply(lambda ip: ip or "")

        if cfg.dns.zone_resource_group:
            for service, record in public_records(cfg).items():
                dns.RecordSet(
                    f"{service}-a-record",
                    zone_name=cfg.dns.domain,
                    resource_group_name=cfg.dns.zone_resource_group,
                    relative_record_set_name=record,
                    record_type="A",
                    ttl=300,
                    a_records=[dns.ARecordArgs(ipv4_address=ip_address)],
                    opts=child,
                )

        self.resource_group_name = group.name
        self.resource_group_id = group.id
        self.vnet_id = vnet.id
        self.aks_subnet_id = aks_subnet.id
        self.postgres_subnet_id = postgres_subnet.id
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
