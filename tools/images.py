"""The container images cdstack runs, pinned by tag in the charts' values and the catalog, and their digests in
`images.lock`, which an operator with network to the registries fills (the same pattern as charts.lock).

    python -m tools.images lock staging prod    (make images-lock)  render the stacks, resolve every image's tag to
                                                                    its digest at its registry, (re)write images.lock
    python -m tools.images check staging prod   (make images)       list the stacks' images the lock has no digest for

The images are every `image:` of every container in the stacks' rendered manifests (what `make render` writes, the
program's own objects included): exactly what the posture scan's digest check (checkov CKV_K8S_43) reads; and the images
Concourse tasks pull by tag (the canary's busybox, the end-to-end smoke's curl), which no manifest names. A digest is
the registry's `Docker-Content-Digest` for the tag's manifest (a multi-platform index where the image has one), fetched
anonymously through the OCI distribution API (`HEAD /v2/<repository>/manifests/<tag>`, with the bearer token the
registry's 401 names, as Docker Hub, ghcr.io, quay.io and mcr.microsoft.com do for public images). Until the lock is
filled, `policy/scan-exceptions.yaml` excepts CKV_K8S_43 with that reason; nothing offline can fill it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components import catalog, image_digests
from components.concourse import canary
from tools import render, short_run, smoke_e2e

LOCK_FILE = image_digests.LOCK_FILE
HEADER = (
    "# Written by `make images-lock`: every image cdstack's stacks run, by tag, and the digest its registry gave\n"
    "# for it (null: not resolved yet). Review changes.\n"
)
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
DOCKER_HUB = "registry-1.docker.io"

Resolver = Callable[["ImageRef"], str]
"""An image reference to its digest (`sha256:<hex>`)."""


class ImageError(Exception):
    """An image reference this tool cannot read, or a registry that would not say its digest."""


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str
    digest: str = ""

    @property
    def name(self) -> str:
        """The reference as the manifests spell it with the registry made explicit: the lock's key."""
        return f"{self.registry}/{self.repository}:{self.tag}"


def parse(image: str) -> ImageRef:
    """A container image reference as Kubernetes reads it: `[registry/]repository[:tag][@digest]`, Docker Hub when
    the first part names no host (`busybox` is `docker.io/library/busybox`), tag `latest` when none is given."""
    rest, _, digest = image.partition("@")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = "docker.io", rest
    match = re.fullmatch(r"([a-z0-9._/-]+?)(?::([\w][\w.-]{0,127}))?", path)
    if not match:
        raise ImageError(f"image {image!r} is not a container image reference (registry/repository:tag)")
    repository, tag = match.group(1), match.group(2) or "latest"
    if registry == "docker.io" and "/" not in repository:
        repository = f"library/{repository}"
    return ImageRef(registry, repository, tag, digest)


