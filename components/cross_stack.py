"""Rules that compare stacks: mistakes no single stack file shows, such as prod reusing staging's DNS domain.

A Pulumi program sees only its own stack's configuration, so these rules run where every stack file is at hand:
the offline plan, promote and the tests (`tools/offline.py` `cross_stack_errors`). Each problem is reported on the
stack that comes later in name order, naming the other stack's file, so one run reports it once.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from components.config import DEFAULT_HOST_LABELS, NAMESPACE, ConfigError, StackConfig


def problems_between(a: StackConfig, b: StackConfig) -> list[tuple[str, Any, str]]:
    """What stack `b` gets wrong against stack `a` (key path, value, what is allowed)."""
    k = NAMESPACE + ":"
    other = f"Pulumi.{a.stack}.yaml"
    p: list[tuple[str, Any, str]] = []
    if a.dns.domain == b.dns.domain:
        p.append(
            (
                f"{k}dns.domain",
                b.dns.domain,
                f"must differ from {other}'s dns.domain: both stacks would write their records into one zone",
            )
        )
    else:
        hosts_a = {a.dns.host(service): service for service in DEFAULT_HOST_LABELS}
        for service in DEFAULT_HOST_LABELS:
            host = b.dns.host(service)
            if host in hosts_a:
                p.append(
                    (
                        f"{k}dns.hosts.{service}",
                        host,
                        f"must differ from {other}'s {hosts_a[host]} host: one DNS name cannot point at two stacks",
                    )
                )
    # Distinct address spaces keep the stacks' networks peerable (a hub, a VPN, the infra Concourse reaching both).
    space_a, space_b = (_network(cfg.network.address_space) for cfg in (a, b))
    if space_a is not None and space_b is not None and space_a.overlaps(space_b):
        p.append(
            (
                f"{k}network.addressSpace",
                b.network.address_space,
                f"must not overlap {other}'s addressSpace {a.network.address_space} (the networks could never be "
                "peered or routed to from one place)",
            )
        )
    return p


def _network(cidr: str) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(cidr, strict=False)
    except ValueError:
        return None  # the stack's own validation reports it


def errors(stacks: list[StackConfig], only: str | None = None) -> list[ConfigError]:
    """One ConfigError per stack file with cross-stack problems.

    Each pair is checked once, reported on the stack later in name order; with `only`, just the pairs that include
    that stack, reported on it (the offline plan of one stack reports that stack's problems).
    """
    ordered = sorted(stacks, key=lambda cfg: cfg.stack)
    by_file: dict[str, list[tuple[str, Any, str]]] = {}
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            if only is None:
                reference, checked = first, second
            elif only in (first.stack, second.stack):
                reference, checked = (first, second) if second.stack == only else (second, first)
            else:
                continue
            by_file.setdefault(f"Pulumi.{checked.stack}.yaml", []).extend(problems_between(reference, checked))
    return [ConfigError(file, problems) for file, problems in sorted(by_file.items()) if problems]
