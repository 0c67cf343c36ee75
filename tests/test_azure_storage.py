"""ChartMuseum's storage under the mock engine: a private account whose key is a secret."""

from __future__ import annotations

import pytest

from components.azure import storage
from tests.azure_plans import STACKS, settings
from tools import offline


@pytest.mark.parametrize("stack", STACKS)
def test_chart_storage_is_private_with_a_secret_key(azure_plans: dict[str, offline.Plan], stack: str):
    plan = azure_plans[stack]
    account = plan.get("azure-native:storage:StorageAccount", "chart-storage").inputs
    assert account["accountName"] == f"stcontoso{stack}"
    assert account["allowSharedKeyAccess"] is True
    assert account["allowBlobPublicAccess"] is False
    assert account["minimumTlsVersion"] == "TLS1_2"
    container = plan.get("azure-native:storage:BlobContainer", "charts-container").inputs
    assert container["publicAccess"] == "None"
    assert (plan.outputs["blob.account"], plan.outputs["blob.container"]) == (f"stcontoso{stack}", "charts")
    assert plan.outputs["blob.key"] == offline.SECRET


def test_chart_account_is_zone_redundant_private_and_keyed_for_chartmuseum():
    account = storage.chart_account(settings("prod"))
    assert account["account_name"] == "stcontosoprod"
    assert account["sku"] == {"name": "Standard_ZRS"}
    assert account["allow_shared_key_access"] is True  # ChartMuseum's Azure backend knows only the account key
    assert (account["allow_blob_public_access"], account["minimum_tls_version"]) == (False, "TLS1_2")
    assert account["enable_https_traffic_only"] is True
