"""PostgreSQL's storage, CPU and connections in Prometheus: webdevops' azure-metrics-exporter reads the flexible
server's Azure Monitor metrics with the metrics reader identity (components/azure/metrics_reader.py, workload
identity, Monitoring Reader on the server only), and a ServiceMonitor the chart renders from `metricProbes` scrapes
its `/probe/metrics/resource` endpoint with the server as target. alerts/prometheus/postgres.yaml alerts on them.

Shapes, from upstream at the pinned versions:
- the probe and its parameters (`subscription`, `target`, `metric`, `aggregation`, `interval`, `timespan`, `name`,
  `template`): webdevops/azure-metrics-exporter README "/probe/metrics/resource parameters" (25.12.0);
- metric names: metrics/insights.general.go buildMetric fills the template, then replaces `-`, ` `, `/`, `.` with `_`
  and lower-cases, so `{name}_{metric}_{aggregation}` with name `azure_postgresql` gives
  `azure_postgresql_cpu_percent_average`; the labels kept are resourceID (lower-cased), resourceName, resourceGroup,
  subscriptionID, unit, interval, timespan (metrics/insights.target.go);
- workload identity: `AZURE_AUTH=workloadidentity` makes go-common's azidentity use the token the AKS webhook
  projects (go-common azuresdk/azidentity/credential.go);
- Azure Monitor metric names of Microsoft.DBforPostgreSQL/flexibleServers: cpu_percent, storage_percent,
  active_connections (Microsoft Learn, "Supported metrics for Microsoft.DBforPostgreSQL/flexibleServers": PT1M grain,
  Average/Maximum/Minimum).

The connections alert relates to the SKU's limit: the program records it from config as the series
`cdstack:postgres_user_connections:limit` (a recording rule of a constant, in a PrometheusRule of its own), so the
alert file stays a plain rule file and follows a SKU change without an edit.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import catalog, hardening, naming
from components.config.schema import StackConfig
from components.endpoints import MetricsSource
from components.services import release

NAMESPACE = naming.NAMESPACES["monitoring"]
RELEASE = "azure-metrics-exporter"
EXPORTER_PORT = 8080
"""The chart's container and Service port (templates/deployment.yaml, values service.port)."""

METRIC_PREFIX = "azure_postgresql"
METRIC_TEMPLATE = "{name}_{metric}_{aggregation}"
METRICS = ("cpu_percent", "storage_percent", "active_connections")
AGGREGATIONS = ("average", "maximum")
WINDOW = "PT5M"
"""Each scrape reads one 5-minute aggregate per metric (interval = timespan: one data point, so one sample per
series); the exporter caches it for the window, so Azure's API is asked once per window, not once per scrape."""

LIMIT_RECORD = "cdstack:postgres_user_connections:limit"
LIMIT_RULE = "postgres-limits"


def probe_params(subscription_id: str, server_id: str) -> dict[str, list[str]]:
    """The query string of the probe: every value a list, as Prometheus sends `params`."""
    return {
        "subscription": [subscription_id],
        "target": [server_id],
        "metric": list(METRICS),
        "aggregation": list(AGGREGATIONS),
        "interval": [WINDOW],
        "timespan": [WINDOW],
        "name": [METRIC_PREFIX],
        "template": [METRIC_TEMPLATE],
    }


def exporter_values(subscription_id: str, server_id: str, client_id: str) -> dict[str, Any]:
    """azure-metrics-exporter 1.2.11: logged in through workload identity, probing the one server every minute."""
    return {
        "image": {"tag": catalog.IMAGES["azure-metrics-exporter"]},
        "serviceAccount": {
            "create": True,
            "name": naming.AZURE_METRICS_EXPORTER,
            "annotations": {"azure.workload.identity/client-id": client_id},
        },
        "podLabels": {"azure.workload.identity/use": "true"},
        # A static binary with a read-only root file system (the chart's container context): it runs as nobody
        # rather than the chart's uid 1000 (under the high-UID bar); non-root and RuntimeDefault stay.
        "securityContext": {
            "runAsUser": hardening.NOBODY,
            "runAsGroup": hardening.NOBODY,
            "fsGroup": hardening.NOBODY,
            "supplementalGroups": [hardening.NOBODY],
        },
        "env": {"AZURE_AUTH": "workloadidentity", "ENABLE_CACHING": "true"},
        # The chart's NetworkPolicy admits nothing by default (netpol.ingress: []); Prometheus scrapes from here.
        "netpol": {
            "ingress": [
                {
                    "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}}}],
                    "ports": [{"port": EXPORTER_PORT, "protocol": "TCP"}],
                }
            ]
        },
        "prometheus": {
            "metricProbes": {
                "interval": "1m",
                "scrapeTimeout": "50s",
                "probes": [
                    {
                        "name": "postgres",
                        "path": "/probe/metrics/resource",
                        "params": probe_params(subscription_id, server_id),
                    }
                ],
            }
        },
    }


def user_connections_limit(cfg: StackConfig) -> int:
    return catalog.postgres_user_connections(catalog.POSTGRES_SKUS[cfg.database.sku_name])


def limit_rules(cfg: StackConfig) -> dict[str, Any]:
    """The PrometheusRule spec recording the server's user connection limit for this stack's SKU."""
    return {
        "groups": [
            {
                "name": LIMIT_RULE,
                "rules": [
                    {
                        "record": LIMIT_RECORD,
                        "expr": f"vector({user_connections_limit(cfg)})",
                        "labels": {"server": cfg.naming.postgres_server(), "sku": cfg.database.sku_name},
                    }
                ],
            }
        ]
    }


class DatabaseMetrics(pulumi.ComponentResource):
    """The exporter's release and the connection limit's recording rule, in the monitoring namespace."""

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: k8s.Provider,
        namespace: k8s.core.v1.Namespace,
        source: MetricsSource,
        monitoring_crds: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cdstack:services:DatabaseMetrics", name, None, opts)
        values = pulumi.Output.all(source.subscription_id, source.resource_id, source.identity_client_id).apply(
            lambda ids: exporter_values(ids[0], ids[1], ids[2])
        )
        # After kube-prometheus-stack: its CRDs define the ServiceMonitor and PrometheusRule below.
        self.release = release.release(
            RELEASE, RELEASE, cfg, namespace, values, provider, self, depends_on=[monitoring_crds]
        )
        k8s.apiextensions.CustomResource(
            LIMIT_RULE,
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=LIMIT_RULE, namespace=namespace.metadata.name),
            spec=limit_rules(cfg),
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[monitoring_crds]),
        )
        self.register_outputs({})
