"""Go durations (`2m`, `120s`, `1h30m`) as Concourse and Vault read them, in whole seconds."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def go_duration_seconds(duration: str) -> int:
    """Whole seconds of a GoDuration (as Vault's TTL fields take them); fractions of a second are dropped."""
    parts = re.findall(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)", duration)
    return int(sum(float(number) * _UNITS[unit] for number, unit in parts))
