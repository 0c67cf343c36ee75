"""The storage guard: a deployed stack keeps its Vault store until its data has been migrated.

Changing `vault.storage` of a deployed stack would not move Vault's data: it would replace the Vault holding it with
an empty one on the other store (and, from Consul to Raft, delete the Consul release). So the stack exports its store
(`vaultStorage`), and the program reads the value its last `up` exported the way the promotion gate reads its source
stack (components/promotion.py): through a StackReference, here to the stack itself. A store other than the
configured one stops the program with one message, before any resource is registered, unless
`vault.storageMigration: done` says the data was moved (docs/vault.md, "Moving Vault from Consul to Raft").

A stack deployed before the export existed ran Vault on Consul, the only store there was: its outputs have a Key
Vault (the in-cluster Vault's unseal key) and no `vaultStorage`, and are read as `consul`. A stack never deployed has
no outputs and passes.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.config.schema import StackConfig
from components.problem import NAMESPACE

OUTPUT = "vaultStorage"


class StorageSwitchError(pulumi.RunError):
    """The guard refused: a RunError, so Pulumi prints the message without a Python traceback."""


def deployed_store(outputs: dict[str, Any]) -> str | None:
    """The Vault store the stack's last `up` ran (None for a stack never deployed, or with an external Vault)."""
    if OUTPUT in outputs:
        return outputs[OUTPUT]
    return "consul" if outputs.get("keyVaultName") else None


def problem(cfg: StackConfig, outputs: dict[str, Any]) -> str | None:
    """The refusal's message, or None when the configured store may be deployed."""
    deployed, wanted = deployed_store(outputs), cfg.vault.in_cluster_store
    if deployed is None or wanted is None or deployed == wanted or cfg.vault.storage_migration == "done":
        return None
    return (
        f"Pulumi.{cfg.stack}.yaml: {NAMESPACE}:vault.storage: got {wanted}; stack {cfg.stack} runs Vault on "
        f"{deployed}, and switching the store would replace the Vault holding the data with an empty one. Migrate "
        f"the data first (docs/vault.md: Moving Vault from {deployed.capitalize()} to {wanted.capitalize()}), then set "
        f"{NAMESPACE}:vault.storageMigration: done; or keep vault.storage: {deployed}."
    )


def guard(cfg: StackConfig) -> pulumi.Output[pulumi.Resource] | None:
    """The guard as an Output for CdStack's depends_on; None for an external Vault (its store is not ours)."""
    if cfg.vault.in_cluster_store is None:
        return None
    own = pulumi.StackReference(f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}")

    def passed(outputs: Any) -> pulumi.Resource:
        refusal = problem(cfg, outputs if isinstance(outputs, dict) else {})
        if refusal is not None:
            raise StorageSwitchError(refusal)
        return own

    return own.outputs.apply(passed)
