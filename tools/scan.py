"""`make scan STACK=<stack>`: a posture scan of a stack's manifests by a third-party engine, checkov (pinned in
requirements-checkov.txt, its own venv .venv-checkov), and every finding it reports either explained or fixed.

    python -m tools.scan prod                 render prod (tools/render.py and its cache), scan, judge
    python -m tools.scan prod --manifests D   scan the YAML files in folder D instead of rendering

The manifests are what `make render` writes (every Helm release from the pinned charts, namespaces as deployed) plus
the objects the program creates itself (its CronJobs, Secrets, ConfigMaps). checkov's Kubernetes framework judges
them; its findings name a check and an object (`Kind.namespace.name`: checkov judges a workload as a whole, and
names at most the first failing container, which the report shows). A finding is excepted only by an entry of
`policy/scan-exceptions.yaml` naming that check and that object, with the reason it cannot be met; the list is
reviewed like code. The scan fails (exit 1) on an unexplained finding and on a stale exception: one that applies to
the stack but whose check no longer fires on its object (an entry about an optional part's object applies only where
the stack runs that part: a lean stack renders none of it). It prints four counts: findings, excepted, unexplained,
stale.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.config.loader import ConfigError
from components.config.schema import PartsConfig
from components.promotion import PromotionError
from components.services.concourse import worker_release_name
from tools import charts, offline, render, short_run

EXCEPTIONS_FILE = offline.PROJECT_DIR / "policy" / "scan-exceptions.yaml"
CHECKOV = offline.PROJECT_DIR / ".venv-checkov" / "bin" / "checkov"
PROGRAM_FILE = "cdstack-program.yaml"
PARTS = tuple(PartsConfig().model_dump(by_alias=True))
"""The optional parts an exception may be about (its `part`)."""
"""The file the program's own objects are written to, beside one file per Helm release."""


class ExceptionsError(Exception):
    """The exception list is malformed: one message naming the file, the entry and the key."""


@dataclass(frozen=True)
class Finding:
    check: str
    name: str
    object: str
    """`Kind/namespace/name`, or `Kind/name` for a cluster-scoped kind."""
    container: str = ""
    """The container checkov points at (the first failing one it met), empty when it names none."""

    def line(self) -> str:
        where = f" (container {self.container})" if self.container else ""
        return f"{self.check} {self.object}{where}: {self.name}"


@dataclass(frozen=True)
class Waiver:
    check: str
    object: str
    why: str
    stacks: frozenset[str] = frozenset()
    """The stacks it applies to; empty: every stack."""
    part: str = ""
    """The optional part (a `cdstack:parts` key) whose object it names: it applies only to stacks that run the part, so
    a lean stack neither needs it nor calls it stale. Empty: the object is in every stack."""

    def applies(self, stack: str, parts_off: Collection[str] = ()) -> bool:
        return (not self.stacks or stack in self.stacks) and self.part not in parts_off


@dataclass
class Verdict:
    findings: list[Finding]
    excepted: list[Finding]
    unexplained: list[Finding]
    stale: list[Waiver]

    def counts(self) -> str:
        return (
            f"findings {len(self.findings)}, excepted {len(self.excepted)}, "
            f"unexplained {len(self.unexplained)}, stale {len(self.stale)}"
        )

    @property
    def ok(self) -> bool:
        return not self.unexplained and not self.stale


GENERATION = re.compile(re.escape(worker_release_name("")) + r"[0-9a-f]{8}\b")
"""A Concourse worker generation's release name (services/concourse.py): its hash changes with every worker pod
change, so objects are named by `<generation>` and an exception outlives the generation it was written for."""


def object_id(resource: str, names: Collection[tuple[str, str]] = ()) -> str:
    """checkov's `Kind.namespace.name` as `Kind/namespace/name` (a cluster-scoped kind: `Kind/name`; checkov says
    `default` for its namespace). Kinds and namespaces hold no dot; names may. Its graph checks name a workload's
    pods `Pod.namespace.<workload>.<label>-<value>...`, labels that carry chart versions: such a pod is named
    `Pod/namespace/<workload>` after the longest object name in `names` (namespace, name) it starts with."""
    kind, namespace, name = resource.split(".", 2)
    if kind == "Pod":
        owners = [n for ns, n in names if ns == namespace and (name == n or name.startswith(n + "."))]
        name = max(owners, key=len, default=name)
    name = GENERATION.sub(worker_release_name("<generation>"), name)
    return f"{kind}/{name}" if kind in render.CLUSTER_SCOPED else f"{kind}/{namespace}/{name}"


def container_named(manifest: dict[str, Any] | None, keys: list[str]) -> str:
    """The name of the container an evaluated key such as `spec/template/spec/containers/[1]/image` points at."""
    for key in keys:
        parts = key.split("/")
        for i, part in enumerate(parts[:-1]):
            if part in ("containers", "initContainers") and parts[i + 1].startswith("["):
                node: Any = manifest
                for step in parts[: i + 2]:
                    if node is None:
                        break
                    node = node[int(step[1:-1])] if step.startswith("[") else node.get(step)
                if isinstance(node, dict) and node.get("name"):
                    return str(node["name"])
    return ""


def read_manifests(folder: Path) -> dict[str, dict[str, Any]]:
    """Every object in the folder's YAML files by checkov's resource id, to name containers."""
    found = {}
    for path in sorted(folder.glob("*.yaml")):
        for obj in yaml.safe_load_all(path.read_text()):
            if isinstance(obj, dict) and obj.get("kind"):
                meta = obj.get("metadata") or {}
                found[f"{obj['kind']}.{meta.get('namespace') or 'default'}.{meta.get('name')}"] = obj
    return found


