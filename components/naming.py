"""One home for resource names: every Azure and Kubernetes name of a stack comes from here.

Names are `<kind>-<name>-<stack>` (Azure's recommended abbreviations), so two stacks of one project never collide and
a reader can tell a resource's stack from its name. Storage accounts and Key Vaults have short, global names: their
rules are checked at config time (`check()`, run by config/rules.py name_problems), so an invalid name is a config
error, not a failed deployment. It imports nothing of the project: the schema builds on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class NamingError(ValueError):
    pass


# Azure's rules for the names that have tight ones (learn.microsoft.com: resource name rules).
_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "storage_account": (re.compile(r"^[a-z0-9]{3,24}$"), "3-24 lower-case letters and digits, globally unique"),
    "backup_storage_account": (
        re.compile(r"^[a-z0-9]{3,24}$"),
        "3-24 lower-case letters and digits, globally unique",
    ),
    "key_vault": (
        re.compile(r"^(?!.*--)[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$"),
        "3-24 letters, digits and single hyphens, starting with a letter, globally unique",
    ),
    "postgres_server": (
        re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"),
        "3-63 lower-case letters, digits and hyphens, globally unique",
    ),
    "cluster": (re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,61}[a-zA-Z0-9]$"), "1-63 letters, digits, - and _"),
    "dns_prefix": (re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,52}[a-zA-Z0-9]$"), "1-54 letters, digits and hyphens"),
}


KEY_VAULT_SUFFIX_LENGTH = 4


@dataclass(frozen=True)
class Naming:
    name: str
    stack: str

    def _join(self, kind: str) -> str:
        return f"{kind}-{self.name}-{self.stack}"

    @property
    def compact_stack(self) -> str:
        return re.sub(r"[^a-z0-9]", "", self.stack.lower())

    def resource_group(self) -> str:
        return self._join("rg")

    def virtual_network(self) -> str:
        return self._join("vnet")

    def subnet(self, purpose: str) -> str:
        return f"snet-{purpose}"

    def cluster(self) -> str:
        return self._join("aks")

    def dns_prefix(self) -> str:
        return f"{self.name}-{self.stack}"

    def log_workspace(self) -> str:
        return self._join("log")

    def postgres_server(self) -> str:
        return self._join("psql")

    def key_vault(self, suffix: str) -> str:
        """`suffix`: random per Key Vault, generated in the stack's state. A destroyed vault keeps its name for its
        90-day soft-delete (purge protection forbids purging it early), so a rebuilt stack needs a new one."""
        return f"{self._join('kv')}-{suffix}"

    def storage_account(self) -> str:
        return f"st{self.name}{self.compact_stack}"

    def backup_storage_account(self) -> str:
        return f"stb{self.name}{self.compact_stack}"

    def identity(self, purpose: str) -> str:
        return f"id-{self.name}-{self.stack}-{purpose}"

    def public_ip(self, purpose: str) -> str:
        return f"pip-{self.name}-{self.stack}-{purpose}"

    def app_registration(self, purpose: str) -> str:
        """An Entra ID app registration: `purpose` is what logs in with it (concourse, vault)."""
        return f"{self.name}-{self.stack}-{purpose}"

    def group(self, key: str) -> str:
        return f"{self.name}-{self.stack}-{key}"

    def check(self) -> None:
        """Raise NamingError for the first name Azure would refuse."""
        if not re.match(r"^[a-z][a-z0-9-]*$", self.stack):
            raise NamingError(f"stack name {self.stack!r} must be lower-case letters, digits and hyphens")
        names = {
            "storage_account": self.storage_account(),
            "backup_storage_account": self.backup_storage_account(),
            "key_vault": self.key_vault("x" * KEY_VAULT_SUFFIX_LENGTH),
            "postgres_server": self.postgres_server(),
            "cluster": self.cluster(),
            "dns_prefix": self.dns_prefix(),
        }
        for kind, value in names.items():
            pattern, rule = _RULES[kind]
            if not pattern.match(value):
                raise NamingError(
                    f"makes the {kind.replace('_', ' ')} name {value!r} (stack {self.stack!r}), "
                    f"which Azure refuses: {rule}; choose a shorter name"
                )


# Kubernetes: one namespace per concern; releases have fixed names (no random suffix).
NAMESPACES = {
    "ingress": "ingress",
    "cert-manager": "cert-manager",
    "secrets": "vault",
    "concourse": "concourse",
    "monitoring": "monitoring",
    "logging": "logging",
    "charts": "chartmuseum",
}

# The Vault chart names its service account after the release ("vault"); the federated credential of the unseal
# identity must name exactly this subject.
VAULT_SERVICE_ACCOUNT = "vault"

# The node pool reserved for Concourse workers: AKS puts this label and taint on its nodes; the Concourse chart's
# worker nodeSelector and tolerations use the same two, so nothing else lands there and workers land nowhere else.
WORKER_POOL_LABEL = ("cdstack.io/pool", "concourse-workers")
WORKER_POD_LABEL = ("cdstack.io/workload", "concourse-worker")
"""Every worker generation's pods carry it (the chart's own labels name the release, which changes with each
generation), so what selects workers across generations (network policies) selects by it."""
WORKER_POOL_TAINT = "cdstack.io/pool=concourse-workers:NoSchedule"

# Network policies (components/network_edges.py): in every namespace the stack deploys into, one that denies all
# traffic, and per group of pods one that allows its edges.
DEFAULT_DENY_POLICY = "default-deny"


def network_policy(group: str) -> str:
    return f"allow-{group}"


# Every public host is served by this ingress class and gets its certificate from this ClusterIssuer.
INGRESS_CLASS = "traefik"
CLUSTER_ISSUER = "letsencrypt"

# The stack's internal CA (components/services/internal_ca.py): the bootstrap issuer, the CA's Secret (in
# cert-manager's namespace) and the ClusterIssuer in-cluster TLS certificates come from.
SELF_SIGNED_ISSUER = "cdstack-selfsigned"
INTERNAL_CA_SECRET = "cdstack-internal-ca"
INTERNAL_CA_ISSUER = "cdstack-internal-ca"
# Vault's listener certificate (vault namespace), and the trust anchor Concourse reads it with (concourse namespace).
VAULT_TLS_SECRET = "vault-server-tls"
VAULT_CA_SECRET = "vault-ca"
# The Traefik ServersTransport the public Vault ingress reaches Vault's listener through (vault namespace).
VAULT_SERVERS_TRANSPORT = "vault-tls"

# Vault's keys in the stack's Azure Key Vault (components/vault/init.py), one secret per key as bank-vaults keeps them.
VAULT_ROOT_TOKEN_SECRET = "vault-root-token"
VAULT_INIT_MARKER_SECRET = "vault-init-marker"
VAULT_CONSUL_PATH = "vault/"
"""Where Vault keeps its data in Consul's KV store."""


