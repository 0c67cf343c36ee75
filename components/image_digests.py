"""Locked image digests fed into the charts that take a digest value, so that a filled `images.lock` (written by an
operator with network, `make images-lock`, tools/images.py) pins those images by content, not by tag alone.

A chart's digest value pins the image its templates name at the chart's pinned version; CHART_IMAGES records that
reference, exactly as the rendered manifests spell it (the lock's key), for each (chart, version). A release gets a
digest only where the lock holds one for that very reference: a chart bumped to another version, or its image to
another tag, finds no entry here and stays pinned by tag until both are updated, never pinned to an older image's
digest. With no lock, or none of these references in it, the values are passed through untouched (the same plan).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components import sizing

LOCK_FILE = Path(__file__).resolve().parent.parent / "images.lock"


@dataclass(frozen=True)
class ChartImage:
    reference: str
    """The image as the chart renders it at its version, registry explicit: `registry/repository:tag`."""
    path: tuple[str, ...]
    """Where the chart reads this image's digest in its values."""


CHART_IMAGES: dict[tuple[str, str], tuple[ChartImage, ...]] = {
    # `image@imageDigest` in place of `image:imageTag` for web and worker alike (templates/web-deployment.yaml,
    # worker-statefulset.yaml); the tag is the chart's imageTag default.
    ("concourse", "20.1.3"): (ChartImage("docker.io/concourse/concourse:8.1.1", ("imageDigest",)),),
    # `registry/repository:tag@digest` (templates/_helpers.tpl prometheus-blackbox-exporter.image); tag appVersion.
    ("prometheus-blackbox-exporter", "11.17.2"): (
        ChartImage("quay.io/prometheus/blackbox-exporter:v0.28.0", ("image", "digest")),
    ),
    # `repository:tag@digest`, the digest checked for its sha256: prefix (templates/_helpers.tpl); tag appVersion.
    ("eck-operator", "3.5.0"): (ChartImage("docker.elastic.co/eck/eck-operator:3.5.0", ("image", "digest")),),
}


def read_lock(path: Path = LOCK_FILE) -> dict[str, str | None]:
    """images.lock as image reference to digest (None: not resolved yet); empty when there is no lock."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, dict):
        raise ValueError(f"{path}: expected a mapping `images:` of image reference to digest (or null)")
    return {str(k): (str(v) if v else None) for k, v in images.items()}


def digest_values(chart_key: str, version: str, lock: Mapping[str, str | None]) -> dict[str, Any]:
    """The values that pin this chart's images to their locked digests ({} where the lock has none)."""
    values: dict[str, Any] = {}
    for image in CHART_IMAGES.get((chart_key, version), ()):
        digest = lock.get(image.reference)
        if not digest:
            continue
        *parents, leaf = image.path
        target = values
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = digest
    return values


def with_digests(
    chart_key: str, version: str, values: pulumi.Input[Mapping[str, Any]], lock: Mapping[str, str | None]
) -> pulumi.Input[Mapping[str, Any]]:
    """The release's values with the locked digests laid on them; `values` itself where there is nothing to add."""
    digests = digest_values(chart_key, version, lock)
    if not digests:
        return values
    if isinstance(values, Mapping):
        return sizing.merge(values, digests)
    return pulumi.Output.from_input(values).apply(lambda resolved: sizing.merge(resolved, digests))