def containers(obj: Any) -> Iterable[dict[str, Any]]:
    """Every container (init, ephemeral and regular) anywhere in an object: pods, pod templates, CronJobs and custom
    resources with pod templates alike."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("containers", "initContainers", "ephemeralContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            else:
                yield from containers(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from containers(item)


def images_in(objects: Iterable[dict[str, Any]]) -> set[str]:
    return {str(c["image"]) for obj in objects for c in containers(obj) if c.get("image")}


def read_lock(path: Path = LOCK_FILE) -> dict[str, str | None]:
    """The lock as the program reads it (components/image_digests.py feeds its digests into the charts)."""
    try:
        return image_digests.read_lock(path)
    except ValueError as error:
        raise ImageError(str(error)) from error


def write_lock(digests: dict[str, str | None], path: Path = LOCK_FILE) -> None:
    path.write_text(HEADER + yaml.safe_dump({"images": dict(sorted(digests.items()))}, sort_keys=False))


def unlocked(images: Iterable[str], lock: dict[str, str | None]) -> list[str]:
    """The images (as the manifests spell them) with no digest: neither in their reference nor in the lock."""
    missing = []
    for image in sorted(set(images)):
        ref = parse(image)
        if not ref.digest and not lock.get(ref.name):
            missing.append(image)
    return missing


def fill(
    images: Iterable[str], lock: dict[str, str | None], resolve: Resolver
) -> tuple[dict[str, str | None], list[str]]:
    """The lock for exactly these images: each resolved afresh (a moved tag shows up as a changed line to review),
    an image the registry would not answer for kept as it was with the reason listed. Images no stack runs any
    more are dropped."""
    filled: dict[str, str | None] = {}
    failures = []
    for image in sorted(set(images)):
        ref = parse(image)
        if ref.digest:
            continue  # pinned by digest in its own reference already
        try:
            filled[ref.name] = resolve(ref)
        except ImageError as error:
            filled[ref.name] = lock.get(ref.name)
            failures.append(f"{image}: {error}")
    return filled, failures


def bearer_challenge(header: str) -> dict[str, str]:
    """The parameters of a `WWW-Authenticate: Bearer realm="...",service="...",scope="..."` challenge."""
    scheme, _, params = header.partition(" ")
    if scheme.lower() != "bearer":
        return {}
    return dict(re.findall(r'(\w+)="([^"]*)"', params))


def registry_host(ref: ImageRef) -> str:
    return DOCKER_HUB if ref.registry == "docker.io" else ref.registry


def resolve_at_registry(ref: ImageRef, timeout: float = 30) -> str:
    """The digest the registry gives for the tag's manifest, anonymously (a public image's pull token)."""
    url = f"https://{registry_host(ref)}/v2/{ref.repository}/manifests/{ref.tag}"

    def head(token: str | None) -> urllib.request.Request:
        headers = {"Accept": MANIFEST_TYPES, **({"Authorization": f"Bearer {token}"} if token else {})}
        return urllib.request.Request(url, method="HEAD", headers=headers)

    try:
        try:
            response = urllib.request.urlopen(head(None), timeout=timeout)
        except urllib.error.HTTPError as error:
            challenge = bearer_challenge(error.headers.get("WWW-Authenticate", "")) if error.code == 401 else {}
            if "realm" not in challenge:
                raise ImageError(f"{url} answered {error.code}") from error
            query = urllib.parse.urlencode({k: v for k, v in challenge.items() if k in ("service", "scope")})
            with urllib.request.urlopen(f"{challenge['realm']}?{query}", timeout=timeout) as answer:
                grant = json.load(answer)
            response = urllib.request.urlopen(head(grant.get("token") or grant.get("access_token")), timeout=timeout)
        with response:
            digest = response.headers.get("Docker-Content-Digest", "")
    except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as error:
        raise ImageError(f"{url}: {error}") from error
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise ImageError(f"{url} gave no sha256 Docker-Content-Digest (got {digest!r})")
    return digest


def pipeline_images() -> set[str]:
    """The images the stacks' Concourse tasks pull by tag (registry-image): the canary's and the end-to-end smoke's.
    No manifest names them; the workers pull them all the same, so the lock holds their digests too."""
    return {f"{canary.IMAGE_REPOSITORY}:{catalog.IMAGES['busybox']}", ":".join(smoke_e2e.TASK_IMAGE)}


def stack_images(stacks: list[str]) -> set[str]:
    """Every image of the stacks' rendered manifests and program objects (tools/render.py, the pinned charts), and
    the images their pipelines' tasks pull."""
    found = pipeline_images()
    for stack in stacks:
        rendered, program = render.stack_with_program(stack)
        found |= images_in(program)
        for release in rendered:
            found |= images_in(release.objects)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.images", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("command", choices=["lock", "check"])
    parser.add_argument("stacks", nargs="+")
    args = parser.parse_args(argv)
    try:
        lock = read_lock()
        images = stack_images(args.stacks)
        if args.command == "check":
            missing = unlocked(images, lock)
            print("\n".join(f"no digest: {image}" for image in missing))
            print(f"{len(images)} images, {len(missing)} without a digest in {LOCK_FILE.name}")
            return 1 if missing else 0
        filled, failures = fill(images, lock, resolve_at_registry)
    except ImageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_lock(filled)
    print("\n".join(f"not resolved: {failure}" for failure in failures))
    print(f"wrote {LOCK_FILE.name}: {len(filled)} images, {len(failures)} not resolved")
    return 1 if failures else 0


if __name__ == "__main__":
    short_run.run(main)
