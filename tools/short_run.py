"""How the one-shot commands (plan, render, diff, audit) run their `main`.

A command is one short-lived run in which every object (the SDKs' thousands of generated classes, the resources)
lives until exit: the cyclic garbage collector only costs time here (about a second), and so does tearing the
interpreter down. Neither changes what is printed or written.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable


def run(main: Callable[[], int]) -> None:
    gc.disable()
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
