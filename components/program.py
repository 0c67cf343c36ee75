"""The program: configuration first, then the promotion gate, then the graph, then the outputs."""

import pulumi

from components import config, promotion
from components.stack import CdStack


def main() -> None:
    cfg = config.load()  # raises ConfigError before any resource exists
    gate = promotion.gate(cfg)
    # CdStack waits for the gate: it is the parent of every resource, so a refused promotion creates nothing.
    stack = CdStack(cfg, pulumi.ResourceOptions(depends_on=[gate]) if gate is not None else None)
    for name, value in stack.exports().items():
        pulumi.export(name, value)
