"""Vault's backup: a CronJob that saves a Consul snapshot (Vault's whole store, `consul snapshot save` against the
Consul servers' HTTP API) and uploads it to its Blob container, logged in through workload identity: no storage key
exists anywhere. Retention is the container's lifecycle rule (components/azure/backups.py).

The snapshot holds Vault's data encrypted by Vault's barrier: without the Key Vault unseal key it is unreadable, so
it needs no further encryption at rest, and restoring it (tools/restore.py) needs that key, kept with purge
protection. Freshness: kube-state-metrics exports `kube_cronjob_status_last_successful_time` for every CronJob;
`BackupTooOld` (alerts/prometheus/backups.yaml) fires for a `backup-*` CronJob whose last success is older than
twice its schedule's period.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import catalog, naming
from components.config import StackConfig
from components.endpoints import BackupTarget

SNAPSHOT_DIR = "/backup"
SNAPSHOT_FILE = f"{SNAPSHOT_DIR}/vault.snap"
# The consul chart's server Service (global.name consul -> consul-server) serves the HTTP API on 8500.
CONSUL_HTTP = f"http://consul-server.{naming.NAMESPACES['secrets']}.svc:8500"

UPLOAD_SCRIPT = f"""set -eu
az login --service-principal --username "$AZURE_CLIENT_ID" --tenant "$AZURE_TENANT_ID" \\
  --federated-token "$(cat "$AZURE_FEDERATED_TOKEN_FILE")" --allow-no-subscriptions --output none
name="$(date -u +%Y-%m-%dT%H%M%SZ).snap"
az storage blob upload --auth-mode login --account-name "$ACCOUNT" --container-name "$CONTAINER" \\
  --file {SNAPSHOT_FILE} --name "$name" --output none
echo "uploaded $name to $ACCOUNT/$CONTAINER"
"""
"""Workload identity's webhook sets AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE in the pod; blob
names sort by time, so the newest is the last one listed (tools/restore.py relies on it)."""


def vault_backup_spec(cfg: StackConfig, account: str, container: str) -> k8s.batch.v1.CronJobSpecArgsDict:
    """The CronJob's spec: snapshot in an init container, upload in the main one, one run at a time."""
    return {
        "schedule": cfg.backup.vault_schedule,
        "time_zone": "Etc/UTC",
        "concurrency_policy": "Forbid",
        "successful_jobs_history_limit": 3,
        "failed_jobs_history_limit": 3,
        "job_template": {
            "spec": {
                "backoff_limit": 2,
                "active_deadline_seconds": 1800,
                "template": {
                    "metadata": {"labels": {"azure.workload.identity/use": "true", "app": naming.VAULT_BACKUP_CRONJOB}},
                    "spec": {
                        "service_account_name": naming.VAULT_BACKUP_SERVICE_ACCOUNT,
                        "restart_policy": "Never",
                        "volumes": [{"name": "backup", "empty_dir": {}}],
                        "init_containers": [
                            {
                                "name": "snapshot",
                                "image": f"hashicorp/consul:{catalog.IMAGES['consul']}",
                                "command": ["consul", "snapshot", "save", f"-http-addr={CONSUL_HTTP}", SNAPSHOT_FILE],
                                "volume_mounts": [{"name": "backup", "mount_path": SNAPSHOT_DIR}],
                                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                            }
                        ],
                        "containers": [
                            {
                                "name": "upload",
                                "image": f"mcr.microsoft.com/azure-cli:{catalog.IMAGES['azure-cli']}",
                                "command": ["/bin/sh", "-c", UPLOAD_SCRIPT],
                                "env": [
                                    {"name": "ACCOUNT", "value": account},
                                    {"name": "CONTAINER", "value": container},
                                ],
                                "volume_mounts": [{"name": "backup", "mount_path": SNAPSHOT_DIR, "read_only": True}],
                                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                            }
                        ],
                    },
                },
            }
        },
    }


class VaultBackup(pulumi.ComponentResource):
    """The service account the backup identity is federated to, and the CronJob that runs as it."""

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: k8s.Provider,
        consul: pulumi.Resource,
        target: BackupTarget,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:services:VaultBackup", name, None, opts)
        in_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        ns = naming.NAMESPACES["secrets"]
        account = k8s.core.v1.ServiceAccount(
            "vault-backup-sa",
            metadata={
                "name": naming.VAULT_BACKUP_SERVICE_ACCOUNT,
                "namespace": ns,
                "annotations": {"azure.workload.identity/client-id": target.identity_client_id},
            },
            # The namespace is the Consul release's: it exists once that release does.
            opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[consul])),
        )
        self.cronjob = k8s.batch.v1.CronJob(
            "vault-backup",
            metadata={"name": naming.VAULT_BACKUP_CRONJOB, "namespace": ns},
            spec=pulumi.Output.all(target.account_name, target.container_name).apply(
                lambda names: vault_backup_spec(cfg, names[0], names[1])
            ),
            opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[account, consul])),
        )
        self.register_outputs({})
