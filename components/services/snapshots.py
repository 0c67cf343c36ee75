"""Elasticsearch's backups: a snapshot repository on Azure Blob and a snapshot lifecycle (SLM) policy with retention
from config, run by the `backup-elasticsearch` CronJob (the script is components/services/es_snapshot.py).

Elasticsearch writes the snapshots itself, through workload identity, with no key: its pods run as a service account
annotated with the backup identity (components/azure/backups.py: Storage Blob Data Contributor on exactly the
`elasticsearch-snapshots` container), and the keystore names the account (services/logging.py sets both).

Why a CronJob runs the policy instead of SLM's own scheduler: its success is the snapshot's success, which
kube-state-metrics exports like every other backup's, so BackupTooOld and BackupNeverSucceeded
(alerts/prometheus/backups.yaml) watch it against its own schedule with no exporter and no second alert. SLM keeps
what it is good at: naming, the snapshot metadata that ties snapshots to the policy, and retention. SLM requires a
schedule of its own; it is set to once a year (an extra incremental snapshot then is harmless). ECK's
StackConfigPolicy would declare the same policy but needs an Enterprise licence; this stack runs the Basic one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import catalog, naming
from components.config.schema import StackConfig
from components.endpoints import BackupTarget
from components.services.logging import ELASTICSEARCH, ELASTICSEARCH_URL

NAMESPACE = naming.NAMESPACES["logging"]
SCRIPT = Path(__file__).with_name("es_snapshot.py")
SCRIPT_CONFIGMAP = "elasticsearch-snapshot-script"
SCRIPT_DIR = "/scripts"
CA_DIR = "/certs"
SLM_SCHEDULE = "0 0 0 1 1 ?"
"""SLM's own trigger (Elasticsearch cron, seconds first): 00:00 UTC on 1 January. The CronJob is the scheduler."""
WAIT_SECONDS = 3 * 3600
"""How long a run may wait for Elasticsearch and its snapshot; the Job's deadline is a little longer."""


def repository_body(container: str) -> dict[str, Any]:
    """The Azure repository: the default client (account from the keystore, credentials from workload identity)."""
    return {"type": "azure", "settings": {"client": "default", "container": container}}


def policy_body(cfg: StackConfig) -> dict[str, Any]:
    """The SLM policy: every index and data stream, the cluster state with every feature state (Kibana's saved
    objects among them), kept `elasticsearchRetentionDays`, never fewer than `elasticsearchMinSnapshots`."""
    b = cfg.backup
    return {
        "schedule": SLM_SCHEDULE,
        "name": "<cdstack-{now/d}>",  # SLM appends a unique suffix, so several a day never collide
        "repository": naming.ELASTICSEARCH_SNAPSHOT_REPOSITORY,
        "config": {"indices": ["*"], "include_global_state": True},
        "retention": {"expire_after": f"{b.elasticsearch_retention_days}d", "min_count": b.elasticsearch_min_snapshots},
    }


def script_configmap_data() -> dict[str, str]:
    return {SCRIPT.name: SCRIPT.read_text()}


def job_env(cfg: StackConfig, container: str) -> list[dict[str, Any]]:
    """The script's environment: where Elasticsearch is, the `elastic` user's password from ECK's Secret, and the
    repository and policy from config."""
    return [
        {"name": "ES_URL", "value": ELASTICSEARCH_URL},
        {"name": "ES_USER", "value": "elastic"},
        {
            "name": "ES_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": f"{ELASTICSEARCH}-es-elastic-user", "key": "elastic"}},
        },
        {"name": "ES_CA", "value": f"{CA_DIR}/ca.crt"},
        {"name": "REPOSITORY", "value": naming.ELASTICSEARCH_SNAPSHOT_REPOSITORY},
        {"name": "REPOSITORY_BODY", "value": json.dumps(repository_body(container), sort_keys=True)},
        {"name": "POLICY", "value": naming.ELASTICSEARCH_SLM_POLICY},
        {"name": "POLICY_BODY", "value": json.dumps(policy_body(cfg), sort_keys=True)},
        {"name": "WAIT_SECONDS", "value": str(WAIT_SECONDS)},
    ]


def job_pod(cfg: StackConfig, container: str, mode: str) -> dict[str, Any]:
    """The pod that runs the script (`backup` for the CronJob, `restore` for tools/restore.py)."""
    return {
        "metadata": {"labels": {"app": naming.ELASTICSEARCH_BACKUP_CRONJOB}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,  # it talks to Elasticsearch only, never to the Kubernetes API
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": mode,
                    "image": f"python:{catalog.IMAGES['python']}",
                    "command": ["python3", f"{SCRIPT_DIR}/{SCRIPT.name}", mode],
                    "env": job_env(cfg, container),
                    "volumeMounts": [
                        {"name": "script", "mountPath": SCRIPT_DIR, "readOnly": True},
                        {"name": "ca", "mountPath": CA_DIR, "readOnly": True},
                    ],
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "32Mi"},
                        "limits": {"cpu": "100m", "memory": "64Mi"},
                    },
                    "securityContext": {  # the script only reads its mounts and talks HTTPS: nothing to write
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "readOnlyRootFilesystem": True,
                    },
                }
            ],
            "volumes": [
                {"name": "script", "configMap": {"name": SCRIPT_CONFIGMAP}},
                {"name": "ca", "secret": {"secretName": f"{ELASTICSEARCH}-es-http-certs-public"}},
            ],
        },
    }


def backup_spec(cfg: StackConfig, container: str) -> k8s.batch.v1.CronJobSpecArgsDict:
    """The CronJob's spec: one run at a time on the configured schedule, each waiting for its snapshot."""
    pod: Any = job_pod(cfg, container, "backup")  # a manifest (camelCase), as tools/restore.py submits it too
    # A new script rolls into the next run's pod; the hash only makes the change visible in the plan's diff.
    pod["metadata"]["annotations"] = {"cdstack.io/script-sha256": hashlib.sha256(SCRIPT.read_bytes()).hexdigest()}
    return {
        "schedule": cfg.backup.elasticsearch_schedule,
        "time_zone": "Etc/UTC",
        "concurrency_policy": "Forbid",
        "successful_jobs_history_limit": 3,
        "failed_jobs_history_limit": 3,
        "job_template": {"spec": {"backoff_limit": 1, "active_deadline_seconds": WAIT_SECONDS + 600, "template": pod}},
    }


class ElasticsearchBackup(pulumi.ComponentResource):
    """The script's ConfigMap and the CronJob that snapshots Elasticsearch on schedule."""

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: k8s.Provider,
        namespace: k8s.core.v1.Namespace,
        elasticsearch: pulumi.Resource,
        target: BackupTarget,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:services:ElasticsearchBackup", name, None, opts)
        in_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        script = k8s.core.v1.ConfigMap(
            SCRIPT_CONFIGMAP,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SCRIPT_CONFIGMAP, namespace=namespace.metadata.name),
            data=script_configmap_data(),
            opts=in_cluster,
        )
        self.cronjob = k8s.batch.v1.CronJob(
            "elasticsearch-backup",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=naming.ELASTICSEARCH_BACKUP_CRONJOB, namespace=NAMESPACE),
            spec=target.container_name.apply(lambda container: backup_spec(cfg, container)),
            # Its pods mount the script, and the CA and `elastic` Secrets ECK creates once the eck-stack release's
            # Elasticsearch exists.
            opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[script, elasticsearch])),
        )
        self.register_outputs({})
