"""The typed outputs one component hands another: what crosses a component boundary, and nothing more.

Producers (the Azure platform, the login app, monitoring) build these; consumers (the Helm services, Vault access,
teams) take them as arguments. Secret fields are Pulumi secrets end to end.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class DatabaseEndpoint:
    """Where Concourse's PostgreSQL is and how to log in (TLS with CA verification)."""

    host: pulumi.Output[str]
    port: int
    database: str
    user: pulumi.Output[str]
    password: pulumi.Output[str]  # secret
    ca_bundle: str  # PEM of the roots Azure's flexible servers chain to; shipped as data


@dataclass(frozen=True)
class VaultUnseal:
    """Azure Key Vault auto-unseal for the in-cluster Vault, through workload identity."""

    tenant_id: pulumi.Output[str]
    key_vault_name: pulumi.Output[str]
    key_name: pulumi.Output[str]
    identity_client_id: pulumi.Output[str]


@dataclass(frozen=True)
class BlobStore:
    """ChartMuseum's Azure Blob container (shared-key access: ChartMuseum has no managed-identity support)."""

    account_name: pulumi.Output[str]
    container_name: pulumi.Output[str]
    account_key: pulumi.Output[str]  # secret


@dataclass(frozen=True)
class OidcLogin:
    """The Entra ID app registration Concourse logs in with."""

    issuer_url: pulumi.Output[str]
    client_id: pulumi.Output[str]
    client_secret: pulumi.Output[str]  # secret
    group_object_ids: dict[str, pulumi.Output[str]]  # by the group's key in cdstack:identity.groups


@dataclass(frozen=True)
class IngressAddress:
    """The static public IP the ingress controller's load balancer uses."""

    ip_address: pulumi.Output[str]
    resource_group_name: pulumi.Output[str]


@dataclass(frozen=True)
class InfluxTarget:
    """Where Concourse writes build metrics (InfluxDB 1.x write API, as Concourse's emitter speaks it)."""

    url: str
    database: str
    username: str
    password: pulumi.Output[str]  # secret


@dataclass(frozen=True)
class SearchReader:
    """A read-only Elasticsearch login for Grafana's log datasource (ECK file-realm user, password generated)."""

    url: str
    index: str
    username: str
    password: pulumi.Output[str]  # secret


@dataclass(frozen=True)
class BackupTarget:
    """A Blob container one backup job writes to, and the identity (workload identity) allowed to write there."""

    account_name: pulumi.Output[str]
    container_name: pulumi.Output[str]
    identity_client_id: pulumi.Output[str]  # handed out once the identity holds its role on the container


@dataclass(frozen=True)
class MetricsSource:
    """An Azure resource whose Azure Monitor metrics Prometheus reads, and the identity (workload identity) allowed
    to read them."""

    subscription_id: pulumi.Output[str]
    resource_id: pulumi.Output[str]
    identity_client_id: pulumi.Output[str]  # handed out once the identity holds Monitoring Reader on the resource
