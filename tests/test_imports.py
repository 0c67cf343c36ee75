"""The program's layering: components/ never imports the tools or the tests; no module of components/ imports another
in a circle (lazily inside a function, or under `if TYPE_CHECKING:`, included: the schema needs no such trick any
more); and no module imports one of a higher layer. LAYERS below is where the layers are written down; the picture in
docs/architecture.md ("Layers") shows the same layers, and a test holds the two equal."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import PROJECT_DIR

COMPONENTS = PROJECT_DIR / "components"

CONCERNS = "concerns"
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("components", "components.problem", "components.catalog", "components.naming", "components.clock")),
    ("schema", ("components.config", "components.config.schema", "components.config.secrets")),
    (CONCERNS, ()),
    ("registry", ("components.config.rules",)),
    ("loader", ("components.config.loader",)),
    ("program", ("components.program", "components.cross_stack")),
)
"""From the bottom up: a module may import its own layer's modules and those of the layers below it, never above.

- base: facts that know no configuration, which the schema builds on (names, the catalog, a problem's shape);
- schema: the typed models (and the keys only a person supplies): no rule, no loader;
- concerns: every module not named here: each concern's rules beside its code, the values builders, the components
  and the graph (stack.py); all read a StackConfig, none loads one;
- registry: the list of the rules the loader runs, in order;
- loader: reads the configuration through Pulumi, validates it, runs the registry, reports;
- program: what runs the loader and then builds the graph, and the rules across stacks the tools run."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, known: set[str]) -> set[str]:
    """The project modules a module imports: at module level, inside functions and under `if TYPE_CHECKING:` alike."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in known
            )
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


def layer_of(module: str) -> int:
    """The index in LAYERS of the layer that names `module`; every other module of components/ is a concern."""
    for index, (name, modules) in enumerate(LAYERS):
        if module in modules or (name == CONCERNS and not any(module in named for _, named in LAYERS)):
            return index
    raise AssertionError(module)


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Every import of a module from a higher layer, as `importer (layer) -> imported (layer)`."""
    return [
        f"{module} ({LAYERS[layer_of(module)][0]}) -> {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in sorted(edges.items())
        for target in sorted(targets)
        if target in edges and layer_of(target) > layer_of(module)
    ]


def test_components_import_nothing_above_them():
    above = {
        module: sorted(t for t in targets if not t.startswith("components")) for module, targets in graph().items()
    }
    assert {module: targets for module, targets in above.items() if targets} == {}


def test_no_component_module_imports_in_a_circle():
    assert cycle(graph()) == []


def test_no_component_module_imports_from_a_higher_layer():
    assert upward(graph()) == []


def test_every_module_named_in_the_layers_exists():
    assert sorted({m for _, modules in LAYERS for m in modules} - set(graph())) == []


def test_the_cycle_check_sees_lazy_and_type_checking_imports():
    known = {"components.config.schema", "components.addressing"}
    lazy = "def check():\n    from components import addressing\n"
    typed = "if TYPE_CHECKING:\n    from components.config.schema import StackConfig\n"
    edges = {
        "components.config.schema": imports_of(lazy, known),
        "components.addressing": imports_of(typed, known),
    }
    assert cycle(edges) == ["components.addressing", "components.config.schema", "components.addressing"]


def test_the_layer_check_names_an_import_from_above():
    known = {"components.naming", "components.config.schema", "components.config.rules", "components.addressing"}
    edges = {
        "components.naming": imports_of("from components.config.schema import StackConfig\n", known),
        "components.addressing": imports_of("from components.config import rules\n", known),
        "components.config.schema": imports_of("from components import naming\n", known),
        "components.config.rules": imports_of("from components import addressing\n", known),
    }
    assert upward(edges) == [
        "components.addressing (concerns) -> components.config.rules (registry)",
        "components.naming (base) -> components.config.schema (schema)",
    ]


def test_the_readme_pictures_the_layers_in_their_order():
    readme = (PROJECT_DIR / "docs" / "architecture.md").read_text()
    picture = readme.split("<!-- BEGIN LAYERS", 1)[1].split("<!-- END LAYERS -->", 1)[0]
    drawn = re.findall(r"^(\w+)\s{2,}\S", picture, re.M)
    assert drawn == [name for name, _ in reversed(LAYERS)]
