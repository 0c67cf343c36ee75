"""Test helpers for the Kubernetes services: a stack's typed config, fake platform outputs, values-path lookups.

The fakes stand in for what the Azure platform, the login app and the other helpers' components hand the services;
they are made inside a program under the mock engine (Outputs need its runtime).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from components import catalog
from components.config import loader
from components.config.schema import StackConfig
from components.endpoints import (
    BackupTarget,
    DatabaseEndpoint,
    InfluxTarget,
    IngressAddress,
    OidcLogin,
    VaultUnseal,
)
from components.services.release import HISTORY
from tests.conftest import stack_config
from tools import offline

CA_BUNDLE = "-----BEGIN CERTIFICATE-----\nMIIBfakeDigiCertGlobalRootG2\n-----END CERTIFICATE-----\n"
ADMIN_GROUP_ID = "6f1c2a9e-3b7d-4c11-9e2a-5d8b0f4a7c31"


def stack_cfg(stack: str, **changes: Any) -> StackConfig:
    """A stack file's configuration as the program sees it, with top-level keys (camelCase) replaced."""
    raw = {key.split(":", 1)[1]: value for key, value in stack_config(stack).items() if key.startswith("cdstack:")}
    raw.update(changes)
    raw["stack"] = stack
    return StackConfig.model_validate(raw)


def vault_hcl_path(values: dict[str, Any]) -> str:
    """Where the Vault chart reads the server's HCL in these values: `server.ha.raft.config` on Raft storage,
    `server.ha.config` on Consul (services/secrets.py storage_values)."""
    return "server.ha.raft.config" if "raft" in values["server"]["ha"] else "server.ha.config"


def at(values: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of a values dict."""
    node: Any = values
    for part in path.split("."):
        node = node[part]
    return node


def strings_in(value: Any) -> list[str]:
    """Every string anywhere in a values dict (keys and leaves)."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *strings_in(v)]]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return [value] if isinstance(value, str) else []


def provider() -> k8s.Provider:
    return k8s.Provider("k8s", kubeconfig=offline.FAKE_KUBECONFIG)


def database() -> DatabaseEndpoint:
    return DatabaseEndpoint(
        host=pulumi.Output.from_input("psql-contoso-test.postgres.database.azure.com"),
        port=5432,
        database="concourse",
        user=pulumi.Output.from_input("concourseadmin"),
        password=pulumi.Output.secret("db-password-sentinel"),
        ca_bundle=CA_BUNDLE,
    )


def login() -> OidcLogin:
    return OidcLogin(
        issuer_url=pulumi.Output.from_input("https://login.microsoftonline.com/tenant-id/v2.0"),
        client_id=pulumi.Output.from_input("app-client-id"),
        client_secret=pulumi.Output.secret("oidc-secret-sentinel"),
        group_object_ids={"platform-admins": pulumi.Output.from_input(ADMIN_GROUP_ID)},
    )


def influxdb() -> InfluxTarget:
    return InfluxTarget(
        url="http://influxdb2.monitoring.svc.cluster.local",
        database="concourse",
        username="concourse",
        password=pulumi.Output.secret("influx-password-sentinel"),
    )


def unseal() -> VaultUnseal:
    return VaultUnseal(
        tenant_id=pulumi.Output.from_input("00000000-0000-4000-8000-000000000001"),
        key_vault_name=pulumi.Output.from_input("kv-contoso-test"),
        key_name=pulumi.Output.from_input("vault-unseal"),
        identity_client_id=pulumi.Output.from_input("11111111-0000-4000-8000-000000000005"),
    )


def snapshot_target() -> BackupTarget:
    """Elasticsearch's snapshot container and its writer identity, as the backup storage hands them out."""
    return BackupTarget(
        account_name=pulumi.Output.from_input("stbcontosoprod"),
        container_name=pulumi.Output.from_input("elasticsearch-snapshots"),
        identity_client_id=pulumi.Output.from_input("1b2c3d4e-0000-4000-8000-00000000e5b0"),
    )


def ingress_address() -> IngressAddress:
    return IngressAddress(
        ip_address=pulumi.Output.from_input("20.0.0.10"),
        resource_group_name=pulumi.Output.from_input("rg-contoso-test"),
    )


def plan_services(
    stack: str, build: Callable[[StackConfig, k8s.Provider], object], extra_config: dict[str, Any] | None = None
) -> offline.Plan:
    """Run `build(cfg, provider)` under the mock engine with a stack file's config plus `extra_config`."""
    flat, secret_keys = offline.flatten_config({**stack_config(stack), **(extra_config or {})})

    def program() -> None:
        build(loader.load(), provider())

    return offline.run(stack, flat, secret_keys, program=program)


WITH_WEBHOOK = {"cdstack:slackWebhookUrl": {"secure": "v1:encrypted-offline"}}


def release_values(plan: offline.Plan, name: str) -> dict[str, Any]:
    return plan.get(HELM_RELEASE, name).inputs["values"]


def secret_string(value: str) -> pulumi.Output[str]:
    """A stand-in for a Pulumi secret where a pure builder only passes it along (outside the mock engine)."""
    return cast(Any, value)


def names_of(plan: offline.Plan, urns: list[str]) -> set[str]:
    by_urn = {r.urn: r.name for r in plan.registrations}
    return {by_urn[urn] for urn in urns}


HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def assert_release(
    plan: offline.Plan,
    name: str,
    chart_key: str,
    namespace: str,
    timeout_seconds: int | None = None,
    awaited: bool = True,
) -> offline.Registration:
    """The release is the catalog chart at the stack's pinned version, fixed name, atomic (or, `awaited` False, not
    waited for at all), bounded (by the catalog's install timeout unless `timeout_seconds` says otherwise), in its
    namespace."""
    chart = catalog.CHARTS[chart_key]
    registration = plan.get(HELM_RELEASE, name)
    inputs = registration.inputs
    assert inputs["name"] == name  # fixed: no random suffix
    assert inputs["chart"] == chart.chart
    assert inputs["version"] == chart.version
    assert inputs["repositoryOpts"] == {"repo": chart.repository}
    assert inputs["atomic"] is awaited
    assert inputs.get("skipAwait", False) is not awaited
    assert inputs["cleanupOnFail"] is True
    assert inputs["timeout"] == (timeout_seconds or chart.timeout_seconds)
    assert inputs["maxHistory"] == HISTORY
    assert inputs["namespace"] == namespace
    return registration


def counting_program(registered: list[int]) -> Callable[[], None]:
    """The program's `main`, appending to `registered` how many resources it registered before it returned or
    raised: the tests that prove a refusal comes before any resource exists read it."""

    def program() -> None:
        from components.program import main

        try:
            main()
        finally:
            monitor = pulumi.runtime.settings.get_monitor()
            assert isinstance(monitor, offline.RecordingMonitor)
            registered.append(len(monitor.registrations))

    return program
