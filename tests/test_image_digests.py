"""Locked digests fed into the charts' digest values (components/image_digests.py), on lock files the test writes;
and, where the real charts are, that each recorded reference is the image the pinned chart renders and its digest value
pins that image."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components import image_digests
from tools import charts, helmrender, images

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
CONCOURSE = "docker.io/concourse/concourse:8.1.1"
BLACKBOX = "quay.io/prometheus/blackbox-exporter:v0.28.0"


def lock_file(tmp_path: Path, digests: dict[str, str | None]) -> Path:
    path = tmp_path / "images.lock"
    images.write_lock(digests, path)
    return path


def test_a_filled_lock_pins_each_charts_image_at_its_digest_value(tmp_path: Path):
    lock = image_digests.read_lock(
        lock_file(
            tmp_path,
            {
                CONCOURSE: DIGEST,
                BLACKBOX: OTHER,
                # The operator's image at another tag than the pinned chart's: not this chart's image.
                "docker.elastic.co/eck/eck-operator:3.4.0": DIGEST,
                "docker.io/library/busybox:1.37.0": DIGEST,
            },
        )
    )
    assert image_digests.digest_values("concourse", "20.1.3", lock) == {"imageDigest": DIGEST}
    assert image_digests.digest_values("prometheus-blackbox-exporter", "11.17.2", lock) == {"image": {"digest": OTHER}}
    assert image_digests.digest_values("eck-operator", "3.5.0", lock) == {}
    # Another chart version renders another image: its digest is not known to be this one.
    assert image_digests.digest_values("concourse", "20.2.0", lock) == {}
    values = {"image": {"registry": "quay.io"}, "replicas": 1}
    assert image_digests.with_digests("prometheus-blackbox-exporter", "11.17.2", values, lock) == {
        "image": {"registry": "quay.io", "digest": OTHER},
        "replicas": 1,
    }


def test_an_absent_or_unresolved_lock_leaves_the_values_as_they_are(tmp_path: Path):
    values = {"web": {"replicas": 2}}
    for lock in (
        image_digests.read_lock(tmp_path / "absent.lock"),
        image_digests.read_lock(lock_file(tmp_path, {CONCOURSE: None})),
    ):
        assert image_digests.with_digests("concourse", "20.1.3", values, lock) is values


def test_a_malformed_lock_is_refused_with_its_path(tmp_path: Path):
    path = tmp_path / "images.lock"
    path.write_text("images: [a, b]\n")
    with pytest.raises(ValueError, match=str(path)):
        image_digests.read_lock(path)


@pytest.mark.parametrize(("chart", "version"), sorted(image_digests.CHART_IMAGES))
def test_each_reference_is_what_the_pinned_chart_renders_and_its_digest_value_pins_it(chart: str, version: str):
    try:
        loaded = helmrender.load(charts.locate(chart, version))
    except charts.ChartMissingError as error:
        pytest.skip(str(error))

    def rendered_images(values: dict) -> set[str]:
        text = helmrender.render_text(
            loaded, values, "x", "x", helmrender.kube_version("1.33"), helmrender.builtin_api_versions(33)
        )
        objects = helmrender.split(json.loads(text))
        return images.images_in(objects)

    for image in image_digests.CHART_IMAGES[(chart, version)]:
        assert image.reference in {images.parse(i).name for i in rendered_images({})}
        pinned = {
            images.parse(i)
            for i in rendered_images(image_digests.digest_values(chart, version, {image.reference: DIGEST}))
        }
        assert any(
            ref.digest == DIGEST and ref.repository == images.parse(image.reference).repository for ref in pinned
        )
