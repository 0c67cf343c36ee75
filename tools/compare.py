"""Compare two stacks offline: which releases and which settings differ (for `python -m tools.plan A --compare B`).

Settings are the validated StackConfig of each stack dumped by alias, defaults included, so the comparison is of
what each stack runs, not of what its file happens to spell out. Chart overrides appear as releases, not settings.
"""

from __future__ import annotations

import json
from typing import Any

from components.config.schema import StackConfig
from components.releases import release_set, releases

MISSING = "(not set)"


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """Leaves of a JSON-like value by key path: `cluster.skuTier`, `teams[0].name`.

    A list of plain values is one leaf (`teams[0].roles.owner`); null is no leaf at all, so an unset optional
    setting reads as "(not set)" beside the other stack's value.
    """
    if value is None:
        return {}
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{path}.{key}" if path else str(key)))
        return flat
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        flat = {}
        for index, item in enumerate(value):
            flat.update(flatten(item, f"{path}[{index}]"))
        return flat
    return {path: value}


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key path, value in a, value in b) for every leaf that differs, MISSING where one side lacks it."""
    flat_a, flat_b = flatten(a), flatten(b)
    keys = sorted(set(flat_a) | set(flat_b))
    return [
        (k, flat_a.get(k, MISSING), flat_b.get(k, MISSING))
        for k in keys
        if flat_a.get(k, MISSING) != flat_b.get(k, MISSING)
    ]


def settings(cfg: StackConfig) -> dict[str, Any]:
    return cfg.model_dump(by_alias=True, mode="json", exclude={"charts"})


def _show(value: Any) -> str:
    return value if value == MISSING else json.dumps(value)


def render(a: StackConfig, b: StackConfig) -> str:
    release_diff = differences(releases(release_set(a)), releases(release_set(b)))
    settings_diff = differences(settings(a), settings(b))
    lines = [f"Stacks {a.stack!r} and {b.stack!r}", ""]
    lines.append(f"Releases that differ ({len(release_diff)}):")
    lines += [f"  {key}: {a.stack} {va}, {b.stack} {vb}" for key, va, vb in release_diff] or ["  none"]
    lines += ["", f"Settings that differ ({len(settings_diff)}):"]
    lines += [f"  {key}: {a.stack} {_show(va)}, {b.stack} {_show(vb)}" for key, va, vb in settings_diff] or ["  none"]
    return "\n".join(lines)
