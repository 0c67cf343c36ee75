"""The program: configuration first, then the graph, then the outputs an operator and the next stage need."""

import pulumi

from components import config
from components.stack import CdStack


def main() -> None:
    cfg = config.load()  # raises ConfigError before any resource exists
    stack = CdStack(cfg)
    for name, value in stack.exports().items():
        pulumi.export(name, value)
