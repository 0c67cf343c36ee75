"""Benchmark the offline plan: wall time and peak memory per stack.

    python -m tools.bench [--runs 3] [stack ...]      (default: every Pulumi.<stack>.yaml in the project)

For each stack it runs `python -m tools.plan <stack>` in fresh processes, as a user does, and prints the median
wall time and the peak resident memory of those processes. It also splits one process's time into loading the
program and the Pulumi SDKs (import) and planning (the program under the mock engine), because the two scale
differently: imports grow with the SDK modules used, planning with the number of resources.
Target: under 3 s per stack on the project's 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from tools import offline

TARGET_SECONDS = 3.0


def cold_run(stack: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one `python -m tools.plan <stack>` process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.plan", stack],
        cwd=offline.PROJECT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"plan of {stack} failed (exit {process.returncode}): run `python -m tools.plan {stack}`")
    return elapsed, usage.ru_maxrss / 1024  # KiB on Linux


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
    args = parser.parse_args(argv)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
