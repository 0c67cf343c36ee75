"""`make audit STACK=<stack>`: what the rendered manifests of a stack will do in its cluster, checked before an `up`.

Over every Helm release rendered by `tools/render.py` (real charts, the program's values, the stack's Kubernetes
version and node pools):
1. schema: every object against the Kubernetes OpenAPI schema of the stack's minor (kubernetes-validate's strict
   schemas: an unknown field is an error); custom resources against the schema of the CRD the stack installs; a kind
   neither built in nor installed is an error.
2. values.schema.json: Helm's own check of the values, where a chart ships a schema (a failure stops the render).
3. dead settings, by ablation: each leaf the program sets is altered in turn and the chart re-rendered; a leaf whose
   change leaves every manifest the same does nothing.
4. scheduling: each pod's nodeSelector, required node affinity and tolerations against each pool's labels and
   taints; replicas kept apart by required anti-affinity against the nodes (or zones) of the pools they fit, at the
   pool's minimum and maximum size.
5. capacity: the requests of the pods each pool must hold against its allocatable resources at minimum size (AKS's
   reservations: components/nodes.py); a container without CPU or memory requests makes the figure meaningless.
6. references: each Secret (and key), ConfigMap (and key) and ServiceAccount a pod reads is created by the stack,
   a chart, or a controller the stack runs.
7. ordering: each custom resource waits for the release that installs its CRD.
8. owners: each object (kind, namespace, name) is applied by one owner, a release or the program: Helm refuses to
   install an object another release owns, and two owners would overwrite each other (two releases of one chart,
   such as Concourse's web and worker generations, must name their objects apart).
Exit 1 when any check reports an error.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema.protocols

from components.config.loader import ConfigError
from components.promotion import PromotionError
from tools import charts, helmrender, offline, render, short_run, workloads
from tools.workloads import Pod, Pool

CHECKS = ("render", "schema", "values-schema", "dead", "scheduling", "capacity", "references", "ordering", "owners")


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str  # error | warning | info
    release: str
    subject: str
    message: str

    def line(self) -> str:
        return f"  {self.severity:7s} {self.release}: {self.subject}: {self.message}"


@dataclass
class Stack:
    """What the audit reads: the rendered releases, the pools, and the objects the program creates itself."""

    rendered: list[render.Rendered]
    pools: list[Pool]
    kubernetes_version: str
    plan_objects: list[tuple[dict[str, Any], str, frozenset[str]]] = field(default_factory=list)
    locate: render.Locate | None = None

    @property
    def minor(self) -> int:
        return int(self.kubernetes_version.split(".")[1])

    def all_objects(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(release name or "program", object) of everything the stack applies."""
        for r in self.rendered:
            for obj in r.objects:
                yield r.release.name, obj
        for obj, _, _ in self.plan_objects:
            yield "program", obj

    def crds(self) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
        """(group, kind) -> (release that installs it, the CRD)."""
        found = {}
        for release, obj in self.all_objects():
            if obj.get("kind") == "CustomResourceDefinition":
                spec = obj.get("spec") or {}
                found[(str(spec.get("group")), str((spec.get("names") or {}).get("kind")))] = (release, obj)
        return found


