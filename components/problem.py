"""One configuration mistake, as every rule reports it and the loader prints it.

A leaf module: the rules beside each concern (addressing, membership, vault/settings, ...), the registry in
config/rules.py and the loader in config/loader.py all import it, and it imports nothing of the project.
"""

from __future__ import annotations

from typing import Any, NamedTuple

NAMESPACE = "cdstack"
"""The config namespace of every key this program reads (`cdstack:<key>` in a stack file)."""


class Problem(NamedTuple):
    """The full key path (`cdstack:network.podCidr`), the value given there and what is allowed.

    The loader prints it as `<key>: got <value>; <allowed>`, every problem of a run in one message. A tuple, so a
    rule that returns plain `(key, value, allowed)` triples still fits."""

    key: str
    value: Any
    allowed: str

    @classmethod
    def at(cls, path: str, value: Any, allowed: str) -> Problem:
        """A problem at `path` under the namespace, for example `network.podCidr` or `teams[0].name`."""
        return cls(f"{NAMESPACE}:{path}", value, allowed)
