"""Benchmark the offline plan: wall time and peak memory per stack.

    python -m tools.bench [--runs 3] [stack ...]      (default: every Pulumi.<stack>.yaml in the project)

For each stack it runs `python -m tools.plan <stack>` in fresh processes, as a user does, and prints the median
wall time and the peak resident memory of those processes. It also splits one process's time into loading the
program and the Pulumi SDKs (import) and planning (the program under the mock engine), because the two scale
differently: imports grow with the SDK modules used, planning with the number of resources.
Target: under 3 s per stack on the project's 2-core machine.

Where the pinned charts are on the machine (`make charts`, or CDSTACK_CHARTS), it then times `make render` and
`make audit` of all stacks together, as one command each (the stacks run side by side): with an empty render cache
(a new chart version or new values everywhere) and with the cache the first run left (what a re-run costs).
Targets: render 30 s warm, audit 120 s. The machine is shared, so CPU seconds (user + system, every process and
thread) are printed beside wall seconds: CPU / 2 is the wall time an idle 2-core machine needs at best.

Last (or alone, with --suite), it times the test suite as CI runs it: `make unit` (pytest, on every core) and
`make test` (lint, type check and pytest), with the tests' counts. Targets (issue 27): pytest 90 s, `make test` 120 s
on a warm checkout of the 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools import charts, offline

TARGET_SECONDS = 3.0
HELM_TARGETS = {"render": 30.0, "audit": 120.0}
"""Issue 11: every stack rendered with a warm cache, and every stack audited, on the 2-core machine."""


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak RSS MiB, exit status) of one process; its CPU includes every thread and every
    child process it waited for (wait4's accounting)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=offline.PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, cpu, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)  # ru_maxrss: KiB on Linux


def cold_run(stack: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one `python -m tools.plan <stack>` process."""
    elapsed, _, peak, status = timed([sys.executable, "-m", "tools.plan", stack])
    if status != 0:
        raise SystemExit(f"plan of {stack} failed (exit {status}): run `python -m tools.plan {stack}`")
    return elapsed, peak


def missing_charts() -> list[str]:
    absent = []
    for pin in charts.pins():
        try:
            charts.locate(pin.chart, pin.version)
        except charts.ChartMissingError:
            absent.append(f"{pin.chart} {pin.version}")
    return absent


def helm_runs(stacks: list[str]) -> list[str]:
    """`make render` and `make audit` of every stack, timed with an empty render cache and then a warm one."""
    lines = [f"{'command (all stacks)':28} {'cache':6} {'wall s':>7} {'CPU s':>7} {'target s':>8}"]
    with tempfile.TemporaryDirectory(prefix="cdstack-bench-") as tmp:
        env = {**os.environ, "CDSTACK_RENDER_CACHE": str(Path(tmp) / "renders")}
        out = ["--out", str(Path(tmp) / "rendered")]
        for tool, extra in (("render", out), ("audit", [])):
            for cache in ("empty", "warm"):
                wall, cpu, _, status = timed([sys.executable, "-m", f"tools.{tool}", *stacks, *extra], env)
                target = HELM_TARGETS[tool]
                # The render target is for a warm cache; the audit's holds either way.
                judged = tool == "audit" or cache == "warm"
                verdict = "" if not judged else ("ok" if wall <= target else f"over the {target:.0f} s target")
                failed = f" (exit {status}: run `make {tool}` to see why)" if status not in (0, 1) else ""
                lines.append(f"make {tool:23} {cache:6} {wall:7.1f} {cpu:7.1f} {target:8.0f}  {verdict}{failed}")
    return lines


SUITE_TARGETS = {"unit": 90.0, "test": 120.0}
"""Issue 27: pytest and `make test` on a warm checkout of the 2-core machine."""


def suite_runs() -> list[str]:
    """`make unit` (pytest as CI runs it) and `make test` timed, each with pytest's counts from its summary line."""
    lines = [f"{'command':28} {'wall s':>7} {'CPU s':>7} {'target s':>8}  tests"]
    for target, label in (("unit", "make unit (pytest)"), ("test", "make test")):
        with tempfile.TemporaryFile() as out:
            start = time.perf_counter()
            process = subprocess.Popen(["make", target], cwd=offline.PROJECT_DIR, stdout=out, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(process.pid, 0)
            wall, cpu = time.perf_counter() - start, usage.ru_utime + usage.ru_stime
            out.seek(0)
            counts = pytest_counts(out.read().decode(errors="replace"))
        limit = SUITE_TARGETS[target]
        verdict = "ok" if wall <= limit else f"over the {limit:.0f} s target"
        failed = f" (exit {os.waitstatus_to_exitcode(status)}: run `make {target}`)" if status else ""
        lines.append(f"{label:28} {wall:7.1f} {cpu:7.1f} {limit:8.0f}  {counts}  {verdict}{failed}")
    return lines


def pytest_counts(output: str) -> str:
    """pytest's last summary line ("1234 passed, 10 skipped in 80.1s") without its time, or "" if none."""
    summaries = re.findall(r"^=*\s*(\d+ (?:passed|failed|error).*?) in [\d.]+s", output, re.M)
    return summaries[-1] if summaries else ""


SPLIT = """
import gc, time
gc.disable()  # as tools.short_run runs the commands
start = time.perf_counter()
import components.program, tools.offline
loaded = time.perf_counter()
plan = tools.offline.run_stack({stack!r})
print(loaded - start, time.perf_counter() - loaded, len(plan.registrations))
"""


def split_run(stack: str) -> tuple[float, float, int]:
    """(import seconds, plan seconds, resources) of one fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", SPLIT.format(stack=stack)],
        cwd=offline.PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), float(out[1]), int(out[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("stacks", nargs="*", help="stacks to plan (default: all stack files)")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per stack (default 3)")
    parser.add_argument("--plan-only", action="store_true", help="leave out the render and audit timings")
    parser.add_argument("--suite", action="store_true", help="time only the test suite (`make unit`, `make test`)")
    args = parser.parse_args(argv)
    if args.suite:
        print("\n".join(suite_runs()))
        return 0
    stacks = args.stacks or sorted(p.name.split(".")[1] for p in offline.PROJECT_DIR.glob("Pulumi.*.yaml"))

    print(f"{'stack':10} {'resources':>9} {'median s':>9} {'best s':>7} {'peak MiB':>9} {'import s':>9} {'plan s':>7}")
    for stack in stacks:
        runs = [cold_run(stack) for _ in range(args.runs)]
        imports, planning, resources = split_run(stack)
        times = [t for t, _ in runs]
        median = statistics.median(times)
        verdict = "ok" if median < TARGET_SECONDS else f"over the {TARGET_SECONDS:.0f} s target"
        print(
            f"{stack:10} {resources:9d} {median:9.2f} {min(times):7.2f} {max(m for _, m in runs):9.1f}"
            f" {imports:9.2f} {planning:7.2f}  {verdict}"
        )
    if args.plan_only:
        return 0
    absent = missing_charts()
    if absent:
        print(f"render and audit not timed: charts absent ({', '.join(absent)}): {charts.GET_THEM}")
    else:
        print("\n".join(helm_runs(stacks)))
    print("\n".join(suite_runs()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
