"""The date a run judges time-bound facts on: AKS support windows and the client secret's rotation period.

It is the real date, unless `CDSTACK_TODAY` (YYYY-MM-DD) names another: tests pin it so the suite never starts
failing on a calendar day, and a reviewer can ask what a plan would say on a given day.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

ENV = "CDSTACK_TODAY"


def today() -> date:
    pinned = os.environ.get(ENV)
    return date.fromisoformat(pinned) if pinned else datetime.now(UTC).date()
