"""The program's layering: components/ never imports the tools or the tests, and no module of components/ imports
another in a circle, lazily inside a function included. Imports under `if TYPE_CHECKING:` are left out: they never
run, which is how the rule modules name StackConfig while config.py imports them."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import PROJECT_DIR

COMPONENTS = PROJECT_DIR / "components"


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(source: str, known: set[str]) -> set[str]:
    """The project modules a module imports at run time (module level or inside functions)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in known
            )
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return {name for name in found if name.split(".")[0] in {"components", "tools", "tests", "policy"}}


def graph(root: Path = COMPONENTS) -> dict[str, set[str]]:
    paths = sorted(root.rglob("*.py"))
    known = {module_name(path) for path in paths}
    return {module_name(path): imports_of(path.read_text(), known) for path in paths}


def cycle(edges: dict[str, set[str]]) -> list[str]:
    """One import cycle among the graph's own modules, or nothing."""
    done: set[str] = set()

    def walk(module: str, stack: list[str]) -> list[str]:
        if module in stack:
            return [*stack[stack.index(module) :], module]
        if module in done or module not in edges:
            return []
        for target in sorted(edges[module]):
            if target != module and (found := walk(target, [*stack, module])):
                return found
        done.add(module)
        return []

    for module in sorted(edges):
        if found := walk(module, []):
            return found
    return []


def test_components_import_nothing_above_them():
    upward = {
        module: sorted(t for t in targets if not t.startswith("components")) for module, targets in graph().items()
    }
    assert {module: targets for module, targets in upward.items() if targets} == {}


def test_no_component_module_imports_in_a_circle():
    assert cycle(graph()) == []


def test_the_cycle_check_sees_a_lazy_import_and_ignores_type_checking_ones():
    known = {"components.config", "components.rules"}
    lazy = "def check():\n    from components import rules\n"
    typed = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from components.config import StackConfig\n"
    edges = {
        "components.config": imports_of(lazy, known),
        "components.rules": imports_of(typed + "from components.config import NAMESPACE\n", known),
    }
    assert cycle(edges) == ["components.config", "components.rules", "components.config"]
    edges["components.rules"] = imports_of(typed, known)
    assert cycle(edges) == []
