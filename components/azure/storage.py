"""ChartMuseum's chart store: a private blob container in a storage account of the stack."""

from __future__ import annotations

import pulumi
from pulumi_azure_native import storage

from components.azure.backups import StorageAccountArgs, versioned_blob_service
from components.azure.network import Network
from components.config.schema import StackConfig
from components.endpoints import BlobStore
from components.tags import common_tags

CONTAINER = "charts"


def chart_account(cfg: StackConfig) -> StorageAccountArgs:
    """Zone-redundant like the cluster: the published charts are the only copy pipelines fetch from. ChartMuseum's
    Azure backend authenticates with the account key only, so shared keys stay on; nothing is public."""
    return {
        "account_name": cfg.naming.storage_account(),
        "location": cfg.location,
        "kind": "StorageV2",
        "sku": {"name": "Standard_ZRS"},
        "allow_shared_key_access": True,
        "allow_blob_public_access": False,
        "minimum_tls_version": "TLS1_2",
        "enable_https_traffic_only": True,
        "tags": common_tags(cfg),
    }


class ChartStorage(pulumi.ComponentResource):
    store: BlobStore

    def __init__(self, name: str, cfg: StackConfig, net: Network, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cdstack:azure:ChartStorage", name, None, opts)

        account = storage.StorageAccount(
            "chart-storage",
            resource_group_name=net.resource_group_name,
            **chart_account(cfg),
            # The charts pipelines have published live only here.
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.production),
        )
        # Published charts are state: a deleted or overwritten chart can be restored (versions, soft delete), for
        # backup.blobSoftDeleteDays. One resource only: the account has one `default` blob service.
        versioned_blob_service("charts-blob-service", cfg, account.name, net.resource_group_name, self)
        container = storage.BlobContainer(
            "charts-container",
            container_name=CONTAINER,
            account_name=account.name,
            resource_group_name=net.resource_group_name,
            public_access=storage.PublicAccess.NONE,
            opts=pulumi.ResourceOptions(parent=self),
        )
        keys = storage.list_storage_account_keys_output(
            resource_group_name=net.resource_group_name, account_name=account.name
        )

        self.store = BlobStore(
            account_name=account.name,
            container_name=container.name,
            account_key=pulumi.Output.secret(keys.keys[0].value),
        )
        self.register_outputs({"accountName": account.name, "containerName": container.name})
