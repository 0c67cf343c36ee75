"""The program: configuration first, then who runs it, then the promotion gate, then the graph, then the outputs."""

import pulumi

from components import config, promotion, vault_login
from components.stack import CdStack


def check_deployer(cfg: config.StackConfig) -> None:
    """Before any resource: the in-cluster Vault's deployer can log in. Its token is there, readable and not about to
    expire (DeployerError), and a service principal running the `up` is listed in `vault.deployerObjectIds`
    (ConfigError naming the stack file and the key). An external Vault is logged in to as its owners say."""
    if cfg.vault.mode != "in-cluster":
        return
    deployer = vault_login.current()
    problems = vault_login.identity_problems(deployer, cfg.vault.deployer_object_ids)
    if problems:
        raise config.ConfigError(config.stack_file(), problems)
    vault_login.vault_role(deployer, cfg.vault.deployer_object_ids)


def main() -> None:
    cfg = config.load()  # raises ConfigError before any resource exists
    check_deployer(cfg)
    gate = promotion.gate(cfg)
    # CdStack waits for the gate: it is the parent of every resource, so a refused promotion creates nothing.
    stack = CdStack(cfg, pulumi.ResourceOptions(depends_on=[gate]) if gate is not None else None)
    for name, value in stack.exports().items():
        pulumi.export(name, value)
