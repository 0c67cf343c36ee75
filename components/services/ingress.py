"""Ingress and certificates: Traefik on the stack's static public IP, cert-manager, and the Let's Encrypt issuer.

Every public host is an Ingress of class `naming.INGRESS_CLASS` with the annotation from `tls_annotations()`:
cert-manager's ingress-shim sees it and keeps a Let's Encrypt certificate in the Ingress's TLS Secret. That works in
whatever order the releases land (the shim reconciles existing Ingresses when it starts, and a Certificate waits
for its issuer), so no release that serves a host has to wait for cert-manager.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import hardening, naming
from components.config.schema import StackConfig
from components.endpoints import IngressAddress
from components.services.release import namespace, release

TRAEFIK_REPLICAS = 2
"""Two controllers, so a node drain or AKS upgrade never takes every public host offline at once."""

# AKS's cloud provider reads these from a LoadBalancer Service: the IP to use, and the resource group it lives in
# when that is not the cluster's node resource group (the platform keeps the IP in the stack's own group, so the
# IP outlives the cluster). The address annotation replaces the deprecated spec.loadBalancerIP.
AZURE_LB_IPV4 = "service.beta.kubernetes.io/azure-load-balancer-ipv4"
AZURE_LB_RESOURCE_GROUP = "service.beta.kubernetes.io/azure-load-balancer-resource-group"


def tls_annotations() -> dict[str, str]:
    """Annotations of every public Ingress: cert-manager issues its certificate from the stack's ClusterIssuer."""
    return {"cert-manager.io/cluster-issuer": naming.CLUSTER_ISSUER}


def ingress_tls(host: str, secret_name: str) -> list[dict[str, Any]]:
    """The `tls` list of a public Ingress: one host, its certificate in `secret_name` (cert-manager writes it)."""
    return [{"secretName": secret_name, "hosts": [host]}]


def traefik_values(ip_address: str, ip_resource_group: str) -> dict[str, Any]:
    return {
        "deployment": {"replicas": TRAEFIK_REPLICAS},
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
        "ingressClass": {"enabled": True, "isDefaultClass": True, "name": naming.INGRESS_CLASS},
        "service": {
            "spec": {"type": "LoadBalancer"},
            "annotations": {AZURE_LB_IPV4: ip_address, AZURE_LB_RESOURCE_GROUP: ip_resource_group},
        },
    }


def cert_manager_values() -> dict[str, Any]:
    # Static binaries that read only their projected service account token: they run as nobody rather than the
    # image's uid 1000 (under the high-UID bar); the chart's non-root and seccomp settings stay (Helm merges maps).
    nobody = {"securityContext": {"runAsUser": hardening.NOBODY, "runAsGroup": hardening.NOBODY}}
    return {
        # The chart installs (and upgrades) its CRDs itself; `installCRDs` is the deprecated spelling.
        "crds": {"enabled": True},
        **nobody,
        "webhook": nobody,
        "cainjector": nobody,
        "startupapicheck": nobody,
    }


def cert_manager_service_monitor_spec() -> dict[str, Any]:
    """Prometheus scrapes cert-manager's metrics (certmanager_certificate_expiration_timestamp_seconds: the
    certificate alerts) through this ServiceMonitor, the chart's own shape (cert-manager v1.21.1 templates/
    servicemonitor.yaml: the metrics Services of controller, webhook and cainjector, port `http-metrics`), made as a
    resource of its own rather than by the chart (`prometheus.servicemonitor.enabled`): a chart that renders one must
    wait for the Prometheus operator's CRD, and with cert-manager the internal CA and Vault would wait for it too
    (three minutes longer on a first `up`). The chart's `prometheus.enabled` (default true) keeps the Services."""
    return {
        "jobLabel": "app.kubernetes.io/name",
        "selector": {
            "matchExpressions": [
                {
                    "key": "app.kubernetes.io/name",
                    "operator": "In",
                    "values": ["cainjector", "cert-manager", "webhook"],
                },
                {"key": "app.kubernetes.io/instance", "operator": "In", "values": ["cert-manager"]},
                {
                    "key": "app.kubernetes.io/component",
                    "operator": "In",
                    "values": ["cainjector", "controller", "webhook"],
                },
            ]
        },
        "endpoints": [
            {
                "targetPort": "http-metrics",
                "path": "/metrics",
                "interval": "60s",
                "scrapeTimeout": "30s",
                "honorLabels": False,
            }
        ],
    }


def cluster_issuer_spec(cfg: StackConfig) -> dict[str, Any]:
    """The ACME ClusterIssuer: Let's Encrypt (server from config), HTTP-01 answered through the ingress class."""
    return {
        "acme": {
            "server": cfg.tls.acme_server,
            "email": cfg.tls.acme_email,
            "privateKeySecretRef": {"name": f"{naming.CLUSTER_ISSUER}-account-key"},
            "solvers": [{"http01": {"ingress": {"ingressClassName": naming.INGRESS_CLASS}}}],
        }
    }


class Ingress(pulumi.ComponentResource):
    """Traefik, cert-manager and the ClusterIssuer every public host's certificate comes from."""

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        provider: k8s.Provider,
        address: IngressAddress,
        service_monitor_crds: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`service_monitor_crds`: what installs the ServiceMonitor CRD (cert-manager's metrics are scraped through
        one)."""
        super().__init__("cdstack:services:Ingress", name, None, opts)

        ingress_ns = namespace(naming.NAMESPACES["ingress"], provider, self)
        self.namespace = ingress_ns
        values = pulumi.Output.all(address.ip_address, address.resource_group_name).apply(
            lambda args: traefik_values(args[0], args[1])
        )
        self.traefik = release("traefik", "traefik", cfg, ingress_ns, values, provider, self)

        cert_manager_ns = namespace(naming.NAMESPACES["cert-manager"], provider, self)
        self.cert_manager_namespace = cert_manager_ns
        self.cert_manager = release(
            "cert-manager",
            "cert-manager",
            cfg,
            cert_manager_ns,
            cert_manager_values(),
            provider,
            self,
        )
        self.cert_manager_monitor = k8s.apiextensions.CustomResource(
            "cert-manager-service-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="cert-manager", namespace=cert_manager_ns.metadata.name),
            spec=cert_manager_service_monitor_spec(),
            # Its kind is the Prometheus operator's CRD.
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(service_monitor_crds)),
        )

        self.cluster_issuer = k8s.apiextensions.CustomResource(
            "cluster-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=naming.CLUSTER_ISSUER),
            spec=cluster_issuer_spec(cfg),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=provider,
                # The ClusterIssuer kind is a CRD the cert-manager release installs, and its admission webhook must
                # answer before the API server accepts the object: the atomic release is done only when both are.
                depends_on=[self.cert_manager],
            ),
        )

        self.register_outputs({"ingressClass": naming.INGRESS_CLASS, "clusterIssuer": naming.CLUSTER_ISSUER})
