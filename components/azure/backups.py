"""Where backups go: a storage account with no shared keys, one container per backup, versioning, soft delete and a
lifecycle rule that deletes Vault's snapshots past their retention (Elasticsearch's retention is its own snapshot
lifecycle policy, components/services/snapshots.py); and per backup an identity its writer assumes through workload
identity, with Storage Blob Data Contributor on exactly its container (not the account).

Shapes: azure-native storage.BlobServiceProperties (`default` blob service: is_versioning_enabled,
delete_retention_policy, container_delete_retention_policy) and storage.ManagementPolicy (`default` policy; a
Lifecycle rule's filters.prefix_match is `<container>/<prefix>`), as the installed pulumi-azure-native types define.
"""

from __future__ import annotations

from typing import TypedDict

import pulumi
from pulumi_azure_native import storage

from components import naming
from components.azure.workload_identity import federated_identity, service_account_subject
from components.config.schema import StackConfig
from components.endpoints import BackupTarget
from components.tags import common_tags

STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
"""Built-in role id: read, write and delete blobs in the scope (data plane only, no keys)."""


def versioned_blob_service(
    name: str,
    cfg: StackConfig,
    account_name: pulumi.Input[str],
    resource_group_name: pulumi.Input[str],
    parent: pulumi.Resource,
) -> storage.BlobServiceProperties:
    """Versioning and soft delete (blobs and containers) for a storage account holding state we cannot regenerate."""
    days = cfg.backup.blob_soft_delete_days
    return storage.BlobServiceProperties(
        name,
        blob_services_name="default",
        account_name=account_name,
        resource_group_name=resource_group_name,
        is_versioning_enabled=True,
        delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=days),
        container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=days),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def retention_rule(container: str, days: int, version_days: int) -> storage.ManagementPolicyRuleArgsDict:
    """Delete the container's blobs `days` after they were written, and their older versions after `version_days`."""
    return {
        "name": f"{container}-retention",
        "type": "Lifecycle",
        "enabled": True,
        "definition": {
            "filters": {"blob_types": ["blockBlob"], "prefix_match": [f"{container}/"]},
            "actions": {
                "base_blob": {"delete": {"days_after_modification_greater_than": days}},
                "version": {"delete": {"days_after_creation_greater_than": version_days}},
            },
        },
    }


class StorageAccountArgs(TypedDict):
    """A StorageAccount's keyword arguments (the chart store's and the backups')."""

    account_name: str
    location: str
    kind: str
    sku: storage.SkuArgsDict
    allow_shared_key_access: bool
    allow_blob_public_access: bool
    minimum_tls_version: str
    enable_https_traffic_only: bool
    tags: dict[str, str]


def backup_account(cfg: StackConfig) -> StorageAccountArgs:
    """Zone-redundant, private, and without shared keys: backup jobs log in with workload identity, so no key exists
    that could leak."""
    return {
        "account_name": cfg.naming.backup_storage_account(),
        "location": cfg.location,
        "kind": "StorageV2",
        "sku": {"name": "Standard_ZRS"},
        "allow_shared_key_access": False,
        "allow_blob_public_access": False,
        "minimum_tls_version": "TLS1_2",
        "enable_https_traffic_only": True,
        "tags": common_tags(cfg),
    }


def version_rule(container: str, version_days: int) -> storage.ManagementPolicyRuleArgsDict:
    """Delete only the older versions of the container's blobs after `version_days`. For Elasticsearch's repository:
    its snapshots share files, so no blob may expire by age (the snapshot lifecycle policy deletes what it no longer
    needs), but the versions versioning keeps of what it deleted or rewrote must not pile up forever."""
    return {
        "name": f"{container}-versions",
        "type": "Lifecycle",
        "enabled": True,
        "definition": {
            "filters": {"blob_types": ["blockBlob"], "prefix_match": [f"{container}/"]},
            "actions": {"version": {"delete": {"days_after_creation_greater_than": version_days}}},
        },
    }


class BackupStorage(pulumi.ComponentResource):
    """The backup account, and per backup its container, retention, identity and role: Vault's (Consul snapshots,
    when this stack runs Vault) and Elasticsearch's (its snapshot repository, written by Elasticsearch's own pods, when
    this stack runs Elasticsearch: parts.elasticsearch)."""

    vault: BackupTarget | None
    elasticsearch: BackupTarget | None

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        resource_group_name: pulumi.Output[str],
        oidc_issuer_url: pulumi.Output[str],
        vault: bool = True,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:azure:BackupStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = storage.StorageAccount(
            "backup-storage",
            resource_group_name=resource_group_name,
            **backup_account(cfg),
            # The backups are what a rebuild restores from.
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.production),
        )
        versioned_blob_service("backup-blob-service", cfg, account.name, resource_group_name, self)

        def target(key: str, namespace: str, service_account: str) -> BackupTarget:
            """The container of one backup, and an identity federated to `service_account` that may write there."""
            container = storage.BlobContainer(
                naming.BACKUP_CONTAINERS[key],
                container_name=naming.BACKUP_CONTAINERS[key],
                account_name=account.name,
                resource_group_name=resource_group_name,
                public_access=storage.PublicAccess.NONE,
                opts=child,
            )
            return BackupTarget(
                account_name=account.name,
                container_name=container.name,
                identity_client_id=federated_identity(
                    f"{key}-backup",
                    cfg,
                    resource_group_name,
                    oidc_issuer_url,
                    service_account_subject(namespace, service_account),
                    f"{key}-backup-service-account",
                    # Exactly this container: the writer cannot read or delete any other backup.
                    (f"{key}-backup-writer", STORAGE_BLOB_DATA_CONTRIBUTOR),
                    container.id,
                    self,
                ),
            )

        self.vault = (
            target("vault", naming.NAMESPACES["secrets"], naming.VAULT_BACKUP_SERVICE_ACCOUNT) if vault else None
        )
        self.elasticsearch = (
            target("elasticsearch", naming.NAMESPACES["logging"], naming.ELASTICSEARCH_SERVICE_ACCOUNT)
            if cfg.parts.elasticsearch
            else None
        )
        soft_delete = cfg.backup.blob_soft_delete_days
        rules = []
        if self.elasticsearch is not None:
            rules.append(version_rule(naming.BACKUP_CONTAINERS["elasticsearch"], soft_delete))
        if vault:
            rules.insert(
                0, retention_rule(naming.BACKUP_CONTAINERS["vault"], cfg.backup.vault_retention_days, soft_delete)
            )
        storage.ManagementPolicy(
            "backup-retention",
            management_policy_name="default",
            account_name=account.name,
            resource_group_name=resource_group_name,
            policy={"rules": rules},
            opts=child,
        )
        self.register_outputs({"accountName": account.name})
