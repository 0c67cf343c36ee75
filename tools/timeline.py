"""How long a stack's first `pulumi up` takes, and an upgrade `up` of Concourse, modelled from its planned graph and
the catalog's durations.

    python -m tools.timeline prod                  every resource's start and end, the critical path, the total;
                                                   then the upgrade `up` (a new worker generation)
    python -m tools.timeline prod --picture DIR    also a Gantt chart of the first `up`, DIR/timeline-prod.svg and .png

Pulumi starts a resource as soon as everything it waits on (its dependencies and its provider) exists, so the
earliest start of each resource is the latest end among what it waits on, and the whole `up` takes as long as the
chain of waits with the largest total duration (the critical path: `tools.plan.critical_path` weighted by duration).

An upgrade `up` that changes Concourse's chart (or anything in the worker pod) updates the web release in place and
replaces the worker release create-before-delete (services/concourse.py): the new generation's Secret and release
are created beside the web's rolling update; the old generation and its Secret are deleted last, once everything
else has succeeded (Pulumi runs deletes at the end), and Helm's uninstall returns as soon as their objects are gone.
The old workers then retire in the background, each within workerDrainSeconds, after `up` has returned.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from components import catalog
from components.concourse import limits as concourse_limits
from components.config.schema import StackConfig
from tools import offline
from tools import plan as plan_tool

RELEASE = "kubernetes:helm.sh/v3:Release"
POSTGRES = "azure-native:dbforpostgresql:Server"


def duration_key(r: offline.Registration) -> str:
    """The DURATIONS key of a resource: its type, its chart for a Helm release (`release/unawaited` for one `up` does
    not wait for, `/workers` for Concourse's worker-only release), `/ha` for a PostgreSQL HA server."""
    if r.type == RELEASE and r.inputs.get("skipAwait"):
        return "release/unawaited"
    if r.type == RELEASE:
        chart = str(r.inputs.get("chart", ""))
        worker_only = chart == "concourse" and ((r.inputs.get("values") or {}).get("web") or {}).get("enabled") is False
        return f"release/{chart}/workers" if worker_only else f"release/{chart}"
    if r.type == POSTGRES and (r.inputs.get("highAvailability") or {}).get("mode", "Disabled") != "Disabled":
        return f"{r.type}/ha"
    return r.type


def duration(r: offline.Registration, durations: dict[str, catalog.Duration] | None = None) -> int:
    table = catalog.DURATIONS if durations is None else durations
    return table.get(duration_key(r), catalog.DEFAULT_DURATION).seconds


@dataclass(frozen=True)
class Bar:
    registration: offline.Registration
    start: int
    end: int
    critical: bool

    @property
    def label(self) -> str:
        return f"{self.registration.type.split(':')[-1]} {self.registration.name}"


def schedule(plan: offline.Plan, durations: dict[str, catalog.Duration] | None = None) -> list[Bar]:
    """Every custom resource as a bar from its earliest start to its end, in start order, critical path marked."""
    custom = {r.urn: r for r in plan.registrations if r.custom}
    before = plan_tool.waits(plan)
    ends: dict[str, int] = {}

    def end(urn: str) -> int:
        if urn not in ends:
            ends[urn] = max((end(d) for d in before[urn]), default=0) + duration(custom[urn], durations)
        return ends[urn]

    critical = {r.urn for r in plan_tool.critical_path(plan, lambda r: duration(r, durations))}
    bars = [Bar(r, end(urn) - duration(r, durations), end(urn), urn in critical) for urn, r in custom.items()]
    return sorted(bars, key=lambda b: (b.start, b.end, b.label))


def total(bars: list[Bar]) -> int:
    return max((b.end for b in bars), default=0)


def _clock(seconds: int) -> str:
    return f"{seconds // 60:d}:{seconds % 60:02d}"


def render(stack: str, bars: list[Bar]) -> str:
    lines = [
        f"Modelled first `pulumi up` of stack {stack!r}: {_clock(total(bars))} (min:s), critical path marked *",
        "",
    ]
    lines += [f"  {'*' if b.critical else ' '} {_clock(b.start):>6} - {_clock(b.end):>6}  {b.label}" for b in bars]
    lines += ["", "Critical path:"]
    lines += [
        f"  {_clock(b.start):>6} - {_clock(b.end):>6}  {b.label}  ({duration_key(b.registration)})"
        for b in bars
        if b.critical
    ]
    return "\n".join(lines)


def picture(stack: str, bars: list[Bar], folder: Path) -> list[Path]:
    """A Gantt chart of the bars (critical path in red) as SVG and PNG in `folder`; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "cdstack"  # the same picture for the same graph: diffs stay quiet
    shown = [b for b in bars if b.end > b.start]  # zero-length steps (passwords, providers) would be invisible
    height = max(4.0, 0.16 * len(shown) + 1.5)
    figure, axes = plt.subplots(figsize=(12, height))
    for row, bar in enumerate(shown):
        axes.barh(
            row,
            (bar.end - bar.start) / 60,
            left=bar.start / 60,
            height=0.7,
            color="#d62728" if bar.critical else "#8fb3d9",
        )
    axes.set_yticks(range(len(shown)), [b.label for b in shown], fontsize=6)
    axes.invert_yaxis()
    axes.set_xlabel("minutes from the start of `pulumi up`")
    axes.axvline(total(bars) / 60, color="black", linewidth=0.8, linestyle="--")
    axes.set_title(f"Modelled first `pulumi up` of {stack}: {_clock(total(bars))} (critical path in red)", fontsize=10)
    axes.grid(axis="x", linewidth=0.3)
    figure.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    # No creation date in the files: the same graph draws the same picture.
    for suffix, metadata in ((".svg", {"Date": None}), (".png", {"Software": None})):
        path = folder / f"timeline-{stack}{suffix}"
        figure.savefig(path, dpi=110, metadata=metadata)
        written.append(path)
    plt.close(figure)
    return written


SECRET = "kubernetes:core/v1:Secret"
SCALE_OUT = "azure-native:containerservice:AgentPool/scale-out"
WEB_RELEASE, WORKER_RELEASE, WORKER_SECRET = "concourse", "concourse-workers", "concourse-worker-secret"


@dataclass(frozen=True)
class Step:
    """One step of a modelled upgrade: `after_up` steps run once `pulumi up` has returned (nothing waits for them)."""

    label: str
    start: int
    end: int
    after_up: bool = False


def upgrade(plan: offline.Plan, cfg: StackConfig, durations: dict[str, catalog.Duration] | None = None) -> list[Step]:
    """An upgrade `up` that gives Concourse a new chart version (new web and worker pods), as Pulumi runs it."""
    web, workers = plan.get(RELEASE, WEB_RELEASE), plan.get(RELEASE, WORKER_RELEASE)
    secret = plan.get(SECRET, WORKER_SECRET)
    table = catalog.DURATIONS if durations is None else durations
    secret_end = duration(secret, durations)
    nodes_end = secret_end + table[SCALE_OUT].seconds
    workers_end = nodes_end + duration(workers, durations)
    web_end = duration(web, durations)
    # Deletes run last, in reverse dependency order: the old release, then the Secret its pods mounted.
    deletes = max(web_end, workers_end)
    release_gone = deletes + concourse_limits.UNINSTALL_POLL_SECONDS
    secret_gone = release_gone + duration(secret, durations)
    old = cfg.cluster.worker_pool.max_count
    return [
        Step(f"Release {WEB_RELEASE} (web: rolling update, atomic)", 0, web_end),
        Step(f"Secret {WORKER_SECRET} (the new generation's)", 0, secret_end),
        Step(f"Release {WORKER_RELEASE}: its pods wait for nodes the cluster autoscaler adds", secret_end, nodes_end),
        Step(f"Release {WORKER_RELEASE}: the new generation starts; Helm waits for it", nodes_end, workers_end),
        Step("delete the old generation's release (Helm uninstall: its objects only)", deletes, release_gone),
        Step("delete the old generation's Secret", release_gone, secret_gone),
        Step(
            f"after `up`: up to {old} old workers retire at once (SIGUSR2), each within workerDrainSeconds",
            secret_gone,
            secret_gone + cfg.concourse.worker_drain_seconds,
            after_up=True,
        ),
    ]


def upgrade_total(steps: list[Step]) -> int:
    """How long the upgrade `up` takes: steps after it do not count."""
    return max((s.end for s in steps if not s.after_up), default=0)


def render_upgrade(stack: str, steps: list[Step]) -> str:
    lines = [
        f"Modelled upgrade `pulumi up` of stack {stack!r} (Concourse's chart changes): {_clock(upgrade_total(steps))} "
        "(min:s); it waits for one worker install, never for a drain",
        "",
    ]
    lines += [f"  {_clock(s.start):>6} - {_clock(s.end):>6}  {s.label}" for s in steps]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.timeline", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--picture", type=Path, metavar="DIR", help="also write a Gantt chart (SVG and PNG) there")
    args = parser.parse_args(argv)
    plan = offline.run_stack(args.stack)
    bars = schedule(plan)
    print(render(args.stack, bars))
    print()
    print(render_upgrade(args.stack, upgrade(plan, offline.load_config(args.stack))))
    if args.picture:
        for path in picture(args.stack, bars, args.picture):
            print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
