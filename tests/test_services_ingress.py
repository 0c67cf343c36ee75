"""Ingress and certificates: Traefik on the static IP, cert-manager with its CRDs, the Let's Encrypt ClusterIssuer."""

from __future__ import annotations

import pytest

from components import naming, sizing
from components.config.schema import LETS_ENCRYPT
from components.services import ingress
from tests.conftest import Planner
from tests.services import HELM_RELEASE, assert_release, ingress_address, plan_services, stack_cfg

CLUSTER_ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"


def test_traefik_takes_the_static_ip_from_its_own_resource_group():
    values = ingress.traefik_values("20.0.0.10", "rg-contoso-staging")
    annotations = values["service"]["annotations"]
    assert annotations["service.beta.kubernetes.io/azure-load-balancer-ipv4"] == "20.0.0.10"
    assert annotations["service.beta.kubernetes.io/azure-load-balancer-resource-group"] == "rg-contoso-staging"
    assert values["service"]["spec"]["type"] == "LoadBalancer"


def test_traefik_is_the_default_ingress_class_and_survives_a_node_drain():
    values = ingress.traefik_values("20.0.0.10", "rg")
    assert values["ingressClass"] == {"enabled": True, "isDefaultClass": True, "name": naming.INGRESS_CLASS}
    assert values["deployment"]["replicas"] >= 2
    assert values["podDisruptionBudget"] == {"enabled": True, "maxUnavailable": 1}


def test_cert_manager_installs_its_crds_and_exposes_expiry_metrics():
    values = ingress.cert_manager_values()
    assert values["crds"] == {"enabled": True}
    assert "prometheus" not in values  # its default (enabled, no ServiceMonitor): metrics Services, no CRD to wait for
    spec = ingress.cert_manager_service_monitor_spec()
    assert spec["endpoints"][0]["targetPort"] == "http-metrics"
    [names, instance, components] = spec["selector"]["matchExpressions"]
    assert "cert-manager" in names["values"] and instance["values"] == ["cert-manager"]
    assert "controller" in components["values"]  # the controller exports the certificate expiry metrics


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_cluster_issuer_uses_the_configured_acme_server_and_the_ingress_class(environment: str):
    cfg = stack_cfg("staging", tls={"acmeEmail": "platform-team@contoso.com", "acmeEnvironment": environment})
    acme = ingress.cluster_issuer_spec(cfg)["acme"]
    assert acme["server"] == LETS_ENCRYPT[environment]
    assert acme["email"] == "platform-team@contoso.com"
    assert acme["solvers"] == [{"http01": {"ingress": {"ingressClassName": naming.INGRESS_CLASS}}}]
    assert acme["privateKeySecretRef"]["name"]


def test_public_ingresses_get_their_certificate_from_the_cluster_issuer():
    assert ingress.tls_annotations() == {"cert-manager.io/cluster-issuer": naming.CLUSTER_ISSUER}
    assert ingress.ingress_tls("ci.example.com", "ci-tls") == [{"secretName": "ci-tls", "hosts": ["ci.example.com"]}]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_releases_and_the_issuer_under_the_mock_engine(stack: str):
    plan = plan_services(stack, lambda cfg, k8s: ingress.Ingress("ingress", cfg, k8s, ingress_address(), []))
    traefik = assert_release(plan, "traefik", "traefik", naming.NAMESPACES["ingress"])
    cert_manager = assert_release(plan, "cert-manager", "cert-manager", naming.NAMESPACES["cert-manager"])
    assert traefik.inputs["values"]["service"]["annotations"][ingress.AZURE_LB_IPV4] == "20.0.0.10"
    assert cert_manager.inputs["values"] == sizing.merge(sizing.REQUESTS["cert-manager"], ingress.cert_manager_values())
    assert cert_manager.dependencies == [plan.get("kubernetes:core/v1:Namespace", "cert-manager-namespace").urn]

    issuer = plan.get(CLUSTER_ISSUER, "cluster-issuer")
    assert issuer.inputs["metadata"]["name"] == naming.CLUSTER_ISSUER
    assert cert_manager.urn in issuer.dependencies  # its CRD and webhook come with the release
    # Traefik and cert-manager are independent: neither waits for the other.
    assert cert_manager.urn not in traefik.dependencies
    assert traefik.urn not in cert_manager.dependencies


def test_wired_into_the_stack_on_the_platforms_cluster_and_ip(shared_plan: Planner):
    plan = shared_plan("staging")
    traefik = plan.get(HELM_RELEASE, "traefik")
    assert "pulumi:providers:kubernetes::aks" in traefik.provider
    assert plan.get("azure-native:network:PublicIPAddress", "ingress-ip").urn in traefik.dependencies
    # cert-manager waits for nothing but its namespace (the internal CA and Vault wait for it); its ServiceMonitor
    # (certificate-expiry metrics) waits for the CRD's chart.
    assert plan.get(HELM_RELEASE, "cert-manager").dependencies == [
        plan.get("kubernetes:core/v1:Namespace", "cert-manager-namespace").urn
    ]
    monitor = plan.get("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "cert-manager-service-monitor")
    assert plan.get(HELM_RELEASE, "kube-prometheus-stack").urn in monitor.dependencies
