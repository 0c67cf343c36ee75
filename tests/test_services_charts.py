"""ChartMuseum: Azure Blob storage, the upload API, basic auth from a Secret, the public ingress with TLS."""

from __future__ import annotations

import json

import pytest

from components import naming
from components.endpoints import BlobStore
from components.services import charts
from components.services.charts import ChartMuseum
from tests.services import assert_release, names_of, plan_services, secret_string, stack_cfg
from tools import offline

KEY = "SENTINEL-account-key"
STORE = BlobStore(
    account_name=secret_string("stcontosostaging"),
    container_name=secret_string("charts"),
    account_key=secret_string(KEY),
)


def test_charts_live_in_the_blob_container():
    env = charts.chartmuseum_values(stack_cfg("staging"), "charts")["env"]
    assert env["open"]["STORAGE"] == "microsoft"
    assert env["open"]["STORAGE_MICROSOFT_CONTAINER"] == "charts"
    assert env["existingSecret"] == charts.AUTH_SECRET
    assert env["existingSecretMappings"]["AZURE_STORAGE_ACCOUNT"] == "azure-storage-account"
    assert env["existingSecretMappings"]["AZURE_STORAGE_ACCESS_KEY"] == "azure-storage-access-key"


def test_the_api_is_on_and_every_request_needs_the_generated_login():
    env = charts.chartmuseum_values(stack_cfg("staging"), "charts")["env"]
    assert env["open"]["DISABLE_API"] is False
    assert env["open"]["AUTH_ANONYMOUS_GET"] is False
    assert env["existingSecretMappings"]["BASIC_AUTH_USER"] == "basic-auth-user"
    assert env["existingSecretMappings"]["BASIC_AUTH_PASS"] == "basic-auth-pass"


def test_every_mapped_key_is_in_the_secret():
    data = charts.auth_data(STORE, secret_string("SENTINEL-password"))
    assert set(data) == set(charts.SECRET_MAPPINGS.values())
    assert data["azure-storage-access-key"] == KEY
    assert data["basic-auth-pass"] == "SENTINEL-password"
    assert data["basic-auth-user"] == charts.USER


def test_public_with_tls_from_the_cluster_issuer():
    ingress = charts.chartmuseum_values(stack_cfg("prod"), "charts")["ingress"]
    assert ingress["enabled"] is True
    assert ingress["ingressClassName"] == naming.INGRESS_CLASS
    assert ingress["annotations"] == {"cert-manager.io/cluster-issuer": naming.CLUSTER_ISSUER}
    assert ingress["hosts"] == [
        {"name": "charts.cd.contoso.com", "path": "/", "tls": True, "tlsSecret": "chartmuseum-tls"}
    ]


def test_no_secret_appears_in_values():
    text = json.dumps(charts.chartmuseum_values(stack_cfg("prod"), "charts"))
    assert "SENTINEL" not in text


@pytest.fixture(scope="module")
def plan() -> offline.Plan:
    def build(cfg, provider):
        return ChartMuseum("chartmuseum", cfg, provider, STORE)

    return plan_services("prod", build)


def test_release_is_pinned_atomic_and_timed(plan: offline.Plan):
    assert_release(plan, "chartmuseum", "chartmuseum", "chartmuseum")


def test_release_waits_for_its_secret_and_keeps_secrets_out_of_helm(plan: offline.Plan):
    chartmuseum = plan.get("kubernetes:helm.sh/v3:Release", "chartmuseum")
    assert names_of(plan, chartmuseum.dependencies) == {"chartmuseum-namespace", "chartmuseum-auth-secret"}
    text = json.dumps(chartmuseum.inputs["values"])
    assert offline.SECRET not in text and KEY not in text
    secret = plan.get("kubernetes:core/v1:Secret", "chartmuseum-auth-secret")
    assert secret.inputs["stringData"] == offline.SECRET
    assert secret.inputs["metadata"]["name"] == charts.AUTH_SECRET
