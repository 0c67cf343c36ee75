"""CdStack: the whole graph of one stack, composed from one component per concern.

Data flows one way: configuration -> Azure platform -> Entra ID login -> Kubernetes services -> Vault access and
teams. Each component receives exactly the outputs it consumes, so Pulumi runs independent parts in parallel.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components import naming
from components.azure.backups import BackupStorage
from components.azure.deployers import Deployers
from components.azure.metrics_reader import DatabaseMetricsReader
from components.azure.platform import AzurePlatform
from components.azure.team_identities import TeamIdentities
from components.concourse import infra_pipeline
from components.concourse.canary import Canary
from components.concourse.teams import Teams, TeamUsers
from components.config.schema import StackConfig
from components.identity import ConcourseLogin, VaultLogin
from components.infra_ci import InfraPipeline
from components.releases import release_set
from components.services import charts, logging, monitoring
from components.services.backups import VaultBackup
from components.services.charts import ChartMuseum
from components.services.concourse import Concourse
from components.services.database_metrics import DatabaseMetrics
from components.services.ingress import Ingress
from components.services.internal_ca import InternalCa
from components.services.logging import Logging
from components.services.monitoring import Monitoring
from components.services.netpol import NetworkPolicies
from components.services.secrets import Secrets
from components.services.snapshots import ElasticsearchBackup
from components.vault.access import VaultAccess
from components.vault.bootstrap import VaultBootstrap
from components.vault.raft import VaultRaft
from components.vault.teams import TeamSecrets, login_group_keys, redirect_uris


class CdStack(pulumi.ComponentResource):
    def __init__(
        self,
        cfg: StackConfig,
        infra_trust: pulumi.Output[dict[str, Any]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`infra_trust`: the infra pipeline's token this stack's Vault trusts (vault_pipeline_login.trust), read
        once by the program from the infra stack's outputs."""
        super().__init__("cdstack:index:CdStack", cfg.stack, None, opts)
        self.cfg = cfg
        child = pulumi.ResourceOptions(parent=self)

        self.platform = AzurePlatform("azure", cfg, child)
        self.login = ConcourseLogin("concourse-login", cfg, child)
        # The infra pipeline's deployer identities, when this stack runs the infra Concourse (cdstack:deployers).
        self.deployers = (
            Deployers("deployers", cfg, self.platform.resource_group_name, child) if cfg.deployers else None
        )
        k8s_provider = self.platform.k8s_provider
        # Observability needs only the cluster (Grafana takes Logging's reader password, not its releases).
        # Backups: Blob storage with retention and per backup a writer identity. Elasticsearch writes its snapshots
        # itself; Vault's store (Raft or Consul) is copied by a CronJob (an external Vault is backed up by whoever
        # runs it).
        self.backup_storage = BackupStorage(
            "backup-storage",
            cfg,
            self.platform.resource_group_name,
            self.platform.oidc_issuer_url,
            vault=cfg.vault.mode == "in-cluster",
            opts=child,
        )
        # The optional parts (config.PartsConfig): a lean stack leaves out log search, build metrics or ChartMuseum,
        # and with each part what only it needs (its backups, datasources, network edges, public host, outputs).
        self.logging = None
        if self.backup_storage.elasticsearch is not None:
            self.logging = Logging("logging", cfg, k8s_provider, self.backup_storage.elasticsearch, child)
        search = self.logging.search_reader if self.logging else None
        self.monitoring = Monitoring("monitoring", cfg, k8s_provider, search, child)
        # PostgreSQL's Azure Monitor metrics, read by an exporter with its own identity, alerted on by Prometheus.
        self.database_metrics_reader = DatabaseMetricsReader(
            "postgres-metrics-reader",
            cfg,
            self.platform.resource_group_name,
            self.platform.oidc_issuer_url,
            self.platform.database_server_id,
            child,
        )
        self.database_metrics = DatabaseMetrics(
            "postgres-metrics",
            cfg,
            k8s_provider,
            self.monitoring.namespace,
            self.database_metrics_reader.source,
            self.monitoring.prometheus_stack,
            child,
        )
        store = self.platform.chartmuseum_store
        self.chartmuseum = ChartMuseum("chartmuseum", cfg, k8s_provider, store, child) if store else None
        self.ingress = Ingress(
            "ingress", cfg, k8s_provider, self.platform.ingress, [self.monitoring.prometheus_stack], child
        )
        unseal = self.platform.vault_unseal  # None when Vault is external
        # The internal CA serves the in-cluster Vault's listener; an external Vault brings its own certificate.
        self.internal_ca = (
            InternalCa("internal-ca", cfg.stack, k8s_provider, self.ingress.cert_manager, child) if unseal else None
        )
        self.secrets = None
        if unseal is not None and self.internal_ca is not None:
            self.secrets = Secrets(
                "secrets", cfg, k8s_provider, unseal, self.internal_ca.issuer, self.ingress.traefik, child
            )
        self.vault_bootstrap = None
        if self.secrets is not None and unseal is not None:
            assert self.platform.key_vault_id is not None and self.platform.key_vault_name is not None
            self.vault_bootstrap = VaultBootstrap(
                "vault-bootstrap",
                cfg,
                key_vault_id=self.platform.key_vault_id,
                key_vault_name=self.platform.key_vault_name,
                tenant_id=unseal.tenant_id,
                admin_group_id=self.login.login.group_object_ids[cfg.identity.admin_group],
                # The in-cluster Vault answers at its public host: its release, behind the ingress controller, reached
                # over TLS through the transport that trusts the internal CA.
                vault_ready=self.secrets.vault_ready,
                infra_trust=infra_trust,
                opts=child,
            )
        initialised = self.vault_bootstrap.init if self.vault_bootstrap else None
        self.elasticsearch_backup = None
        if self.logging is not None and self.backup_storage.elasticsearch is not None:
            self.elasticsearch_backup = ElasticsearchBackup(
                "elasticsearch-backup",
                cfg,
                k8s_provider,
                self.logging.namespace,
                self.logging.stack,
                self.backup_storage.elasticsearch,
                child,
            )
        self.vault_access = VaultAccess("vault-access", cfg, initialised, infra_trust, opts=child)
        # On Raft: autopilot and the snapshot job's Vault identity, through the deployer's Vault provider.
        self.vault_raft = None
        if self.secrets is not None and cfg.vault.storage == "raft":
            self.vault_raft = VaultRaft(
                "vault-raft", cfg, self.vault_access.provider, self.platform.oidc_issuer_url, opts=child
            )
        self.vault_backup = None
        if self.secrets is not None and self.backup_storage.vault is not None:
            store = self.secrets.consul if self.secrets.consul is not None else self.secrets.vault
            self.vault_backup = VaultBackup(
                "vault-backup",
                cfg,
                k8s_provider,
                store,
                self.backup_storage.vault,
                self.vault_raft.snapshot_role if self.vault_raft else None,
                child,
            )
        self.team_users = TeamUsers("team-users", cfg, self.vault_access, child)
        # Teams' pipelines log in to Azure with Concourse's idtokens: an identity per team with `azure`. Only where a
        # team has one: a new resource type reaches production only after staging ran it (the policy pack).
        self.team_identities = None
        if any(team.azure is not None for team in cfg.teams):
            self.team_identities = TeamIdentities(
                "team-identities", cfg, self.platform.resource_group_name, self.vault_access, child
            )
        # Teams write their own secrets: people log in to Vault through an app registration of its own.
        self.vault_login = self.team_secrets = None
        if cfg.vault.team_secrets.enabled:
            self.vault_login = VaultLogin(
                "vault-login",
                cfg,
                redirect_uris(cfg),
                self.login.login.group_object_ids,
                login_group_keys(cfg),
                child,
            )
            self.team_secrets = TeamSecrets("team-secrets", cfg, self.vault_access, self.vault_login.login, child)
        self.concourse = Concourse(
            "concourse",
            cfg,
            k8s_provider,
            self.platform.database,
            self.login.login,
            vault_auth_param=self.vault_access.vault_auth_param,
            team_users=self.team_users.passwords,
            influxdb=self.monitoring.influx_target,
            worker_pool=self.platform.worker_pool,
            service_monitor_crds=[self.monitoring.prometheus_stack],
            vault_ca_issuer=self.internal_ca.issuer if self.internal_ca else None,
            opts=child,
        )
        # Every namespace denies what the stack's edge list does not name (components/network_edges.py).
        spaces = {
            "ingress": self.ingress.namespace,
            "cert-manager": self.ingress.cert_manager_namespace,
            "concourse": self.concourse.namespace,
            "monitoring": self.monitoring.namespace,
        }
        if self.logging is not None:
            spaces["logging"] = self.logging.namespace
        if self.chartmuseum is not None:
            spaces["charts"] = self.chartmuseum.namespace
        if self.secrets is not None:
            spaces["secrets"] = self.secrets.namespace
        self.network_policies = NetworkPolicies(
            "network-policies",
            cfg,
            k8s_provider,
            {naming.NAMESPACES[key]: namespace for key, namespace in spaces.items()},
            child,
        )
        self.teams = Teams(
            "teams",
            cfg,
            self.concourse.admin_password,
            self.login.login.group_object_ids,
            concourse_ready=[self.concourse.release],
            opts=child,
        )
        # The canary pipeline in the stack's own smoke team: a build every few minutes proves builds still run.
        self.canary = Canary("canary", cfg, self.vault_access, self.teams, self.concourse.admin_password, opts=child)
        # The stack that hosts the deployer identities runs the infra Concourse: it sets the infra pipeline
        # (ci/pipeline.yml) there, with the vars it knows.
        self.infra_pipeline = None
        if self.deployers is not None:
            ids = {env: (cid, self.deployers.tenant_ids[env]) for env, cid in self.deployers.client_ids.items()}
            self.infra_pipeline = InfraPipeline(
                "infra-pipeline", cfg, self.vault_access, self.teams, self.concourse.admin_password, ids, opts=child
            )

        self.register_outputs(self.exports())

    def exports(self) -> dict[str, Any]:
        """Stack outputs: what an operator looks up and what the next environment's promotion gate reads."""
        cfg = self.cfg
        outputs = {
            "resourceGroupName": self.platform.resource_group_name,
            "clusterName": self.platform.cluster_name,
            "databaseServerName": self.platform.database_server_name,
            "databaseHost": self.platform.database.host,
            "keyVaultName": self.platform.key_vault_name,
            "backupStorageAccount": cfg.naming.backup_storage_account(),
            "ingressIp": self.platform.ingress.ip_address,
            "concourseUrl": f"https://{cfg.dns.host('concourse')}",
            "vaultUrl": f"https://{cfg.dns.host('vault')}",
            "grafanaUrl": f"https://{cfg.dns.host('grafana')}",
            # Log-in names; the passwords stay in these Kubernetes Secrets (namespace/name).
            "grafanaAdminUser": self.monitoring.grafana_admin_user,
            "grafanaAdminSecret": f"{monitoring.NAMESPACE}/{monitoring.GRAFANA_ADMIN_SECRET}",
            "releaseSet": release_set(cfg),
            # Read back by the next `up`'s storage guard (components/storage_guard.py); None for an external Vault.
            "vaultStorage": cfg.vault.in_cluster_store,
            "concourseWorkers": cfg.concourse.worker_replicas,
        }
        # A part left out has no outputs: a reader (tools/smoke.py) skips what a stack does not run.
        if self.logging is not None:
            outputs["kibanaUrl"] = f"https://{cfg.dns.host('kibana')}"
            # Elasticsearch's read-only user (Grafana's; the end-to-end smoke searches its marker with it).
            outputs["elasticsearchReaderSecret"] = f"{logging.NAMESPACE}/{logging.GRAFANA_READER_SECRET}"
        if self.chartmuseum is not None:
            outputs["chartmuseumUrl"] = f"https://{cfg.dns.host('chartmuseum')}"
            outputs["chartmuseumUser"] = self.chartmuseum.user
            outputs["chartmuseumAuthSecret"] = f"{charts.NAMESPACE}/{charts.AUTH_SECRET}"
        if self.deployers is not None:
            outputs["deployerClientIds"] = self.deployers.client_ids
            # What staging's and prod's Vault trust (their StackReference to this stack, cdstack:infraStack).
            outputs.update(infra_pipeline.trust_outputs(cfg))
        return outputs
