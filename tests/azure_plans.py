"""Test helpers for the Azure platform: cdstack's program exporting the typed endpoints the services consume, a run of
it under the mock engine, a stack file's settings, and the resource types the tests look up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from components.config import loader, schema
from components.stack import CdStack
from tests.conftest import stack_config
from tools import offline

STACKS = ["staging", "prod"]
CLUSTER = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
SERVER = "azure-native:dbforpostgresql:Server"
ROLE = "azure-native:authorization:RoleAssignment"


def endpoints_program() -> None:
    """cdstack's program, also exporting the typed endpoints the services consume (to check secrecy and values)."""
    cfg = loader.load()
    stack = CdStack(cfg)
    platform = stack.platform
    exports: dict[str, Any] = {
        **stack.exports(),
        "db.host": platform.database.host,
        "db.port": platform.database.port,
        "db.database": platform.database.database,
        "db.user": platform.database.user,
        "db.password": platform.database.password,
        "db.caBundle": platform.database.ca_bundle,
        "ingress.ip": platform.ingress.ip_address,
        "ingress.rg": platform.ingress.resource_group_name,
        "oidcIssuerUrl": platform.oidc_issuer_url,
        "hasUnseal": platform.vault_unseal is not None,
        **(
            {
                "blob.account": store.account_name,
                "blob.container": store.container_name,
                "blob.key": store.account_key,
            }
            if (store := platform.chartmuseum_store) is not None
            else {}
        ),
    }
    if platform.vault_unseal:
        u = platform.vault_unseal
        exports |= {
            "unseal.tenant": u.tenant_id,
            "unseal.vault": u.key_vault_name,
            "unseal.key": u.key_name,
            "unseal.client": u.identity_client_id,
        }
    for key, value in exports.items():
        pulumi.export(key, value)


def run(stack: str, cfg: dict[str, Any] | None = None) -> offline.Plan:
    flat, secret_keys = offline.flatten_config(cfg if cfg is not None else stack_config(stack))
    return offline.run(stack, flat, secret_keys, program=endpoints_program)


def settings(stack: str, **changes: Any) -> schema.StackConfig:
    """A stack file's configuration as the program sees it, with `changes` (camelCase, as in the stack file) merged
    into its sections: settings("prod", cluster={"workerPool": {"minCount": 1}})."""
    raw = {key.split(":", 1)[1]: value for key, value in stack_config(stack).items() if key.startswith("cdstack:")}
    return schema.StackConfig.model_validate({**merged(raw, changes), "stack": stack})


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in changes.items():
        old = result.get(key)
        result[key] = merged(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return result


def plain(args: Mapping[str, Any]) -> dict[str, Any]:
    """A builder's SDK dict (a TypedDict whose keys are all optional) as a plain dict, to read its keys in a test."""
    return dict(args)


def urn(plan: offline.Plan, type_: str, name: str) -> str:
    return plan.get(type_, name).urn
