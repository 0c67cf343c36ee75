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
from components.config import StackConfig


class ReleaseSet(TypedDict):
    charts: dict[str, str]
    """Catalog chart key -> chart version."""
    images: dict[str, str]
    """catalog.IMAGES key -> image tag."""


def release_set(cfg: StackConfig) -> ReleaseSet:
    """What this stack deploys: sorted, JSON-ready, exactly what the stack output `releaseSet` holds."""
    return {
        "charts": {key: cfg.chart_version(key) for key in sorted(catalog.CHARTS)},
        "images": dict(sorted(catalog.IMAGES.items())),
    }


def releases(rs: ReleaseSet | dict) -> dict[str, str]:
    """The release set as one flat map of release name (`chart concourse`, `image influxdb2`) -> version."""
    flat = {f"chart {key}": version for key, version in (rs.get("charts") or {}).items()}
    flat.update({f"image {key}": tag for key, tag in (rs.get("images") or {}).items()})
    return flat
