"""Rules that compare stacks: mistakes no single stack file shows, such as prod reusing staging's DNS domain.

A Pulumi program sees only its own stack's configuration, so these rules run where every stack file is at hand:
the offline plan, promote and the tests (`tools/offline.py` `cross_stack_errors`). Each problem is reported on the
stack that comes later in name order, naming the other stack's file, so one run reports it once.
"""

from __future__ import annotations

import ipaddress

from components.config.loader import ConfigError
from components.config.schema import StackConfig
from components.problem import Problem


def problems_between(a: StackConfig, b: StackConfig) -> list[Problem]:
    """What stack `b` gets wrong against stack `a`."""
    other = f"Pulumi.{a.stack}.yaml"
    p: list[Problem] = []
    if a.dns.domain == b.dns.domain:
        p.append(
            Problem.at(
                "dns.domain",
                b.dns.domain,
                f"must differ from {other}'s dns.domain: both stacks would write their records into one zone",
            )
        )
    else:
        hosts_a = {host: service for service, host in a.public_hosts().items()}
        for service, host in b.public_hosts().items():
            if host in hosts_a:
                p.append(
                    Problem.at(
                        f"dns.hosts.{service}",
                        host,
                        f"must differ from {other}'s {hosts_a[host]} host: one DNS name cannot point at two stacks",
                    )
                )
    # Distinct address spaces keep the stacks' networks peerable (a hub, a VPN, the infra Concourse reaching both).
    space_a, space_b = (_network(cfg.network.address_space) for cfg in (a, b))
    if space_a is not None and space_b is not None and space_a.overlaps(space_b):
        p.append(
            Problem.at(
                "network.addressSpace",
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
    by_file: dict[str, list[Problem]] = {}
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
