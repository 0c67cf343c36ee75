"""Vault's backup: a CronJob that saves a snapshot of Vault's whole store and uploads it to its Blob container, logged
in through workload identity: no storage key exists anywhere. Retention is the container's lifecycle rule
(components/azure/backups.py). The snapshot, by store:
- raft: `sys/storage/raft/snapshot` from the active Vault (its `vault-active` service), taken by the standard-library
  script services/vault_snapshot.py; the pod logs in with a service account token projected for Vault's audience,
  which Vault's JWT auth exchanges for a one-use token that may read the snapshot and nothing else
  (components/vault/raft.py). No Vault token is stored anywhere;
- consul: `consul snapshot save` against the Consul servers' HTTP API.

The snapshot holds Vault's data encrypted by Vault's barrier: without the Key Vault unseal key it is unreadable, so
it needs no further encryption at rest, and restoring it (tools/restore.py) needs that key, kept with purge
protection. Freshness: kube-state-metrics exports `kube_cronjob_status_last_successful_time` for every CronJob;
`BackupTooOld` (alerts/prometheus/backups.yaml) fires for a `backup-*` CronJob whose last success is older than
twice its schedule's period.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import catalog, naming, sizing
from components.config.schema import StackConfig
from components.endpoints import BackupTarget
from components.vault import raft as vault_raft

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


SCRIPT = Path(__file__).with_name("vault_snapshot.py")
SCRIPT_CONFIGMAP = "vault-snapshot-script"
SCRIPT_DIR = "/scripts"
TOKEN_DIR = "/var/run/secrets/vault"
CA_DIR = "/vault-ca"
ACTIVE_VAULT = f"https://vault-active.{naming.NAMESPACES['secrets']}.svc:8200"
"""The active server, behind the chart's `vault-active` service (a name Vault's certificate carries): the snapshot is
the leader's."""
RESTRICTED_POD = {
    "run_as_non_root": True,
    "run_as_user": 65534,
    "run_as_group": 65534,
    "seccomp_profile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER = {
    "allow_privilege_escalation": False,
    "capabilities": {"drop": ["ALL"]},
    # Each writes only to its volumes: the snapshot to /backup, the Azure CLI its login to /tmp (an emptyDir).
    "read_only_root_filesystem": True,
}


def script_configmap_data() -> dict[str, str]:
    return {SCRIPT.name: SCRIPT.read_text()}


def raft_snapshot_container() -> dict[str, Any]:
    """The init container that saves the Raft snapshot with the snapshot identity."""
    return {
        "name": "snapshot",
        "image": f"python:{catalog.IMAGES['python']}",
        "command": ["python3", f"{SCRIPT_DIR}/{SCRIPT.name}", "save", SNAPSHOT_FILE],
        "env": [
            {"name": "VAULT_ADDR", "value": ACTIVE_VAULT},
            {"name": "VAULT_CACERT", "value": f"{CA_DIR}/ca.crt"},
            {"name": "VAULT_AUTH_PATH", "value": vault_raft.CLUSTER_JWT_MOUNT},
            {"name": "VAULT_ROLE", "value": vault_raft.SNAPSHOT_ROLE},
            {"name": "VAULT_JWT_FILE", "value": f"{TOKEN_DIR}/token"},
        ],
        "volume_mounts": [
            {"name": "backup", "mount_path": SNAPSHOT_DIR},
            {"name": "script", "mount_path": SCRIPT_DIR, "read_only": True},
            {"name": "vault-token", "mount_path": TOKEN_DIR, "read_only": True},
            {"name": "vault-ca", "mount_path": CA_DIR, "read_only": True},
        ],
        "resources": sizing.sized("50m", "64Mi"),
        "security_context": RESTRICTED_CONTAINER,
    }


def raft_volumes() -> list[dict[str, Any]]:
    """The script, a service account token for Vault's audience (ten minutes), and the internal CA only (ca.crt of
    Vault's certificate Secret: the pod never sees the listener's key)."""
    return [
        {"name": "script", "config_map": {"name": SCRIPT_CONFIGMAP}},
        {
            "name": "vault-token",
            "projected": {
                "sources": [
                    {
                        "service_account_token": {
                            "audience": vault_raft.SNAPSHOT_AUDIENCE,
                            "expiration_seconds": vault_raft.SNAPSHOT_TOKEN_SECONDS,
                            "path": "token",
                        }
                    }
                ]
            },
        },
        {
            "name": "vault-ca",
            "secret": {"secret_name": naming.VAULT_TLS_SECRET, "items": [{"key": "ca.crt", "path": "ca.crt"}]},
        },
    ]


