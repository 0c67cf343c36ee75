"""Helm's own template engine, offline: a chart, the values the program passes, the cluster it will meet.

helm-python-sdk binds Helm's Go SDK (no helm binary). Its `Chart.render()` exposes release name, namespace and
revision only; the library's render call also takes `kube_version` and `api_versions` (helm-c-sdk
pkg/wrapper render options), which is what `helm template --kube-version --api-versions` sets and what templates read
as `.Capabilities`. Without them a chart sees Helm's built-in version and no resource kinds, and picks the wrong API
(for example `policy/v1beta1` PodDisruptionBudgets, gone since Kubernetes 1.25).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import helm_python
import yaml
from helm_python import _native

from tools import charts

CACHE_ABOVE = 20_000
"""Manifest text longer than this is worth keeping parsed (smaller ones parse faster than a file is read)."""

# Helm's own manifest separator (pkg/release/util SplitManifests): `---` may be followed by a comment on its line.
SEPARATOR = re.compile(r"(?:^|\s*\n)---\s*")


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_BaseLoader):
    """A safe YAML loader (libyaml's when present) that reads a bare `=` as the string Go's YAML reads, not as
    YAML 1.1's `value` tag (CRDs list `=` among operators)."""


def _value_as_string(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


Loader.add_constructor("tag:yaml.org,2002:value", _value_as_string)


def load_all(text: str) -> list[Any]:
    """The documents of a manifest stream. Parsed YAML is kept as JSON in the render cache, keyed by the text's
    digest: the same chart with the same values parses in milliseconds the next time (a chart's CRDs are megabytes)."""
    folder = render_cache() / "parsed"
    cached = folder / (hashlib.sha256(text.encode()).hexdigest() + ".json")
    if cached.exists():
        return json.loads(cached.read_text())
    documents = [d for part in SEPARATOR.split(text) if (d := yaml.load(part, Loader=Loader)) is not None]
    if len(text) > CACHE_ABOVE:
        write_atomically(cached, json.dumps(documents))
    return documents


SCHEMA_ROOT = Path(__import__("kubernetes_validate").__file__).parent / "kubernetes-json-schema"


# Kinds the OpenAPI definitions tag with every group/version that are not resources a cluster lists.
NOT_RESOURCES = {"DeleteOptions", "WatchEvent", "Status", "APIGroup", "APIGroupList", "APIResourceList", "APIVersions"}


class RenderError(Exception):
    """A chart that Helm refuses to render with these values (template error or values.schema.json violation)."""


def load(path: Path) -> helm_python.Chart:
    """A chart archive or folder, loaded afresh for every render: Helm's render drops the subcharts whose condition
    the values turn off from the loaded chart itself (the dead-settings ablation turns `eck-beats.enabled` off), so a
    shared chart would render every later values set without them."""
    return helm_python.Chart.load(path)


def kube_version(minor_version: str) -> str:
    """`1.33` or `1.33.2` as Helm's `--kube-version` wants it."""
    parts = minor_version.split(".")
    return "v" + ".".join([*parts, "0"][:3])


def schema_dir(minor: int) -> Path:
    """kubernetes-validate's strict schemas for the stack's minor (the newest it has that is not newer)."""
    versions = sorted(
        (int(p.name.split(".")[1]), p) for p in SCHEMA_ROOT.glob("v1.*-local-strict") if p.name.startswith("v1.")
    )
    usable = [p for m, p in versions if m <= minor]
    if not usable:
        raise RenderError(f"kubernetes-validate has no schemas for Kubernetes 1.{minor} or older")
    return usable[-1]


@functools.cache
def builtin_api_versions(minor: int) -> tuple[str, ...]:
    """What the API server of that minor advertises: `group/version` and `group/version/Kind` of every GA resource.

    Read from the OpenAPI definitions kubernetes-validate ships for the minor. Alpha and beta versions are left out:
    since Kubernetes 1.24 new beta APIs are off by default (KEP-3136), and AKS turns on no alpha API.
    """
    defs = json.loads((schema_dir(minor) / "_definitions.json").read_text())["$defs"]
    found: set[str] = set()
    for definition in defs.values():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            version, kind = gvk["version"], gvk["kind"]
            if "alpha" in version or "beta" in version or kind.endswith("List") or kind in NOT_RESOURCES:
                continue
            group_version = f"{gvk['group']}/{version}" if gvk["group"] else version
            found.update({group_version, f"{group_version}/{kind}"})
    return tuple(sorted(found))


def crd_api_versions(objects: list[dict[str, Any]]) -> set[str]:
    """`group/version` and `group/version/Kind` of every CustomResourceDefinition among `objects`."""
    found: set[str] = set()
    for crd in objects:
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd.get("spec") or {}
        kind = (spec.get("names") or {}).get("kind")
        for version in spec.get("versions") or []:
            if version.get("served", True):
                group_version = f"{spec.get('group')}/{version['name']}"
                found.update({group_version, f"{group_version}/{kind}"})
    return found


def flattened(documents: list[Any]) -> list[Any]:
    """A `v1 List`'s items in its place: Helm's kube client builds what it applies with the resource builder's
    Flatten() (helm v3 pkg/kube/client.go Build), so a template that renders a List (kube-prometheus-stack's
    podmonitors.yaml) installs its items, never a List."""
    found: list[Any] = []
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "List" and document.get("apiVersion") == "v1":
            found.extend(document.get("items") or [])
        else:
            found.append(document)
    return found


def split(manifests: dict[str, str]) -> list[dict[str, Any]]:
    """Every object of Helm's rendered templates, as `helm install` would apply them (test hooks left out)."""
    objects: list[dict[str, Any]] = []
    for path in sorted(manifests):
        if path.endswith("NOTES.txt"):
            continue
        for document in flattened(load_all(manifests[path])):
            if not isinstance(document, dict) or not document.get("kind"):
                continue
            hook = ((document.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", "")
            if {"test", "test-success", "test-failure"} & {h.strip() for h in hook.split(",")}:
                continue
            objects.append(document)
    return objects


def chart_crds(chart: helm_python.Chart) -> list[dict[str, Any]]:
    """The CRDs in the chart's (and its subcharts') `crds/` folders: Helm applies them before the templates on
    install, and never on upgrade."""
    objects: list[dict[str, Any]] = []
    for crd in chart.crds:
        objects.extend(d for d in load_all(crd["data"]) if isinstance(d, dict) and d.get("kind"))
    return objects


def render_text(
    chart: helm_python.Chart,
    values: dict[str, Any],
    name: str,
    namespace: str,
    kube: str,
    api_versions: list[str] | tuple[str, ...],
) -> str:
    """Helm's rendered templates as one JSON text (path -> manifest), unparsed: enough to tell two renders apart."""
    options = {
        "name": name,
        "namespace": namespace,
        "revision": 1,
        "is_install": True,
        "kube_version": kube,
        "api_versions": list(api_versions),
    }
    try:
        return _native.call_string(
            "helm_render",
            chart._raw(),  # the SDK's handle: its render() does not pass kube_version/api_versions
            json.dumps(values),
            json.dumps(options),
        )
    except helm_python.HelmError as error:
        raise RenderError(str(error)) from error


def check_values(chart: helm_python.Chart, values: dict[str, Any]) -> None:
    """Helm's values.schema.json check, which `helm install` runs before rendering; raises RenderError."""
    try:
        chart.validate_schema(values)
    except helm_python.HelmError as error:
        raise RenderError(f"values.schema.json: {error}") from error


def write_atomically(path: Path, data: str | bytes) -> None:
    """Write a cache file whole or not at all: into a temporary file beside it, then renamed over it. Processes that
    share the cache (pytest-xdist's workers, two `make` runs) may write one key at once; a reader never sees half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def render_cache() -> Path:
    """Where renders are remembered (`$CDSTACK_RENDER_CACHE`, default `renders/` in the chart cache): removing it
    costs only time."""
    return Path(os.environ.get("CDSTACK_RENDER_CACHE") or charts.cache_dir() / "renders")


@functools.cache
def source_identity(source: Path) -> str:
    """What identifies a chart's bytes: the digest of an archive, or of a folder's every file and its path inside.
    Content, not size and mtime: charts unpacked with `git archive` carry their commit's mtime on every file, so an
    edited or re-extracted chart of the same size would otherwise read an old render."""
    digest = hashlib.sha256()
    if source.is_file():
        digest.update(source.read_bytes())
        return digest.hexdigest()
    for folder, _, files in sorted(os.walk(source)):
        for name in sorted(files):
            path = Path(folder) / name
            digest.update(f"{path.relative_to(source)}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


OBJECTS_FORMAT = 2
"""How a remembered render's objects were made from Helm's output (2: Lists flattened): a change to `split` bumps it,
so no render remembered by an older rule is read."""


def render_key(
    source: Path,
    values: dict[str, Any],
    name: str,
    namespace: str,
    kube: str,
    api_versions: list[str] | tuple[str, ...],
) -> str:
    """Every input of a render (chart bytes, values, release, Kubernetes version, API versions): Helm's output is a
    pure function of them, so a render is remembered under this key."""
    inputs = [source_identity(source), values, name, namespace, kube, list(api_versions), OBJECTS_FORMAT]
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def render_release(
    source: Path,
    values: dict[str, Any],
    name: str,
    namespace: str,
    kube: str,
    api_versions: list[str] | tuple[str, ...],
) -> list[dict[str, Any]]:
    """The chart's `crds/` and the objects of its templates (`render`), remembered on disk by `render_key`: a warm
    `make render` or `make audit` neither loads a chart nor runs Helm nor parses YAML, it reads one JSON file per
    release. A refusal is remembered too and raised again as RenderError."""
    key = render_key(source, values, name, namespace, kube, api_versions)
    cached = render_cache() / "releases" / f"{key}.json"
    if cached.exists():
        remembered = json.loads(cached.read_text())
        if "error" in remembered:
            raise RenderError(remembered["error"])
        return remembered["objects"]
    chart = load(source)
    try:
        check_values(chart, values)
        text = render_text(chart, values, name, namespace, kube, api_versions)
    except RenderError as error:
        write_atomically(cached, json.dumps({"error": str(error)}))
        raise
    # The audit's dead-settings baseline is this very render: its digest is remembered for render_digest.
    remember_digest(key, hashlib.sha256(text.encode()).hexdigest())
    objects = chart_crds(chart) + split(json.loads(text))
    write_atomically(cached, json.dumps({"objects": objects}))
    return objects


def remember_digest(key: str, digest: str) -> None:
    """Keep a render's digest ("" where Helm refused it) under its render_key."""
    write_atomically(render_cache() / key, digest)


def render_digest(
    source: Path,
    values: dict[str, Any],
    name: str,
    namespace: str,
    kube: str,
    api_versions: list[str] | tuple[str, ...],
) -> str | None:
    """sha256 of Helm's rendered text, or None where Helm refuses the values. Kept on disk under `render_key`, so a
    warm audit re-renders only what changed."""
    key = render_key(source, values, name, namespace, kube, api_versions)
    cached = render_cache() / key
    if cached.exists():
        return cached.read_text() or None
    try:
        text = render_text(load(source), values, name, namespace, kube, api_versions)
        digest = hashlib.sha256(text.encode()).hexdigest()
    except RenderError:
        digest = ""
    remember_digest(key, digest)
    return digest or None