def run_checkov(folder: Path, checkov: Path = CHECKOV) -> list[Finding]:
    """checkov's Kubernetes framework over the folder, offline (`--skip-download`: no Prisma Cloud look-ups)."""
    if not checkov.exists():
        raise FileNotFoundError(f"{checkov} is missing: `make scan` creates it from requirements-checkov.txt")
    done = subprocess.run(
        [str(checkov), "--framework", "kubernetes", "--directory", str(folder), "--output", "json", "--quiet",
         "--compact", "--skip-download"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode not in (0, 1):
        raise RuntimeError(f"checkov failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as error:
        raise RuntimeError(f"checkov printed no JSON ({error}): {done.stdout[:500]} {done.stderr[-1000:]}") from error
    reports = report if isinstance(report, list) else [report]
    manifests = read_manifests(folder)
    names = {(ns, name) for ns, name in (key.split(".", 2)[1:] for key in manifests)}
    findings = set()
    for one in reports:
        for failed in (one.get("results") or {}).get("failed_checks") or []:
            keys = (failed.get("check_result") or {}).get("evaluated_keys") or []
            container = container_named(manifests.get(failed["resource"]), keys)
            findings.add(
                Finding(failed["check_id"], failed["check_name"], object_id(failed["resource"], names), container)
            )
    return sorted(findings, key=lambda f: (f.object, f.check))


def load_exceptions(path: Path = EXCEPTIONS_FILE) -> list[Waiver]:
    data = yaml.safe_load(path.read_text()) if path.exists() else None
    entries = (data or {}).get("exceptions") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ExceptionsError(f"{path}: expected a mapping with a list under `exceptions`")
    found: list[Waiver] = []
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(entries):
        where = f"{path}: exceptions[{i}]"
        if not isinstance(entry, dict):
            raise ExceptionsError(f"{where}: expected a mapping with check, object, why (and optionally stacks, part)")
        unknown = set(entry) - {"check", "object", "why", "stacks", "part"}
        if unknown:
            raise ExceptionsError(
                f"{where}: unknown key(s) {sorted(unknown)}; allowed: check, object, why, stacks, part"
            )
        for key in ("check", "object", "why"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ExceptionsError(f"{where}: `{key}` is {entry.get(key)!r}; a non-empty string is required")
        if entry["object"].count("/") not in (1, 2):
            raise ExceptionsError(
                f"{where}: object {entry['object']!r} is not Kind/namespace/name (or Kind/name, cluster-scoped)"
            )
        stacks = entry.get("stacks", [])
        if not isinstance(stacks, list) or not all(isinstance(s, str) for s in stacks):
            raise ExceptionsError(f"{where}: `stacks` is {stacks!r}; a list of stack names is required")
        part = entry.get("part", "")
        if part and part not in PARTS:
            raise ExceptionsError(f"{where}: `part` is {part!r}; one of {', '.join(PARTS)} (a cdstack:parts key)")
        key = (entry["check"], entry["object"])
        if key in seen:
            raise ExceptionsError(f"{where}: {key[0]} on {key[1]} is listed twice")
        seen.add(key)
        found.append(Waiver(entry["check"], entry["object"], entry["why"].strip(), frozenset(stacks), part))
    return found


def judge(findings: list[Finding], exceptions: list[Waiver], stack: str, parts_off: Collection[str] = ()) -> Verdict:
    """`parts_off`: the optional parts the stack leaves out; exceptions about their objects do not apply to it."""
    applying = {(e.check, e.object): e for e in exceptions if e.applies(stack, parts_off)}
    fired = {(f.check, f.object) for f in findings}
    excepted = [f for f in findings if (f.check, f.object) in applying]
    unexplained = [f for f in findings if (f.check, f.object) not in applying]
    stale = [e for key, e in applying.items() if key not in fired]
    return Verdict(findings, excepted, unexplained, stale)


def write_stack(stack: str, folder: Path) -> None:
    """The stack's manifests as `make render` writes them, and the program's own objects beside them."""
    rendered, objects = render.stack_with_program(stack)
    render.write(stack, rendered, folder)
    program = render.Rendered(render.Release("cdstack", "", "", "", {}), objects)
    (folder / stack / PROGRAM_FILE).write_text(render.manifest(program))


def report(verdict: Verdict) -> list[str]:
    lines = [f"unexplained: {f.line()}" for f in verdict.unexplained]
    lines += [f"stale exception: {e.check} on {e.object} no longer fires (delete the entry)" for e in verdict.stale]
    by_check = Counter(f"{f.check} {f.name}" for f in verdict.findings)
    lines.append("Findings per check:")
    lines += [f"  {n:4d}  {check}" for check, n in sorted(by_check.items(), key=lambda item: (-item[1], item[0]))]
    objects = len({f.object for f in verdict.findings})
    lines.append(f"{verdict.counts()} ({objects} objects)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.scan", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("stack")
    parser.add_argument("--manifests", type=Path, help="scan this folder's YAML files instead of rendering the stack")
    parser.add_argument("--exceptions", type=Path, default=EXCEPTIONS_FILE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        exceptions = load_exceptions(args.exceptions)
    except ExceptionsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cdstack-scan-") as tmp:
        folder = args.manifests
        try:
            if folder is None:
                write_stack(args.stack, Path(tmp))
                folder = Path(tmp) / args.stack
            parts_off = offline.load_config(args.stack).parts.off() if args.manifests is None else []
            verdict = judge(run_checkov(folder), exceptions, args.stack, parts_off)
        except (ConfigError, PromotionError, charts.ChartMissingError, charts.ChartTamperedError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    print(f"checkov over stack {args.stack!r}:")
    print("\n".join(report(verdict)))
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    short_run.run(main)