def consul_snapshot_container() -> dict[str, Any]:
    return {
        "name": "snapshot",
        "image": f"hashicorp/consul:{catalog.IMAGES['consul']}",
        "command": ["consul", "snapshot", "save", f"-http-addr={CONSUL_HTTP}", SNAPSHOT_FILE],
        "volume_mounts": [{"name": "backup", "mount_path": SNAPSHOT_DIR}],
        "resources": sizing.sized("50m", "64Mi"),
    }


def vault_backup_spec(cfg: StackConfig, account: str, container: str) -> k8s.batch.v1.CronJobSpecArgsDict:
    """The CronJob's spec: snapshot in an init container, upload in the main one, one run at a time. On Raft its
    pods meet Pod Security `restricted` (the namespace enforces it); the Azure CLI keeps its login under /tmp."""
    raft = cfg.vault.storage == "raft"
    # The pod spec's parts are plain dicts (shared with the tests); the CronJob's typed dict takes them as given.
    spec: Any = {
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
                        # Neither container calls the Kubernetes API: the Azure login reads the token workload
                        # identity's webhook projects, the Raft snapshot its own projected token (raft_volumes).
                        "automount_service_account_token": False,
                        "restart_policy": "Never",
                        **({"security_context": RESTRICTED_POD} if raft else {}),
                        "volumes": [
                            {"name": "backup", "empty_dir": {}},
                            *([{"name": "tmp", "empty_dir": {}}, *raft_volumes()] if raft else []),
                        ],
                        "init_containers": [raft_snapshot_container() if raft else consul_snapshot_container()],
                        "containers": [
                            {
                                "name": "upload",
                                "image": f"mcr.microsoft.com/azure-cli:{catalog.IMAGES['azure-cli']}",
                                "command": ["/bin/sh", "-c", UPLOAD_SCRIPT],
                                "env": [
                                    {"name": "ACCOUNT", "value": account},
                                    {"name": "CONTAINER", "value": container},
                                    *([{"name": "AZURE_CONFIG_DIR", "value": "/tmp/.azure"}] if raft else []),
                                ],
                                "volume_mounts": [
                                    {"name": "backup", "mount_path": SNAPSHOT_DIR, "read_only": True},
                                    *([{"name": "tmp", "mount_path": "/tmp"}] if raft else []),
                                ],
                                "resources": sizing.sized("100m", "256Mi"),
                                **({"security_context": RESTRICTED_CONTAINER} if raft else {}),
                            }
                        ],
                    },
                },
            }
        },
    }
    return spec


class VaultBackup(pulumi.ComponentResource):
    """The service account the backup identity is federated to, the CronJob that runs as it, and on Raft the
    script's ConfigMap."""

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: k8s.Provider,
        store: pulumi.Resource,
        target: BackupTarget,
        snapshot_role: pulumi.Resource | None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`store`: the release holding Vault's data (Vault's on Raft, Consul's); `snapshot_role`: the Vault role
        the Raft job logs in with."""
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
            # The namespace is the store's release's: it exists once that release does.
            opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[store])),
        )
        waits: list[pulumi.Resource] = [account, store]
        if cfg.vault.storage == "raft":
            waits.append(
                k8s.core.v1.ConfigMap(
                    SCRIPT_CONFIGMAP,
                    metadata={"name": SCRIPT_CONFIGMAP, "namespace": ns},
                    data=script_configmap_data(),
                    opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[store])),
                )
            )
        # A run before the Vault role exists would fail its login; the first run waits for it.
        waits += [snapshot_role] if snapshot_role is not None else []
        self.cronjob = k8s.batch.v1.CronJob(
            "vault-backup",
            metadata={"name": naming.VAULT_BACKUP_CRONJOB, "namespace": ns},
            spec=pulumi.Output.all(target.account_name, target.container_name).apply(
                lambda names: vault_backup_spec(cfg, names[0], names[1])
            ),
            opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=waits)),
        )
        self.register_outputs({})
