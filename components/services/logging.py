"""Logging and alerting: Elasticsearch and Kibana through the ECK operator, Filebeat shipping every container's log,
log retention as an ILM policy, and ElastAlert 2 posting the known failure signatures (the rule files of
alerts/elastalert) to Slack.

The shipper is Filebeat through eck-stack's own `eck-beats` subchart (0.20.0), so ECK wires its output, user and CA.
Retention: Filebeat installs the ILM policy of its data stream at start (`setup.ilm.policy_file`, overwriting the
stock policy that never deletes); the policy is a ConfigMap this component owns, and a pod annotation carrying the
retention rolls the DaemonSet when it changes, so a new retention is applied by the next `pulumi up`.

Backups: Elasticsearch writes its snapshots to Blob storage itself, as the backup identity through workload identity
(its pods' service account, token and keystore are set here; the repository, the SLM policy and the job that runs it
are components/services/snapshots.py).

The eck-stack release owns the Elasticsearch resource: deleting or replacing it deletes the cluster's logs, so it is
protected in production (and its volume claims survive a cluster deletion either way).
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components import alerting, hardening, naming, sizing
from components.config import secrets as config_secrets
from components.config.schema import StackConfig
from components.endpoints import BackupTarget, SearchReader
from components.services import release
from components.services.monitoring import warn_no_webhook

NAMESPACE = naming.NAMESPACES["logging"]

OPERATOR = "eck-operator"
STACK = "eck-stack"
ELASTALERT = "elastalert2"

ELASTICSEARCH = "elasticsearch"
"""The Elasticsearch resource's name; ECK derives `<name>-es-http`, `-es-elastic-user`, `-es-http-certs-public`."""
ELASTICSEARCH_SERVICE = f"{ELASTICSEARCH}-es-http"
ELASTICSEARCH_PORT = 9200
ELASTICSEARCH_HOST = f"{ELASTICSEARCH_SERVICE}.{NAMESPACE}.svc"
ELASTICSEARCH_URL = f"https://{ELASTICSEARCH_HOST}:{ELASTICSEARCH_PORT}"
LOG_INDEX = "filebeat-*"

GRAFANA_READER = "grafana"
GRAFANA_READER_SECRET = "elasticsearch-grafana-reader"
BASIC_AUTH_SECRET_TYPE = "kubernetes.io/basic-auth"
ILM_CONFIGMAP = "filebeat-ilm-policy"
ILM_MOUNT = "/usr/share/filebeat/ilm"
ELASTALERT_RULES_SECRET = "elastalert-rules"
KEYSTORE_SECRET = "elasticsearch-azure-keystore"
KEYSTORE_ACCOUNT_KEY = "azure.client.default.account"
TOKEN_VOLUME = "azure-identity-token"
TOKEN_DIR = "/usr/share/elasticsearch/config/azure/tokens"
TOKEN_FILE = f"{TOKEN_DIR}/{TOKEN_VOLUME}"


def log_retention_policy(days: int) -> dict[str, Any]:
    """ILM: roll the backing index daily (so deletion is day-grained), delete it `days` after rollover."""
    return {
        "policy": {
            "phases": {
                "hot": {"actions": {"rollover": {"max_age": "1d", "max_primary_shard_size": "50gb"}}},
                "delete": {"min_age": f"{days}d", "actions": {"delete": {}}},
            }
        }
    }


