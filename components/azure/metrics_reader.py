"""Who may read PostgreSQL's Azure Monitor metrics: an identity the metrics exporter assumes through workload
identity, with Monitoring Reader on exactly the flexible server (not its resource group, not the subscription).

Azure Monitor is read, not alerted on: its metrics reach Prometheus through webdevops' azure-metrics-exporter
(components/services/database_metrics.py), so PostgreSQL's alerts are rule files with promtool tests like every
other alert, routed by the same Alertmanager to the same Slack channels. Azure Monitor alert rules would need a
second alerting path (action groups, their own Slack wiring, no unit tests, no inhibition).
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import authorization

from components import naming
from components.azure.workload_identity import federated_identity, service_account_subject
from components.config.schema import StackConfig
from components.endpoints import MetricsSource

MONITORING_READER = "43d0d8ad-25c7-4714-9337-8ba259a9fe05"
"""Built-in role id: read monitoring data (metrics, logs) in the scope, change nothing (Microsoft Learn, "Azure
built-in roles for Monitor")."""


def exporter_subject() -> str:
    """The service account token the exporter's pod presents: the chart's service account in the monitoring
    namespace."""
    return service_account_subject(naming.NAMESPACES["monitoring"], naming.AZURE_METRICS_EXPORTER)


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
        self.source = MetricsSource(
            subscription_id=authorization.get_client_config_output().subscription_id,
            resource_id=server_id,
            identity_client_id=federated_identity(
                "postgres-metrics",
                cfg,
                resource_group_name,
                oidc_issuer_url,
                exporter_subject(),
                "azure-metrics-exporter-service-account",
                # Exactly the server: the exporter reads nothing else of the subscription.
                ("postgres-metrics-reader", MONITORING_READER),
                server_id,
                self,
            ),
        )
        self.register_outputs({})
