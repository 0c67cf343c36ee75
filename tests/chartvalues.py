"""Check Helm values against the upstream chart's own values.yaml: Helm ignores unknown keys silently.

Every path a values builder sets must exist in `../shared/upstream-charts/<chart>/<version>/values.yaml`, or be
listed by the caller as template-only with the reason. Lists are walked element by element only where the default
has elements to compare with; a list the chart defaults to empty is taken whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CHARTS_DIR


def chart_defaults(chart: str, version: str) -> dict[str, Any]:
    path = CHARTS_DIR / chart / version / "values.yaml"
    if not CHARTS_DIR.is_dir():
        pytest.skip(f"{CHARTS_DIR} is absent: the chart values-path checks need ../shared/upstream-charts")
    if not path.exists():
        pytest.fail(f"no upstream values for {chart} {version} at {path}")
    return yaml.safe_load(Path(path).read_text()) or {}


def unknown_paths(values: Any, defaults: Any, prefix: str = "") -> list[str]:
    """Paths in `values` that the defaults do not have. A key whose default is a free-form map stops the walk."""
    missing: list[str] = []
    if not isinstance(values, dict):
        return missing
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if not isinstance(defaults, dict) or key not in defaults:
            missing.append(path)
            continue
        default = defaults[key]
        if isinstance(value, dict) and isinstance(default, dict) and default:
            missing += unknown_paths(value, default, path)
    return missing


def assert_paths_exist(chart: str, version: str, values: dict[str, Any], template_only: dict[str, str]) -> None:
    """Fail naming every path of `values` not in the chart's defaults and not declared template-only (path: reason)."""
    for path, reason in template_only.items():
        assert reason.strip(), f"template-only path {path} needs a reason"
    missing = [p for p in unknown_paths(values, chart_defaults(chart, version)) if p not in template_only]
    assert not missing, f"{chart} {version}: values paths not in the chart's values.yaml: {missing}"