def filebeat_values(cfg: StackConfig) -> dict[str, Any]:
    """The eck-beats subchart: a Filebeat DaemonSet on every node (the worker pool too) reading container logs."""
    return {
        "enabled": True,
        "type": "filebeat",
        "elasticsearchRef": {"name": ELASTICSEARCH},
        "config": {
            "filebeat.inputs": [
                {
                    "type": "filestream",
                    "id": "container-logs",
                    "paths": ["/var/log/containers/*.log"],
                    "parsers": [{"container": {}}],
                    "prospector.scanner.symlinks": True,
                    "processors": [
                        {
                            "add_kubernetes_metadata": {
                                "host": "${NODE_NAME}",
                                "matchers": [{"logs_path": {"logs_path": "/var/log/containers/"}}],
                            }
                        }
                    ],
                }
            ],
            "setup.ilm.policy_file": f"{ILM_MOUNT}/policy.json",
            "setup.ilm.overwrite": True,
        },
        "daemonSet": {
            "podTemplate": {
                "metadata": {
                    "annotations": {"cdstack.io/log-retention-days": str(cfg.observability.log_retention_days)}
                },
                "spec": {
                    "serviceAccountName": "filebeat",
                    "automountServiceAccountToken": True,
                    # Every taint, the Concourse worker pool's included: worker logs matter most.
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [
                        {
                            "name": "filebeat",
                            "securityContext": {"runAsUser": 0},  # the node's log files are root's
                            "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                            "volumeMounts": [
                                {"name": "varlogcontainers", "mountPath": "/var/log/containers", "readOnly": True},
                                {"name": "varlogpods", "mountPath": "/var/log/pods", "readOnly": True},
                                {"name": "ilm-policy", "mountPath": ILM_MOUNT, "readOnly": True},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "varlogcontainers", "hostPath": {"path": "/var/log/containers"}},
                        {"name": "varlogpods", "hostPath": {"path": "/var/log/pods"}},
                        {"name": "ilm-policy", "configMap": {"name": ILM_CONFIGMAP}},
                    ],
                },
            }
        },
        "serviceAccount": {"name": "filebeat"},
        "clusterRole": {
            "name": "cdstack-filebeat",
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["pods", "namespaces", "nodes"],
                    "verbs": ["get", "list", "watch"],
                },
                {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list", "watch"]},
            ],
        },
        "clusterRoleBinding": {
            "name": "cdstack-filebeat",
            "subjects": [{"kind": "ServiceAccount", "name": "filebeat"}],
            "roleRef": {"kind": "ClusterRole", "name": "cdstack-filebeat", "apiGroup": "rbac.authorization.k8s.io"},
        },
    }


def elasticsearch_pod() -> dict[str, Any]:
    """What Elasticsearch's pod template needs to write snapshots (services/snapshots.py) with workload identity: the
    label the webhook acts on, the service account, and the token, mounted inside Elasticsearch's config directory
    (the only place its entitlements let it read; ECK's "Azure Workload Identity" snapshot docs, with the volume the
    webhook cannot add to a StatefulSet: elastic/docs-content#4801, elastic/cloud-on-k8s#9065). Elasticsearch 8.16
    and later use workload identity when the keystore has an account and neither key nor sas_token
    (elastic/elasticsearch#111344, #111414)."""
    return {
        "metadata": {"labels": {"azure.workload.identity/use": "true"}},
        "spec": {
            "serviceAccountName": naming.ELASTICSEARCH_SERVICE_ACCOUNT,
            "containers": [
                {
                    "name": "elasticsearch",
                    "env": [{"name": "AZURE_FEDERATED_TOKEN_FILE", "value": TOKEN_FILE}],
                    "volumeMounts": [{"name": TOKEN_VOLUME, "mountPath": TOKEN_DIR, "readOnly": True}],
                }
            ],
            "volumes": [
                {
                    "name": TOKEN_VOLUME,
                    "projected": {
                        "sources": [
                            {
                                "serviceAccountToken": {
                                    "audience": "api://AzureADTokenExchange",
                                    "expirationSeconds": 3600,
                                    "path": TOKEN_VOLUME,
                                }
                            }
                        ]
                    },
                }
            ],
        },
    }


def with_resources(pod: dict[str, Any], resources: dict[str, Any]) -> dict[str, Any]:
    """The pod template with the elasticsearch container's resources set."""
    containers = [
        {**c, "resources": resources} if c["name"] == "elasticsearch" else c for c in pod["spec"]["containers"]
    ]
    return {**pod, "spec": {**pod["spec"], "containers": containers}}


