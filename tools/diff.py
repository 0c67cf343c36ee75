"""`make diff A=staging B=prod` / `make diff STACK=prod REF=<git ref>`: what would change, manifest by manifest.

What helm-diff shows before an upgrade, before anything is promoted: per Helm release, a unified diff of the rendered
manifests (`tools/render.py`), with every Secret value masked. Exit status as `diff`'s: 0 same, 1 different,
2 trouble. A REF is checked out into a temporary folder and rendered there with this checkout's tools, so the
comparison is of the program and stack files at REF against the working tree, not of two tool versions.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from components.config.loader import ConfigError
from components.promotion import PromotionError
from tools import charts, offline, render, short_run

MASK = "<masked>"


def mask(obj: dict[str, Any]) -> dict[str, Any]:
    """A Secret with every value masked (its keys kept: which keys exist is part of the change)."""
    if obj.get("kind") != "Secret":
        return obj
    masked = copy.deepcopy(obj)
    for field in ("data", "stringData"):
        if isinstance(masked.get(field), dict):
            masked[field] = dict.fromkeys(masked[field], MASK)
    return masked


def manifests(stack: str, project_dir: Path = offline.PROJECT_DIR) -> dict[str, str]:
    """Release name -> its masked manifest text, for a stack of the project in `project_dir`."""
    plan, releases, version = render.stack_releases(stack, project_dir)
    rendered = render.render_releases(releases, version, extra_crds=[o for o, _, _ in render.plan_objects(plan)])
    for r in rendered:
        r.objects = [mask(o) for o in r.objects]
    return {r.release.name: render.manifest(r) for r in rendered}


def manifests_at(stack: str, ref: str) -> dict[str, str]:
    """The same, for the project as git holds it at `ref`: exported to a temporary folder, with this checkout's
    tools/ laid over it, rendered in a child process (a fresh interpreter imports REF's components)."""
    with tempfile.TemporaryDirectory(prefix="cdstack-ref-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(offline.PROJECT_DIR), "archive", ref], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        subprocess.run(["cp", "-r", str(offline.PROJECT_DIR / "tools"), tmp], check=True)
        out = Path(tmp) / "out.json"
        code = (
            f"import json, sys; from tools import diff; json.dump(diff.manifests({stack!r}), open({str(out)!r}, 'w'))"
        )
        subprocess.run([sys.executable, "-c", code], cwd=tmp, check=True)
        return json.loads(out.read_text())


def unified(a: dict[str, str], b: dict[str, str], label_a: str, label_b: str) -> list[str]:
    lines: list[str] = []
    for name in sorted(set(a) | set(b)):
        before, after = a.get(name, ""), b.get(name, "")
        if before != after:
            lines += difflib.unified_diff(
                before.splitlines(keepends=True),
                after.splitlines(keepends=True),
                f"{label_a}/{name}",
                f"{label_b}/{name}",
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.diff", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--a", help="first stack")
    parser.add_argument("--b", help="second stack")
    parser.add_argument("--stack", help="stack to compare against --ref")
    parser.add_argument("--ref", help="git ref (branch, tag, commit) to compare the working tree with")
    args = parser.parse_args(argv)
    try:
        if args.ref:
            if not args.stack:
                parser.error("--ref needs --stack")
            a, b = manifests_at(args.stack, args.ref), manifests(args.stack)
            labels = (f"{args.stack}@{args.ref}", f"{args.stack}@worktree")
        elif args.a and args.b:
            a, b = manifests(args.a), manifests(args.b)
            labels = (args.a, args.b)
        else:
            parser.error("give --a and --b, or --stack and --ref")
    except (ConfigError, PromotionError, charts.ChartMissingError, charts.ChartTamperedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"error: {' '.join(map(str, error.cmd))} failed with status {error.returncode}", file=sys.stderr)
        return 2
    lines = unified(a, b, *labels)
    sys.stdout.writelines(lines)
    changed = sorted({line[4:].split("/", 1)[1].strip() for line in lines if line.startswith("+++ ")})
    print(f"{len(changed)} of {len(set(a) | set(b))} releases differ" + (f": {', '.join(changed)}" if changed else ""))
    return 1 if lines else 0


if __name__ == "__main__":
    short_run.run(main)
