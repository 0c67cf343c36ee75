"""images.lock's machinery on data the test writes: which images the manifests run, how a reference is read, what
the lock says is missing, and how `make images-lock` fills it (with a resolver of the test's own: nothing here
reaches a registry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from components import catalog
from components.concourse import canary
from tests.services import stack_cfg
from tools import images, smoke_e2e
from tools.images import ImageError, ImageRef

DIGEST = "sha256:" + "a" * 64


def test_references_are_read_as_kubernetes_reads_them():
    assert images.parse("busybox:1.37.0") == ImageRef("docker.io", "library/busybox", "1.37.0")
    assert images.parse("hashicorp/vault") == ImageRef("docker.io", "hashicorp/vault", "latest")
    assert images.parse("mcr.microsoft.com/azure-cli:2.91.0").name == "mcr.microsoft.com/azure-cli:2.91.0"
    assert images.parse("localhost:5000/team/app:1") == ImageRef("localhost:5000", "team/app", "1")
    assert images.parse(f"quay.io/jetstack/cert-manager-controller:v1.21.1@{DIGEST}").digest == DIGEST
    with pytest.raises(ImageError, match="not a container image reference"):
        images.parse("docker.io/Upper/Case:1")


def test_every_container_of_every_kind_of_object_is_found():
    cronjob = {
        "kind": "CronJob",
        "spec": {
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {"initContainers": [{"image": "python:3"}], "containers": [{"image": "busybox:1"}]}
                    }
                }
            }
        },
    }
    kibana = {"kind": "Kibana", "spec": {"podTemplate": {"spec": {"containers": [{"name": "kibana"}]}}}}
    configmap = {"kind": "ConfigMap", "data": {"image": "not-a-container:1"}}
    assert images.images_in([cronjob, kibana, configmap]) == {"python:3", "busybox:1"}


def test_an_image_is_unlocked_until_the_lock_or_its_reference_carries_a_digest(tmp_path: Path):
    lock_file = tmp_path / "images.lock"
    images.write_lock({"docker.io/library/busybox:1.37.0": DIGEST, "docker.io/library/python:3": None}, lock_file)
    lock = images.read_lock(lock_file)
    assert lock["docker.io/library/python:3"] is None
    used = ["busybox:1.37.0", "python:3", "influxdb:2.7.12", f"quay.io/x/y:1@{DIGEST}"]
    assert images.unlocked(used, lock) == ["influxdb:2.7.12", "python:3"]


def test_a_malformed_lock_is_refused_with_its_path(tmp_path: Path):
    lock_file = tmp_path / "images.lock"
    lock_file.write_text("images: [busybox]\n")
    with pytest.raises(ImageError, match=r"images.lock: expected a mapping `images:`"):
        images.read_lock(lock_file)


def test_filling_resolves_every_image_keeps_what_failed_and_drops_what_no_stack_runs():
    def resolve(ref: ImageRef) -> str:
        if ref.repository == "library/python":
            raise ImageError("503")
        return "sha256:" + format(len(ref.name), "064x")

    old: dict[str, str | None] = {"docker.io/library/python:3": DIGEST, "docker.io/library/gone:1": DIGEST}
    filled, failures = images.fill(["busybox:1", "python:3", f"quay.io/x/y:1@{DIGEST}"], old, resolve)
    assert filled == {
        "docker.io/library/busybox:1": "sha256:" + format(len("docker.io/library/busybox:1"), "064x"),
        "docker.io/library/python:3": DIGEST,
    }
    assert failures == ["python:3: 503"]


def test_a_registrys_bearer_challenge_is_read():
    header = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'
    assert images.bearer_challenge(header) == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/busybox:pull",
    }
    assert images.bearer_challenge('Basic realm="x"') == {}
    assert images.registry_host(images.parse("busybox")) == images.DOCKER_HUB


def task_images(pipeline: dict) -> set[str]:
    """`repository:tag` of every task's registry-image in a Concourse pipeline config."""
    sources = [
        step["config"]["image_resource"]["source"]
        for job in pipeline["jobs"]
        for step in job["plan"]
        if "config" in step
    ]
    return {f"{source['repository']}:{source['tag']}" for source in sources}


def test_the_lock_covers_the_images_the_canary_and_the_smoke_pull():
    """Concourse pulls these by tag for the pipelines' tasks; no manifest names them, so the lock must list them
    itself, and by the same tags the pipelines use (pinned in the catalog)."""
    run = smoke_e2e.Run.fresh()
    target = smoke_e2e.Target("staging", "https://ci", "https://vault", "t", "concourse", ("ci",))
    pulled = task_images(canary.pipeline_config(stack_cfg("staging"))) | task_images(
        smoke_e2e.pipeline_config(run, target)
    )
    assert images.pipeline_images() == pulled
    assert all(images.parse(image).tag in catalog.IMAGES.values() for image in pulled)