def stack_values(cfg: StackConfig) -> dict[str, Any]:
    """eck-stack: Elasticsearch sized from config, Kibana behind the ingress, Filebeat."""
    obs = cfg.observability
    host = cfg.dns.host("kibana")
    return {
        "eck-elasticsearch": {
            "fullnameOverride": ELASTICSEARCH,
            # Grafana's read-only login: a file-realm user from a Secret (username, password, roles).
            "auth": {"fileRealm": [{"secretName": GRAFANA_READER_SECRET}]},
            # The snapshot repository's storage account, in the keystore where Elasticsearch reads it.
            "secureSettings": [{"secretName": KEYSTORE_SECRET}],
            # Claims of removed nodes go; claims survive deleting the whole cluster (the logs are recoverable).
            "volumeClaimDeletePolicy": "DeleteOnScaledownOnly",
            "nodeSets": [
                {
                    "name": "default",
                    "count": obs.elasticsearch_nodes,
                    # No mmap: AKS nodes keep the default vm.max_map_count, and nothing here may change it.
                    "config": {"node.store.allow_mmap": False},
                    # Snapshots go to Blob storage as the pods' own identity (services/snapshots.py).
                    "podTemplate": with_resources(elasticsearch_pod(), sizing.ELASTICSEARCH),
                    "volumeClaimTemplates": [
                        {
                            "metadata": {"name": "elasticsearch-data"},  # the name ECK mounts as the data path
                            "spec": {
                                "accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": f"{obs.elasticsearch_storage_gi}Gi"}},
                            },
                        }
                    ],
                }
            ],
        },
        "eck-kibana": {
            "elasticsearchRef": {"name": ELASTICSEARCH},
            # TLS ends at the ingress (Let's Encrypt); Kibana's own self-signed HTTPS would only break the backend hop.
            "http": {"tls": {"selfSignedCertificate": {"disabled": True}}},
            "config": {
                "server.publicBaseUrl": f"https://{host}",
                # The smoke test (tools/smoke.py) reads the overall status without a login; details stay private.
                "status.allowAnonymous": True,
            },
            "ingress": {
                "enabled": True,
                "className": naming.INGRESS_CLASS,
                "annotations": {"cert-manager.io/cluster-issuer": naming.CLUSTER_ISSUER},
                "hosts": [{"host": host, "path": "/"}],
                "tls": {"enabled": True, "secretName": "kibana-tls"},
            },
        },
        "eck-beats": filebeat_values(cfg),
    }


def elastalert_rules(slack_channel: str, webhook: str | None) -> dict[str, dict[str, Any]]:
    """The rule files of alerts/elastalert with their alerter. The alerter carries the webhook, so the rules live in
    a Secret (secretRulesName). Without a webhook the rules still run and log each match (the `debug` alerter).
    """
    alert: dict[str, Any] = {"alert": ["debug"]}
    if webhook is not None:
        alert = {"alert": ["slack"], "slack_webhook_url": webhook, "slack_channel_override": slack_channel}
    return {name: {**rule, **alert} for name, rule in alerting.elastalert_rules().items()}


def elastalert_values() -> dict[str, Any]:
    """ElastAlert 2 on ECK's Elasticsearch over verified TLS, as the operator-managed `elastic` user."""
    ca_volume = "elasticsearch-ca"
    scratch, scratch_mount = hardening.scratch("tmp")
    return {
        "elasticsearch": {
            "host": ELASTICSEARCH_HOST,
            "port": 9200,
            "useSsl": "True",
            "verifyCerts": "True",
            "username": "elastic",
            "credentialsSecret": f"{ELASTICSEARCH}-es-elastic-user",
            "credentialsSecretPasswordKey": "elastic",
            "caCerts": "/certs/ca.crt",
            "certsVolumes": [
                {"name": ca_volume, "secret": {"secretName": f"{ELASTICSEARCH}-es-http-certs-public"}},
            ],
            "certsVolumeMounts": [{"name": ca_volume, "mountPath": "/certs", "readOnly": True}],
        },
        "secretRulesName": ELASTALERT_RULES_SECRET,
        "secretRulesList": sorted(alerting.elastalert_rules()),
        # One Python process that talks HTTPS and keeps its state in Elasticsearch (its writeback index): nobody, no
        # capability, no privilege escalation, the runtime's seccomp profile and a read-only root with an emptyDir at
        # /tmp for Python's temporary files. Its config and rules are mounted files (the chart's templates).
        "podSecurityContext": hardening.pod_context(),
        "securityContext": {
            **hardening.LOCKED_CONTAINER,
            "runAsNonRoot": True,
            "runAsUser": hardening.NOBODY,
            "seccompProfile": hardening.RUNTIME_DEFAULT,
        },
        "extraVolumes": [scratch],
        "extraVolumeMounts": [scratch_mount],
    }


def search_reader(password: pulumi.Output[str]) -> SearchReader:
    """Grafana's login: fixed names and the generated password, so Grafana waits on the password only."""
    return SearchReader(url=ELASTICSEARCH_URL, index=LOG_INDEX, username=GRAFANA_READER, password=password)