def vault_recovery_key_secret(index: int) -> str:
    return f"vault-recovery-key-{index}"


# The team every stack creates for itself (components/concourse/teams.py stack_teams): the canary pipeline
# (components/concourse/canary.py) and the end-to-end smoke run in it, as its local service user, whose login is in
# Vault at <prefix>/cdstack-smoke/service-user. Operator teams may not take either name (membership.team_problems).
SMOKE_TEAM = "cdstack-smoke"
SMOKE_SERVICE_USER = "cdstack-smoke"

# Backups (components/azure/backups.py, components/services/backups.py). Every backup CronJob is named backup-<what>:
# the BackupTooOld alert (alerts/prometheus/backups.yaml) watches exactly those.
BACKUP_CONTAINERS = {"vault": "vault-snapshots", "elasticsearch": "elasticsearch-snapshots"}
VAULT_BACKUP_CRONJOB = "backup-vault"
VAULT_BACKUP_SERVICE_ACCOUNT = "vault-backup"
ELASTICSEARCH_BACKUP_CRONJOB = "backup-elasticsearch"
ELASTICSEARCH_SERVICE_ACCOUNT = "elasticsearch"
"""Elasticsearch's own pods run as this service account: they write snapshots to Blob storage themselves."""
ELASTICSEARCH_SNAPSHOT_REPOSITORY = "azure-backups"
ELASTICSEARCH_SLM_POLICY = "cdstack-snapshots"

# PostgreSQL's Azure Monitor metrics (components/services/database_metrics.py): the exporter's service account, which
# the metrics reader identity is federated to.
AZURE_METRICS_EXPORTER = "azure-metrics-exporter"

SMOKE_TEAM = "cdstack-smoke"
