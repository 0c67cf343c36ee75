"""Who may read PostgreSQL's Azure Monitor metrics: an identity the metrics exporter assumes through workload
identity, with Monitoring Reader on exactly the flexible server (not its resource group, not the subscription).

Azure Monitor is read, not alerted on: its metrics reach Prometheus through webdevops' azure-metrics-exporter
(components/services/database_metrics.py), so PostgreSQL's alerts are rule files with promtool tests like every
other alert, routed by the same Alertmanager to the same Slack channels. Azure Monitor alert rules would need a
second alerting path (action groups, their own Slack wiring, no unit tests, no inhibition).
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import authorization, managedidentity

from components import naming
from components.azure.cluster import role_definition_id
from components.azure.keyvault import WORKLOAD_IDENTITY_AUDIENCE
from components.config import StackConfig
from components.endpoints import MetricsSource
from components.tags import common_tags

MONITORING_READER = "43d0d8ad-25c7-4714-9337-8ba259a9fe05"
"""Built-in role id: read monitoring data (metrics, logs) in the scope, change nothing (Microsoft Learn, "Azure
built-in roles for Monitor")."""


def exporter_subject() -> str:
    """The service account token the exporter's pod presents: the chart's service account in the monitoring
    namespace."""
    return f"system:serviceaccount:{naming.NAMESPACES['monitoring']}:{naming.AZURE_METRICS_EXPORTER}"


class DatabaseMetricsReader(pulumi.ComponentResource):
    """The metrics exporter's identity, its federation to the exporter's service account, and its role."""

    source: MetricsSource

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        resource_group_name: pulumi.Output[str],
        oidc_issuer_url: pulumi.Output[str],
        server_id: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:azure:DatabaseMetricsReader", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        identity = managedidentity.UserAssignedIdentity(
            "postgres-metrics-identity",
            resource_name_=cfg.naming.identity("postgres-metrics"),
            resource_group_name=resource_group_name,
            location=cfg.location,
            tags=common_tags(cfg),
            opts=child,
        )
        federation = managedidentity.FederatedIdentityCredential(
            "postgres-metrics-federation",
            federated_identity_credential_resource_name="azure-metrics-exporter-service-account",
            resource_name_=identity.name,
            resource_group_name=resource_group_name,
            issuer=oidc_issuer_url,
            subject=exporter_subject(),
            audiences=[WORKLOAD_IDENTITY_AUDIENCE],
            opts=child,
        )
        client = authorization.get_client_config_output()
        reader = authorization.RoleAssignment(
            "postgres-metrics-reader",
            principal_id=identity.principal_id,
            principal_type="ServicePrincipal",
            role_definition_id=client.subscription_id.apply(lambda s: role_definition_id(s, MONITORING_READER)),
            # Exactly the server: the exporter reads nothing else of the subscription.
            scope=server_id,
            opts=child,
        )
        self.source = MetricsSource(
            subscription_id=client.subscription_id,
            resource_id=server_id,
            identity_client_id=pulumi.Output.all(identity.client_id, federation.id, reader.id).apply(
                lambda ids: ids[0]
            ),
        )
        self.register_outputs({})
