"""The offline plan: what `pulumi up` of a stack would create, without the Pulumi CLI, credentials or network.

    python -m tools.plan staging                 the resource tree, what each resource waits on, counts per type
    python -m tools.plan prod --json plan.json   also every resource with its inputs (secrets as [secret]) and options
    python -m tools.plan staging --compare prod  which releases and which settings differ between two stacks

A configuration error prints the same one message `pulumi up` would and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from components import capacity, catalog
from components.concourse import limits as concourse_limits
from components.config.loader import ConfigError
from components.config.schema import StackConfig
from components.promotion import PromotionError
from tools import compare, offline, short_run, stackfile


def short(urn: str) -> str:
    """`type::name` of a URN, without the stack and parent-type prefix."""
    qualified_type, name = urn.split("::")[-2:]
    return f"{qualified_type.split('$')[-1]}::{name}"


def render_tree(plan: offline.Plan) -> list[str]:
    children: dict[str, list[offline.Registration]] = {}
    for registration in plan.registrations:
        children.setdefault(registration.parent, []).append(registration)
    known = {r.urn for r in plan.registrations}
    roots = [r for r in plan.registrations if r.parent not in known]
    lines: list[str] = []

    def walk(registration: offline.Registration, depth: int) -> None:
        marks = []
        if registration.protect:
            marks.append("protected")
        if registration.ignore_changes:
            marks.append("ignores " + ",".join(registration.ignore_changes))
        suffix = f"  [{'; '.join(marks)}]" if marks else ""
        lines.append(f"{'  ' * depth}+ {registration.type}  {registration.name}{suffix}")
        # What it waits on: its dependencies that are not its own ancestors (those are structure, not waits).
        waits = [short(d) for d in registration.dependencies if d != registration.parent]
        if waits:
            lines.append(f"{'  ' * depth}    waits on: {', '.join(waits)}")
        for child in children.get(registration.urn, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return lines


def waits(plan: offline.Plan) -> dict[str, list[str]]:
    """What each custom resource waits for before its create starts: its dependencies and its provider (a provider
    reference is `<urn>::<id>`), as URNs of custom resources."""
    custom = {r.urn for r in plan.registrations if r.custom}

    def of(r: offline.Registration) -> list[str]:
        provider = r.provider.rsplit("::", 1)[0] if r.provider else ""
        return [d for d in [*r.dependencies, provider] if d in custom]

    return {r.urn: of(r) for r in plan.registrations if r.custom}


def critical_path(
    plan: offline.Plan, weight: Callable[[offline.Registration], float] = lambda r: 1
) -> list[offline.Registration]:
    """The chain of resources each waiting on the one before with the largest total `weight` (default: the longest
    chain; with durations, what a first `pulumi up` cannot make shorter by running more in parallel)."""
    custom = {r.urn: r for r in plan.registrations if r.custom}
    before = waits(plan)
    best: dict[str, tuple[float, list[offline.Registration]]] = {}

    def chain(urn: str) -> tuple[float, list[offline.Registration]]:
        if urn not in best:
            total, path = max((chain(d) for d in before[urn]), key=lambda c: c[0], default=(0.0, []))
            best[urn] = (total + weight(custom[urn]), [*path, custom[urn]])
        return best[urn]

    return max((chain(urn) for urn in custom), key=lambda c: c[0], default=(0.0, []))[1]


def render(plan: offline.Plan) -> str:
    lines = [f"Offline plan of stack {plan.stack!r}: {len(plan.registrations)} resources to create", ""]
    lines += render_tree(plan)
    path = critical_path(plan)
    lines += ["", f"Longest chain of waits ({len(path)} resources, each after the one before):"]
    lines += [f"  {r.type}  {r.name}" for r in path]
    lines += ["", "Resources per type:"]
    for type_, count in sorted(Counter(r.type for r in plan.registrations).items()):
        lines.append(f"  {count:4d}  {type_}")
    lines += ["", "Stack outputs:"]
    for key, value in sorted(plan.outputs.items()):
        lines.append(f"  {key}: {json.dumps(value)}")
    return "\n".join(lines)


def render_quota(cfg: StackConfig) -> str:
    """The regional vCPU quota the stack's node pools need (check it with `az vm list-usage -l <region>` before an
    `up`), and the database connections Concourse may open against what its SKU accepts."""
    needs = capacity.vcpu_quota(cfg)
    low, high = capacity.total_regional_vcpus(needs)
    lines = [f"vCPU quota in {cfg.location} (smallest size / largest size with the pools' upgrade surge nodes):"]
    lines += [f"  {n.family}: {n.minimum} / {n.maximum}" for n in needs]
    lines.append(f"  Total Regional vCPUs: {low} / {high}")
    sku = catalog.POSTGRES_SKUS.get(cfg.database.sku_name)
    if sku is not None:
        used, limit = concourse_limits.database_connections(cfg), catalog.postgres_user_connections(sku)
        lines.append(f"Database connections at most (web pools, one rollout surge): {used} of {limit} ({sku.tier})")
    return "\n".join(lines)


def to_json(plan: offline.Plan) -> dict:
    return {
        "stack": plan.stack,
        "resources": [r.to_json() for r in plan.registrations],
        "outputs": plan.outputs,
    }


def dumps(plan: offline.Plan) -> str:
    """The plan as JSON text, keys sorted at every level (resources are already in URN order): the same bytes for the
    same graph, so two plans diff line by line (`--json` and the golden plans under plans/)."""
    return json.dumps(to_json(plan), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write every resource with its inputs")
    parser.add_argument("--compare", metavar="STACK", help="compare releases and settings with another stack")
    parser.add_argument("--project-dir", type=Path, default=offline.PROJECT_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    for stack in [args.stack] + ([args.compare] if args.compare else []):
        stack_file = args.project_dir / f"Pulumi.{stack}.yaml"
        if not stack_file.exists():
            print(f"error: {stack_file} does not exist", file=sys.stderr)
            return 2
    try:
        if args.compare:
            a, b = (offline.load_config(stack, args.project_dir) for stack in (args.stack, args.compare))
            print(compare.render(a, b))
            return 0
        # Rules between stacks first: a Pulumi program sees only its own stack, so `pulumi up` cannot check them.
        cross_stack = offline.cross_stack_errors(args.stack, args.project_dir)
        if cross_stack:
            print("\n".join(f"error: {error}" for error in cross_stack), file=sys.stderr)
            return 2
        plan = offline.run_stack(args.stack, args.project_dir)
        cfg = offline.load_config(args.stack, args.project_dir)
    except (ConfigError, PromotionError, stackfile.StackFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(render(plan))
    print("\n" + render_quota(cfg))
    if args.json:
        args.json.write_text(dumps(plan))
        print(f"\nWrote {len(plan.registrations)} resources to {args.json}")
    return 0


if __name__ == "__main__":
    short_run.run(main)
