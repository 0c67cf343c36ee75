"""Generate the manual's configuration reference (docs/configuration.md) from components/config/schema.py, the one
place settings are defined.

    python -m tools.config_reference            print the reference (Markdown)
    python -m tools.config_reference --write    replace the generated block in docs/configuration.md

A test fails when docs/configuration.md and the models disagree, so the reference never drifts from the code.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from components.config import schema, secrets
from tools import doc_blocks

BEGIN = "<!-- BEGIN GENERATED CONFIG REFERENCE: make docs -->"
END = "<!-- END GENERATED CONFIG REFERENCE -->"
PAGE = doc_blocks.DOCS / "configuration.md"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The section model inside an annotation (itself, a list of it, a map of it, or an optional one)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for inner in typing.get_args(annotation):
        found = _model_of(inner)
        if found is not None:
            return found
    return None


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin is list:
        return "list of " + _type_name(args[0])
    if origin is dict:
        return "map of " + _type_name(args[1])
    if origin in (typing.Union, types.UnionType):
        shown = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(shown) + (" (optional)" if type(None) in args else "")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    return getattr(annotation, "__name__", str(annotation))


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        factory: Any = info.default_factory
        value = factory()
        if isinstance(value, BaseModel):
            return "(see below)"
        return f"`{json.dumps(value)}`"
    if info.default is PydanticUndefined:
        return "**required**"
    return f"`{json.dumps(info.default)}`"


def rows(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str, str]]:
    out: list[tuple[str, str, str, str]] = []
    nested: list[tuple[type[BaseModel], str]] = []
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        key = f"{prefix}{info.alias or name}"
        shown = _type_name(info.annotation)
        out.append((key, shown, _default(info), info.description or ""))
        sub = _model_of(info.annotation)
        if sub is not None:
            separator = {"list": "[].", "map ": ".<key>."}.get(shown[:4], ".")
            nested.append((sub, key + separator))
    for sub, sub_prefix in nested:
        out += rows(sub, sub_prefix)
    return out


def reference() -> str:
    lines = [
        BEGIN,
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for key, type_name, default, description in rows(schema.StackConfig, "cdstack:"):
        lines.append(f"| `{key}` | {type_name} | {default} | {description.replace('|', '/')} |")
    for key, description in secrets.SECRET_KEYS.items():
        lines.append(f"| `cdstack:{key}` | secret (`pulumi config set --secret`) | none | {description} |")
    lines += ["", END]
    return "\n".join(lines)


def current_block() -> str:
    return doc_blocks.current(PAGE, BEGIN, END)


def main(argv: list[str] | None = None) -> int:
    return doc_blocks.main("python -m tools.config_reference", PAGE, BEGIN, END, reference, argv)


if __name__ == "__main__":
    sys.exit(main())