def group_of(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def name_of(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {namespace}{meta.get('name')}"


# ---------------------------------------------------------------------------------------------------------------------
# 1. schema


@functools.cache
def _definitions(minor: int) -> Any:
    from referencing import Registry, Resource

    folder = helmrender.schema_dir(minor)
    definitions = Resource.from_contents(json.loads((folder / "_definitions.json").read_text()))
    return definitions @ Registry()


@functools.cache
def _builtin_validator(minor: int, kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    """kubernetes-validate's strict schema for a built-in kind (its file naming: `<kind>-<group>-<version>.json`)."""
    group = api_version.split("/")[0].split(".")[0] if "/" in api_version else ""
    version = api_version.rsplit("/", 1)[-1]
    file = helmrender.schema_dir(minor) / f"{kind.lower()}-{group + '-' if group else ''}{version}.json"
    if not file.exists():
        return None
    return jsonschema.Draft202012Validator(json.loads(file.read_text()), registry=_definitions(minor))


def _crd_schema(crd: dict[str, Any], version: str) -> dict[str, Any] | None:
    for v in (crd.get("spec") or {}).get("versions") or []:
        if v.get("name") == version:
            return ((v.get("schema") or {}).get("openAPIV3Schema")) or {}
    return None


def _first_error(validator: jsonschema.protocols.Validator, obj: dict[str, Any]) -> str:
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is None:
        return ""
    where = ".".join(str(p) for p in error.absolute_path) or "(top)"
    return f"{where}: {error.message[:300]}"


def check_schema(stack: Stack) -> list[Finding]:
    findings = []
    crds = stack.crds()
    for release, obj in stack.all_objects():
        kind, api_version = str(obj.get("kind")), str(obj.get("apiVersion"))
        validator = _builtin_validator(stack.minor, kind, api_version)
        if validator is None and (group_of(api_version), kind) in crds:
            schema = _crd_schema(crds[(group_of(api_version), kind)][1], api_version.rsplit("/", 1)[-1])
            if schema is None:
                findings.append(
                    Finding("schema", "error", release, name_of(obj), f"the CRD serves no version {api_version}")
                )
                continue
            validator = jsonschema.Draft7Validator(schema)
        if validator is None:
            findings.append(
                Finding(
                    "schema",
                    "error",
                    release,
                    name_of(obj),
                    f"{api_version} {kind} is neither built into Kubernetes 1.{stack.minor} "
                    "nor a CRD the stack installs",
                )
            )
            continue
        problem = _first_error(validator, obj)
        if problem:
            findings.append(Finding("schema", "error", release, name_of(obj), problem))
    return findings


# ---------------------------------------------------------------------------------------------------------------------
# 3. dead settings


def leaves(values: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf the program sets: scalars, lists (whole) and empty maps, with their key path."""
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from leaves(value, (*path, str(key)))
    elif path:
        yield path, values


def altered(value: Any) -> Any:
    """A different value of the same type: what a template that reads the leaf must render differently."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "-audit"
    if isinstance(value, list):
        return value[:-1] if value else ["audit"]
    if isinstance(value, dict):
        return {"audit": "audit"}
    return "audit"


def with_leaf(values: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(values))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


def without_leaf(values: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    copy = json.loads(json.dumps(values))
    node = copy
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return copy


def check_dead(stack: Stack, api_versions: tuple[str, ...], workers: int = 2) -> list[Finding]:
    """Alter each leaf and re-render (raw text, no parsing: only sameness matters). Renders run on `workers`
    threads (the Go engine runs outside Python's lock) and are remembered by their inputs (helmrender.render_digest),
    so a second audit re-renders only releases whose values changed."""
    kube = helmrender.kube_version(stack.kubernetes_version)
    find = stack.locate or charts.locate
    jobs = []
    for r in stack.rendered:
        if r.error:
            continue
        release = r.release
        source = find(release.chart, release.version)
        jobs.append((release, source, None))
        jobs += [(release, source, path) for path, _ in leaves(release.values)]

    def text(release: render.Release, source: Path, values: dict[str, Any]) -> str | None:
        """The render's digest; None where Helm refuses the values (the template reacts: the leaf is read)."""
        return helmrender.render_digest(source, values, release.name, release.namespace, kube, api_versions)

    baseline = {r.name: text(r, c, r.values) for r, c, path in jobs if path is None}

    def same(job: tuple[render.Release, Path, tuple[str, ...] | None]) -> bool:
        """Whether the leaf is dead: altering it and removing it (the chart's default applies) both leave every
        manifest as it was. Altering first: it is the one that usually shows a change, so most leaves cost one
        render."""
        release, chart, path = job
        if path is None or baseline[release.name] is None:
            return False
        for values in (
            with_leaf(release.values, path, altered(_get(release, path))),
            without_leaf(release.values, path),
        ):
            if text(release, chart, values) != baseline[release.name]:
                return False
        return True

    with ThreadPoolExecutor(max_workers=workers) as pool:
        outputs = list(pool.map(same, jobs))
    findings = []
    for (release, _, path), dead in zip(jobs, outputs, strict=True):
        if dead and path is not None:
            findings.append(
                Finding(
                    "dead",
                    "error",
                    release.name,
                    ".".join(path),
                    f"set to {json.dumps(_get(release, path))[:80]}, but changing or removing it changes no manifest",
                )
            )
    return findings


def _get(release: render.Release, path: tuple[str, ...]) -> Any:
    node: Any = release.values
    for key in path:
        node = node[key]
    return node


# ---------------------------------------------------------------------------------------------------------------------
# 4. scheduling and 5. capacity


def stack_pods(stack: Stack) -> list[Pod]:
    found = []
    for r in stack.rendered:
        found += workloads.pods(r.release.name, r.objects)
    for pod in found:
        pod.eligible = [p for p in stack.pools if not workloads.why_not(pod, p)]
    return found


def check_scheduling(stack: Stack, pods: list[Pod]) -> list[Finding]:
    findings = []
    for pod in pods:
        if not pod.eligible:
            reasons = "; ".join(f"{p.name}: {workloads.why_not(pod, p)}" for p in stack.pools)
            findings.append(Finding("scheduling", "error", pod.release, pod.owner, f"fits no pool ({reasons})"))
            continue
        key = workloads.spread_key(pod)
        if pod.per_node or key is None:
            continue
        if key == workloads.HOSTNAME:
            at_min, at_max = sum(p.min_nodes for p in pod.eligible), sum(p.max_nodes for p in pod.eligible)
            unit = "nodes"
        else:
            at_min = at_max = max(p.zones for p in pod.eligible)
            unit = f"{key} domains"
        pools = ", ".join(p.name for p in pod.eligible)
        if pod.max_replicas > at_max:
            findings.append(
                Finding(
                    "scheduling",
                    "error",
                    pod.release,
                    pod.owner,
                    f"{pod.max_replicas} replicas kept apart by required anti-affinity ({key}), but pool(s) {pools} "
                    f"have at most {at_max} {unit}: {pod.max_replicas - at_max} stay Pending",
                )
            )
        elif pod.replicas > at_min:
            findings.append(
                Finding(
                    "scheduling",
                    "warning",
                    pod.release,
                    pod.owner,
                    f"{pod.replicas} replicas kept apart ({key}) need the autoscaler to grow {pools} past its "
                    f"minimum of {at_min} {unit}",
                )
            )
    return findings


@dataclass(frozen=True)
class DaemonRequests:
    cpu: int
    memory: int


def check_capacity(stack: Stack, pods: list[Pod]) -> list[Finding]:
    findings = []
    load = {p.name: [0, 0, 0] for p in stack.pools}  # cpu milli, memory MiB, pods
    daemons: dict[str, list[DaemonRequests]] = {p.name: [] for p in stack.pools}
    for pod in pods:
        asked = workloads.requests(pod)
        if asked.missing:
            findings.append(
                Finding(
                    "capacity",
                    "error",
                    pod.release,
                    pod.owner,
                    f"container(s) {', '.join(asked.missing)} request no CPU or no memory: no capacity figure holds",
                )
            )
        if not pod.eligible:
            continue
        targets = pod.eligible if pod.per_node else pod.eligible[:1]
        for p in targets if pod.per_node else []:
            daemons[p.name].append(DaemonRequests(asked.cpu_milli, asked.memory_mib))
        for p in targets:
            copies = p.min_nodes if pod.per_node else pod.replicas
            for i, amount in enumerate((asked.cpu_milli, asked.memory_mib, 1)):
                load[p.name][i] += amount * copies
    for p in stack.pools:
        # Pods kept one per node hold that many nodes up: an autoscaled pool never shrinks below them.
        spread = [
            pod.replicas for pod in pods if pod.eligible[:1] == [p] and workloads.spread_key(pod) == workloads.HOSTNAME
        ]
        size = min(p.max_nodes, max([p.min_nodes, *spread]))
        why = "minimum size" if size == p.min_nodes else f"minimum {p.min_nodes}, held at {size} by one-per-node pods"
        cpu, memory, count = load[p.name]
        cpu += sum(d.cpu for d in daemons[p.name]) * (size - p.min_nodes)
        memory += sum(d.memory for d in daemons[p.name]) * (size - p.min_nodes)
        count += len(daemons[p.name]) * (size - p.min_nodes)
        a = p.allocatable
        have = (a.cpu_milli * size, a.memory_mib * size, a.pods * size)
        summary = (
            f"requests {cpu / 1000:.2f} CPU, {memory / 1024:.1f} GiB, {count} pods of {have[0] / 1000:.2f} CPU, "
            f"{have[1] / 1024:.1f} GiB, {have[2]} pods allocatable on {size} x {p.vm_size} ({why})"
        )
        over = [
            name
            for name, used, total in zip(("CPU", "memory", "pods"), load[p.name], have, strict=True)
            if used > total
        ]
        if over:
            findings.append(
                Finding("capacity", "error", "-", f"pool {p.name}", f"{summary}: over on {', '.join(over)}")
            )
        else:
            findings.append(Finding("capacity", "info", "-", f"pool {p.name}", summary))
    return findings


# ---------------------------------------------------------------------------------------------------------------------
# 6. references


def _generated_secrets(stack: Stack) -> set[tuple[str, str]]:
    """(namespace, name) of Secrets a controller the stack runs creates at run time, read off the objects that
    ask for them: cert-manager writes a Certificate's spec.secretName and, for an Ingress annotated with an issuer,
    each spec.tls[].secretName; ECK writes `<name>-es-elastic-user`, `<name>-es-http-certs-public` and
    `<name>-kb-http-certs-public`, `<name>-es-http-ca-internal`... per Elasticsearch/Kibana (its naming package)."""
    found: set[tuple[str, str]] = set()
    for _, obj in stack.all_objects():
        meta = obj.get("metadata") or {}
        ns, name, spec = str(meta.get("namespace", "")), str(meta.get("name")), obj.get("spec") or {}
        kind = obj.get("kind")
        if kind == "Certificate" and spec.get("secretName"):
            found.add((ns, str(spec["secretName"])))
        if kind == "Ingress" and any(k.startswith("cert-manager.io/") for k in meta.get("annotations") or {}):
            found |= {(ns, str(t["secretName"])) for t in spec.get("tls") or [] if t.get("secretName")}
        if kind == "Elasticsearch":
            found |= {(ns, f"{name}-es-{s}") for s in ("elastic-user", "http-certs-public", "http-certs-internal")}
        if kind == "Kibana":
            found |= {(ns, f"{name}-kb-{s}") for s in ("http-certs-public", "http-certs-internal", "config")}
        if kind == "Job":
            # kube-webhook-certgen (kube-prometheus-stack's admission hook jobs) writes the Secret its
            # `--secret-name` names (jet/kube-webhook-certgen, cmd/root.go).
            template = ((spec.get("template") or {}).get("spec")) or {}
            for container in template.get("containers") or []:
                args = [str(a) for a in container.get("args") or []]
                found |= {(ns, a.split("=", 1)[1]) for a in args if a.startswith("--secret-name=")}
    return found


def _data_keys(obj: dict[str, Any]) -> set[str] | None:
    """The keys a Secret or ConfigMap holds, or None where they are not known offline."""
    keys: set[str] = set()
    for field_name in ("data", "stringData", "binaryData"):
        if field_name not in obj:
            continue
        value = obj[field_name]
        if not isinstance(value, dict):
            return None  # the program's secret map whose keys the plan could not see (render.plan_objects)
        keys |= set(value)
    return keys


def _reads(spec: dict[str, Any]) -> Iterator[tuple[str, str, str | None, bool]]:
    """(kind, name, key or None, optional) of every Secret, ConfigMap and ServiceAccount a pod spec reads."""
    yield "ServiceAccount", str(spec.get("serviceAccountName") or "default"), None, False
    for s in spec.get("imagePullSecrets") or []:
        yield "Secret", str(s.get("name")), None, False
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        for env in c.get("env") or []:
            ref = env.get("valueFrom") or {}
            for kind, field_name in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                if field_name in ref:
                    r = ref[field_name]
                    yield kind, str(r.get("name")), str(r.get("key")), bool(r.get("optional"))
        for source in c.get("envFrom") or []:
            for kind, field_name in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                if field_name in source:
                    r = source[field_name]
                    yield kind, str(r.get("name")), None, bool(r.get("optional"))
    for volume in spec.get("volumes") or []:
        sources = [volume, *((volume.get("projected") or {}).get("sources") or [])]
        for s in sources:
            if "secret" in s:
                r = s["secret"]
                name = r.get("secretName") or r.get("name")
                for item in r.get("items") or [{"key": None}]:
                    yield "Secret", str(name), item.get("key"), bool(r.get("optional"))
            if "configMap" in s:
                r = s["configMap"]
                for item in r.get("items") or [{"key": None}]:
                    yield "ConfigMap", str(r.get("name")), item.get("key"), bool(r.get("optional"))


def check_references(stack: Stack, pods: list[Pod]) -> list[Finding]:
    existing: dict[tuple[str, str, str], set[str] | None] = {}
    for _, obj in stack.all_objects():
        meta = obj.get("metadata") or {}
        existing[(str(obj.get("kind")), str(meta.get("namespace", "")), str(meta.get("name")))] = _data_keys(obj)
    generated = _generated_secrets(stack)
    findings = []
    for pod in pods:
        for kind, name, key, optional in _reads(pod.spec):
            if optional or (kind == "ServiceAccount" and name == "default"):
                continue
            if kind == "Secret" and (pod.namespace, name) in generated:
                continue
            where = (kind, pod.namespace, name)
            if where not in existing:
                findings.append(
                    Finding(
                        "references",
                        "error",
                        pod.release,
                        pod.owner,
                        f"reads {kind} {pod.namespace}/{name}, which nothing in the stack creates",
                    )
                )
            elif key is not None and existing[where] is not None and key not in (existing[where] or set()):
                findings.append(
                    Finding(
                        "references",
                        "error",
                        pod.release,
                        pod.owner,
                        f"reads key {key!r} of {kind} {pod.namespace}/{name}, "
                        f"which has only {sorted(existing[where] or [])}",
                    )
                )
    return findings


# ---------------------------------------------------------------------------------------------------------------------
# 7. ordering


def check_ordering(stack: Stack, builtin: tuple[str, ...]) -> list[Finding]:
    crds = stack.crds()
    urns = {r.release.name: r.release.urn for r in stack.rendered}
    in_crds_folder = {
        (r.release.name, id(o))
        for r in stack.rendered
        for o in r.objects
        if o.get("kind") == "CustomResourceDefinition"
    }
    del in_crds_folder
    owners: list[tuple[str, dict[str, Any], frozenset[str]]] = [
        (r.release.name, o, r.release.waits_on) for r in stack.rendered for o in r.objects
    ]
    owners += [("program", o, waits) for o, _, waits in stack.plan_objects]
    findings = []
    for owner, obj, waits in owners:
        api_version, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
        if f"{api_version}/{kind}" in builtin or (group_of(api_version), kind) not in crds:
            continue
        installer, _ = crds[(group_of(api_version), kind)]
        if installer == owner or urns.get(installer, "") in waits:
            continue
        findings.append(
            Finding(
                "ordering",
                "error",
                owner,
                name_of(obj),
                f"its CRD comes with release {installer}, which it does not wait for: a first `up` may apply it "
                "before the CRD exists",
            )
        )
    return findings


# ---------------------------------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------------------------------
# 8. owners


def check_owners(stack: Stack) -> list[Finding]:
    """An object applied by two owners (releases, or a release and the program)."""
    owners: dict[tuple[str, str, str, str], list[str]] = {}
    for owner, obj in stack.all_objects():
        meta = obj.get("metadata") or {}
        group = group_of(str(obj.get("apiVersion", "")))
        owners.setdefault((group, str(obj.get("kind")), meta.get("namespace") or "", str(meta.get("name"))), []).append(
            owner
        )
    return [
        Finding("owners", "error", found[1], f"{kind} {f'{ns}/' if ns else ''}{name}", f"also applied by {found[0]}")
        for (_, kind, ns, name), found in sorted(owners.items())
        if len(found) > 1
    ]


def audit(stack: Stack, skip_dead: bool = False) -> tuple[list[Finding], dict[str, float]]:
    """Every check over a rendered stack; returns the findings and the seconds each check took."""
    timings: dict[str, float] = {}
    findings = [
        Finding(
            "values-schema" if "values.schema.json" in r.error else "render", "error", r.release.name, "render", r.error
        )
        for r in stack.rendered
        if r.error
    ]
    builtin = helmrender.builtin_api_versions(stack.minor)
    advertised = tuple(sorted({*builtin, *helmrender.crd_api_versions([o for _, o in stack.all_objects()])}))

    def timed(name: str, produce: Any) -> None:
        started = time.monotonic()
        findings.extend(produce())
        timings[name] = time.monotonic() - started

    pods = stack_pods(stack)
    timed("schema", lambda: check_schema(stack))
    if not skip_dead:
        timed("dead", lambda: check_dead(stack, advertised))
    timed("scheduling", lambda: check_scheduling(stack, pods))
    timed("capacity", lambda: check_capacity(stack, pods))
    timed("references", lambda: check_references(stack, pods))
    timed("ordering", lambda: check_ordering(stack, builtin))
    timed("owners", lambda: check_owners(stack))
    return findings, timings


def audit_stack(name: str, project_dir: Path = offline.PROJECT_DIR, skip_dead: bool = False):
    plan, releases, version = render.stack_releases(name, project_dir)
    objects = render.plan_objects(plan)
    rendered = render.render_releases(releases, version, extra_crds=[o for o, _, _ in objects])
    pools, _ = workloads.pools_from_plan(plan.registrations)
    return audit(Stack(rendered, pools, version, objects), skip_dead)


def report(findings: list[Finding]) -> list[str]:
    lines = []
    for check in CHECKS:
        mine = [f for f in findings if f.check == check]
        errors = sum(f.severity == "error" for f in mine)
        lines.append(f"{check}: {errors} error(s), {len(mine) - errors} other")
        lines += [f.line() for f in mine]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.audit", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("stack", nargs="+", help="stack name(s): reads Pulumi.<stack>.yaml; several run side by side")
    parser.add_argument("--skip-dead", action="store_true", help="leave out the dead-settings ablation (slowest)")
    parser.add_argument("--project-dir", type=Path, default=offline.PROJECT_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if len(args.stack) > 1:
        rest = ["--project-dir", str(args.project_dir)] + (["--skip-dead"] if args.skip_dead else [])
        return short_run.each_stack("tools.audit", args.stack, rest)
    (stack,) = args.stack
    started = time.monotonic()
    try:
        findings, timings = audit_stack(stack, args.project_dir, args.skip_dead)
    except (ConfigError, PromotionError, charts.ChartMissingError, charts.ChartTamperedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Audit of stack {stack!r}")
    print("\n".join(report(findings)))
    errors = sum(f.severity == "error" for f in findings)
    took = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
    print(f"{errors} error(s) ({time.monotonic() - started:.1f} s in all; {took})")
    return 1 if errors else 0


if __name__ == "__main__":
    short_run.run(main)
