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
    bare: bool = False
    """The value is the digest's hex alone: the template writes `@sha256:` itself (prometheus-community's `sha`)."""


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
    # Each component's `image.digest` (templates/_helpers.tpl image helper); tag the chart's version.
    ("cert-manager", "v1.21.1"): tuple(
        ChartImage(f"quay.io/jetstack/cert-manager-{name}:v1.21.1", (*prefix, "image", "digest"))
        for name, prefix in (
            ("controller", ()),
            ("webhook", ("webhook",)),
            ("cainjector", ("cainjector",)),
            ("startupapicheck", ("startupapicheck",)),
        )
    ),
    # `...:tag@sha256:<sha>` for the operator, its admission patch job, Grafana and its sidecar; kube-state-metrics'
    # `sha` and node-exporter's `image.digest` take the whole digest (`...:tag@<sha>`). Tags the charts' defaults.
    ("kube-prometheus-stack", "88.5.3"): (
        ChartImage(
            "quay.io/prometheus-operator/prometheus-operator:v0.93.1", ("prometheusOperator", "image", "sha"), bare=True
        ),
        ChartImage(
            "ghcr.io/jkroepke/kube-webhook-certgen:1.8.7",
            ("prometheusOperator", "admissionWebhooks", "patch", "image", "sha"),
            bare=True,
        ),
        ChartImage("docker.io/grafana/grafana:13.2.0", ("grafana", "image", "sha"), bare=True),
        ChartImage("quay.io/kiwigrid/k8s-sidecar:2.10.1", ("grafana", "sidecar", "image", "sha"), bare=True),
        ChartImage(
            "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0",
            ("kube-state-metrics", "image", "sha"),
        ),
        ChartImage(
            "quay.io/prometheus/node-exporter:v1.12.1-distroless", ("prometheus-node-exporter", "image", "digest")
        ),
    ),
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
        target[leaf] = digest.removeprefix("sha256:") if image.bare else digest
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
