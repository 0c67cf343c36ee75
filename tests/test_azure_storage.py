"""ChartMuseum's storage under the mock engine: a private account whose key is a secret."""

from __future__ import annotations

import pytest

from tests.azure import STACKS
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
