"""The release set of a stack: every chart version and every image tag it deploys.

One pure function computes it from the validated configuration. The stack exports it (`releaseSet`), the promotion
gate compares this stack's against the one its source stack exported, and `tools/promote.py` copies a source stack's
chart versions into the target's stack file. Chart versions come from the catalog unless the stack overrides them
under `cdstack:charts`; image tags come from the catalog alone (they move through code review, in every stack at once,
and the gate keeps prod from running one the source stack has not run).
"""

from __future__ import annotations

from typing import TypedDict

from components import catalog
from components.config.schema import StackConfig
from components.problem import Problem


class ReleaseSet(TypedDict):
    charts: dict[str, str]
    """Catalog chart key -> chart version."""
    images: dict[str, str]
    """catalog.IMAGES key -> image tag."""


def release_set(cfg: StackConfig) -> ReleaseSet:
    """What this stack deploys: sorted, JSON-ready, exactly what the stack output `releaseSet` holds. A part the stack
    leaves out (`cdstack:parts`) is not in it, so a stack gated on a lean one is refused that part's versions: the
    source never ran them."""
    off = cfg.parts.off()
    charts = {key for part in off for key in catalog.PART_CHARTS.get(part, ())}
    images = {key for part in off for key in catalog.PART_IMAGES.get(part, ())}
    return {
        "charts": {key: cfg.chart_version(key) for key in sorted(catalog.CHARTS) if key not in charts},
        "images": {key: tag for key, tag in sorted(catalog.IMAGES.items()) if key not in images},
    }


def override_problems(cfg: StackConfig) -> list[Problem]:
    """Each override names a catalog chart and one exact version: a range would let a deploy pick a version no stack
    before it ran, past the promotion gate."""
    return [
        Problem.at(f"charts.{key}", version, f"must be a catalog chart: {', '.join(sorted(catalog.CHARTS))}")
        if key not in catalog.CHARTS
        else Problem.at(f"charts.{key}", version, "must be an exact chart version such as 1.2.3 (no ranges)")
        for key, version in cfg.charts.items()
        if key not in catalog.CHARTS or not catalog.VERSION.match(version)
    ]


def releases(rs: ReleaseSet | dict) -> dict[str, str]:
    """The release set as one flat map of release name (`chart concourse`, `image influxdb2`) -> version."""
    flat = {f"chart {key}": version for key, version in (rs.get("charts") or {}).items()}
    flat.update({f"image {key}": tag for key, tag in (rs.get("images") or {}).items()})
    return flat
