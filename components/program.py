"""The program: configuration first, then who runs it, then the promotion gate and the storage guard, then the
graph, then the outputs."""

from collections.abc import Mapping
from typing import Any

import pulumi

from components import promotion, storage_guard
from components.config import loader, schema
from components.stack import CdStack
from components.vault import login as vault_login
from components.vault import pipeline_login as vault_pipeline_login


def check_deployer(cfg: schema.StackConfig, trusted: Mapping[str, Any] | None) -> None:
    """Before any resource: the in-cluster Vault's deployer can log in. Its token is there, readable and not about to
    expire (DeployerError), and a service principal running the `up` is listed in `vault.deployerObjectIds`
    (ConfigError naming the stack file and the key). An external Vault is logged in to as its owners say."""
    if cfg.vault.mode != "in-cluster":
        return
    deployer = vault_login.current()
    problems = vault_login.identity_problems(deployer, cfg.vault.deployer_object_ids, trusted)
    if problems:
        raise loader.ConfigError(loader.stack_file(), problems)
    vault_login.vault_login_role(deployer, cfg.vault.deployer_object_ids, trusted)


def deployer_gate(
    cfg: schema.StackConfig, infra: vault_pipeline_login.InfraTrust | None
) -> pulumi.Output[pulumi.Resource] | None:
    """check_deployer, at once when this stack trusts no infra pipeline; else once the infra stack's outputs say
    which token is the pipeline's, as a gate CdStack waits for (like the promotion gate: nothing is created first)."""
    if infra is None:
        check_deployer(cfg, None)
        return None

    def checked(trusted: dict[str, Any]) -> pulumi.Resource:
        check_deployer(cfg, trusted)
        return infra.reference

    return infra.trust.apply(checked)


def main() -> None:
    cfg = loader.load()  # raises ConfigError before any resource exists
    infra = vault_pipeline_login.trust(cfg)  # the one read of the infra stack's outputs
    gates = [g for g in (deployer_gate(cfg, infra), promotion.gate(cfg), storage_guard.guard(cfg)) if g is not None]
    # CdStack waits for the gates: it is the parent of every resource, so a refused promotion or a switch of Vault's
    # store creates nothing.
    stack = CdStack(cfg, infra.trust if infra else None, pulumi.ResourceOptions(depends_on=gates) if gates else None)
    for name, value in stack.exports().items():
        pulumi.export(name, value)
