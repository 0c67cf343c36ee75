"""How the one-shot commands (plan, render, diff, audit) run their `main`, and several stacks side by side.

A command is one short-lived run in which every object (the SDKs' thousands of generated classes, the resources)
lives until exit: the cyclic garbage collector only costs time here (about a second), and so does tearing the
interpreter down. Neither changes what is printed or written.
"""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence


def run(main: Callable[[], int]) -> None:
    gc.disable()
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def each_stack(module: str, stacks: Sequence[str], args: Sequence[str]) -> int:
    """`python -m <module> <stack> <args>` for every stack at once, one process each: a stack's run is mostly
    single-threaded Python (the program's imports, the offline plan), so two stacks on two cores take the time of
    one. Each run's output is printed whole, in the stacks' order; the exit status is the worst of them."""
    with contextlib.ExitStack() as files:
        outputs = [files.enter_context(tempfile.TemporaryFile()) for _ in stacks]
        children = [
            subprocess.Popen([sys.executable, "-m", module, stack, *args], stdout=out, stderr=subprocess.STDOUT)
            for stack, out in zip(stacks, outputs, strict=True)
        ]
        status = 0
        for child, out in zip(children, outputs, strict=True):
            status = max(status, child.wait())
            out.seek(0)
            sys.stdout.buffer.write(out.read())
            sys.stdout.flush()
    return status