def operator_values() -> dict[str, Any]:
    """ECK's operator: its CRDs, and its pod as nobody under the runtime's seccomp profile (a static binary; the
    chart sets only runAsNonRoot there, and its container context already drops everything and writes nothing)."""
    return {"installCRDs": True, "podSecurityContext": hardening.pod_context()}


class Logging(pulumi.ComponentResource):
    """ECK operator, eck-stack (Elasticsearch, Kibana, Filebeat) and ElastAlert 2. Waits for nothing of Concourse."""

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: k8s.Provider,
        snapshot_target: BackupTarget,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:services:Logging", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = release.namespace(NAMESPACE, provider, self)
        self.namespace = ns

        reader_password = random.RandomPassword("grafana-reader-password", length=32, special=False, opts=child)
        self.search_reader = search_reader(reader_password.result)
        reader = release.secret(
            GRAFANA_READER_SECRET,
            ns,
            {"username": GRAFANA_READER, "password": reader_password.result, "roles": "viewer"},
            provider,
            self,
            # ECK reads username/password/roles file-realm users only from Secrets of this type; from an Opaque
            # one it creates no user, and Grafana's Elasticsearch datasource fails to authenticate.
            secret_type=BASIC_AUTH_SECRET_TYPE,
        )
        ilm = k8s.core.v1.ConfigMap(
            f"{ILM_CONFIGMAP}-configmap",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ILM_CONFIGMAP, namespace=ns.metadata.name),
            data={"policy.json": json.dumps(log_retention_policy(cfg.observability.log_retention_days), indent=2)},
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )

        # Elasticsearch's pods write snapshots as the backup identity (workload identity, no key): the service account
        # names it, the keystore names the account.
        snapshot_account = k8s.core.v1.ServiceAccount(
            "elasticsearch-sa",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=naming.ELASTICSEARCH_SERVICE_ACCOUNT,
                namespace=ns.metadata.name,
                annotations={"azure.workload.identity/client-id": snapshot_target.identity_client_id},
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        keystore = release.secret(
            KEYSTORE_SECRET,
            ns,
            {KEYSTORE_ACCOUNT_KEY: snapshot_target.account_name},
            provider,
            self,
        )

        self.operator = release.release(OPERATOR, OPERATOR, cfg, ns, operator_values(), provider, self)
        self.stack = release.release(
            STACK,
            STACK,
            cfg,
            ns,
            stack_values(cfg),
            provider,
            self,
            # The operator installs the CRDs this chart's resources are; the reader Secret and the ILM ConfigMap
            # are referenced by name (ECK and the Filebeat pods need them to exist), and so are Elasticsearch's service
            # account and keystore Secret.
            depends_on=[self.operator, reader, ilm, snapshot_account, keystore],
            protect=cfg.production,
        )

        webhook = config_secrets.secret("slackWebhookUrl")
        if webhook is None:
            warn_no_webhook(cfg, "ElastAlert", "its rules only log their matches")
        channel = cfg.observability.channel_for(alerting.LOG_ALERT_SEVERITY)  # log signatures are warnings
        webhook_input = pulumi.Output.from_input(webhook)
        rules = release.secret(
            ELASTALERT_RULES_SECRET,
            ns,
            {
                key: webhook_input.apply(
                    lambda url, key=key: yaml.safe_dump(elastalert_rules(channel, url)[key], sort_keys=False)
                )
                for key in alerting.elastalert_rules()
            },
            provider,
            self,
        )
        self.elastalert = release.release(
            ELASTALERT,
            ELASTALERT,
            cfg,
            ns,
            elastalert_values(),
            provider,
            self,
            # Its pod mounts the rules Secret, and the CA and `elastic` password Secrets ECK creates only once the
            # Elasticsearch resource of the eck-stack release exists.
            depends_on=[self.stack, rules],
            # Nothing in the stack consumes ElastAlert, and its pod is ready only once Elasticsearch has formed
            # (minutes): waiting for it made that forming the end of every first `up`. Its health is watched where it
            # runs: kube-prometheus-stack's default KubePodCrashLooping, KubePodNotReady and
            # KubeDeploymentReplicasMismatch page on a pod that does not come up (docs/tooling.md: Where `up` waits).
            awaited=False,
        )
        self.register_outputs({})
