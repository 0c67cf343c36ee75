"""AzurePlatform: everything Azure the Kubernetes services stand on, and the typed outputs they consume."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import authorization

from components.azure.cluster import Cluster
from components.azure.database import Database
from components.azure.keyvault import KeyVault
from components.azure.network import Network
from components.azure.storage import ChartStorage
from components.config.schema import StackConfig
from components.endpoints import BlobStore, DatabaseEndpoint, IngressAddress, VaultUnseal


class AzurePlatform(pulumi.ComponentResource):
    resource_group_name: pulumi.Output[str]
    cluster_name: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]
    k8s_provider: k8s.Provider
    worker_pool: pulumi.Resource
    database: DatabaseEndpoint
    database_server_name: pulumi.Output[str]
    vault_unseal: VaultUnseal | None
    key_vault_name: pulumi.Output[str] | None
    key_vault_id: pulumi.Output[str] | None
    chartmuseum_store: BlobStore | None
    ingress: IngressAddress

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cdstack:azure:AzurePlatform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        client = authorization.get_client_config_output()

        network = Network("network", cfg, child)
        cluster = Cluster("cluster", cfg, network, client, child)
        database = Database("database", cfg, network, child)
        # ChartMuseum's store only where ChartMuseum runs (parts.chartmuseum).
        charts = ChartStorage("chart-storage", cfg, network, child) if cfg.parts.chartmuseum else None
        # Key Vault exists only to auto-unseal the Vault this stack runs; an external Vault brings its own seal.
        unseal = (
            KeyVault("key-vault", cfg, network, cluster.oidc_issuer_url, client, child)
            if cfg.vault.mode == "in-cluster"
            else None
        )

        self.resource_group_name = network.resource_group_name
        self.cluster_name = cluster.cluster_name
        self.oidc_issuer_url = cluster.oidc_issuer_url
        self.k8s_provider = cluster.k8s_provider
        self.worker_pool = cluster.worker_pool
        self.database = database.endpoint
        self.database_server_name = database.server_name
        self.database_server_id = database.server_id
        self.vault_unseal = unseal.unseal if unseal else None
        self.key_vault_name = unseal.key_vault_name if unseal else None
        self.key_vault_id = unseal.key_vault_id if unseal else None
        self.chartmuseum_store = charts.store if charts else None
        # The ingress controller's Service may only exist once the cluster may attach this address: its address
        # carries the cluster's Network Contributor role, so the ingress release (and nothing else) waits for it.
        self.ingress = IngressAddress(
            ip_address=network.ingress.ip_address,
            resource_group_name=pulumi.Output.all(
                network.ingress.resource_group_name, cluster.network_contributor.id
            ).apply(lambda values: values[0]),
        )
        self.register_outputs(
            {
                "resourceGroupName": self.resource_group_name,
                "clusterName": self.cluster_name,
                "databaseServerName": self.database_server_name,
                "keyVaultName": self.key_vault_name,
                "ingressIp": self.ingress.ip_address,
            }
        )
