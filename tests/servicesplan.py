"""Run observability components alone under the mock engine: a stack's config, a Kubernetes provider, the component.

The services tests use this rather than the whole CdStack so they need nothing of the Azure platform (a fake
BlobStore stands in for the storage account). Secrets in config (`secure:`) become flagged placeholders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from components import catalog, config
from components.config import StackConfig
from components.services import release
from tests.conftest import stack_config
from tools import offline

Build = Callable[[StackConfig, k8s.Provider], Any]


def plan_services(stack: str, build: Build, extra_config: dict[str, Any] | None = None) -> offline.Plan:
    """Plan `build(cfg, provider)` with the stack file's config plus `extra_config` (e.g. a secure webhook)."""
    flat, secret_keys = offline.flatten_config({**stack_config(stack), **(extra_config or {})})

    def program() -> None:
        cfg = config.load()
        provider = k8s.Provider("k8s", kubeconfig=offline.FAKE_KUBECONFIG)
        build(cfg, provider)

    return offline.run(stack, flat, secret_keys, program=program)


WITH_WEBHOOK = {"cdstack:slackWebhookUrl": {"secure": "v1:encrypted-offline"}}


def release_values(plan: offline.Plan, name: str) -> dict[str, Any]:
    return plan.get("kubernetes:helm.sh/v3:Release", name).inputs["values"]


def secret_string(value: str) -> pulumi.Output[str]:
    """A stand-in for a Pulumi secret where a builder only passes it along (never inside the mock engine)."""
    return cast(Any, value)


def cfg_of(stack: str) -> StackConfig:
    """A stack file's configuration as the typed model, without the Pulumi runtime (for the pure builders)."""
    raw = {key.split(":", 1)[1]: value for key, value in stack_config(stack).items() if key.startswith("cdstack:")}
    return StackConfig.model_validate({**raw, "stack": stack})


def assert_release_basics(plan: offline.Plan, name: str, chart_key: str, namespace: str) -> None:
    """Fixed name, the catalog's chart, repository, pinned version and timeout, atomic with cleanup, bounded history."""
    chart = catalog.CHARTS[chart_key]
    inputs = plan.get("kubernetes:helm.sh/v3:Release", name).inputs
    assert inputs["name"] == name
    assert inputs["chart"] == chart.chart
    assert inputs["repositoryOpts"] == {"repo": chart.repository}
    assert inputs["version"] == chart.version
    assert inputs["namespace"] == namespace
    assert inputs["atomic"] is True
    assert inputs["cleanupOnFail"] is True
    assert inputs["timeout"] == chart.timeout_seconds
    assert inputs["maxHistory"] == release.HISTORY


def names_of(plan: offline.Plan, urns: list[str]) -> set[str]:
    by_urn = {r.urn: r.name for r in plan.registrations}
    return {by_urn[urn] for urn in urns}
