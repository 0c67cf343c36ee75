"""The stack's resource group and network: a VNet with a subnet for AKS nodes and one delegated to PostgreSQL."""

from __future__ import annotations

import pulumi
from pulumi_azure_native import network, resources

from components.config import StackConfig
from components.tags import common_tags


class Network(pulumi.ComponentResource):
    resource_group_name: pulumi.Output[str]
    vnet_id: pulumi.Output[str]
    aks_subnet_id: pulumi.Output[str]
    postgres_subnet_id: pulumi.Output[str]

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

        self.resource_group_name = group.name
        self.vnet_id = vnet.id
        self.aks_subnet_id = aks_subnet.id
        self.postgres_subnet_id = postgres_subnet.id
        self.register_outputs(
            {
                "resourceGroupName": self.resource_group_name,
                "vnetId": self.vnet_id,
                "aksSubnetId": self.aks_subnet_id,
                "postgresSubnetId": self.postgres_subnet_id,
            }
        )
