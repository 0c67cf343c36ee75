"""The program: configuration first, then the promotion gate and the storage guard, then the graph, then the
outputs."""

import pulumi

from components import config, promotion, storage_guard
from components.stack import CdStack


def main() -> None:
    cfg = config.load()  # raises ConfigError before any resource exists
    gates = [g for g in (promotion.gate(cfg), storage_guard.guard(cfg)) if g is not None]
    # CdStack waits for the gates: it is the parent of every resource, so a refused promotion or a switch of Vault's
    # store creates nothing.
    stack = CdStack(cfg, pulumi.ResourceOptions(depends_on=gates) if gates else None)
    for name, value in stack.exports().items():
        pulumi.export(name, value)
