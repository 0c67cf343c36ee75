"""Where a stack is reached: its address plan (virtual network, subnets, the overlay's pod and service ranges, the
cluster DNS address), the ranges allowed to reach the API server, and its public host names; and the rules that keep
them consistent before Azure or AKS refuses them halfway through a `pulumi up`.

Azure CNI overlay (learn.microsoft.com/azure/aks/azure-cni-overlay): nodes take addresses from the AKS subnet, pods
and services from ranges outside the virtual network, and the two overlay ranges must not overlap each other.
"""

from __future__ import annotations

import ipaddress

from components.config.schema import StackConfig
from components.problem import Problem

RANGES = {
    "addressSpace": "address_space",
    "aksSubnet": "aks_subnet",
    "postgresSubnet": "postgres_subnet",
    "podCidr": "pod_cidr",
    "serviceCidr": "service_cidr",
}
"""The network section's ranges, by their key in the stack file."""

SMALLEST_POSTGRES_SUBNET = 28
"""A PostgreSQL flexible server's delegated subnet must be a /28 or larger (Azure: networking with private access)."""

WIDEST_PRODUCTION_API_RANGE = 8
"""The widest range production may open the API server to: anything wider is most of the internet."""


def _network(cidr: str) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(cidr, strict=True)
    except ValueError:
        return None


def _ranges(cfg: StackConfig) -> dict[str, ipaddress.IPv4Network] | None:
    """The network section's ranges by key, or None when one is invalid (cidr_problems reports it)."""
    parsed = {key: _network(getattr(cfg.network, field)) for key, field in RANGES.items()}
    return {key: net for key, net in parsed.items() if net is not None} if all(parsed.values()) else None


def cidr_problems(cfg: StackConfig) -> list[Problem]:
    """Each range is an IPv4 network written with its host bits zero, as Azure stores it."""
    found = []
    for key, field in RANGES.items():
        value = getattr(cfg.network, field)
        try:
            ipaddress.IPv4Network(value, strict=True)
        except ValueError as error:
            found.append(Problem.at(f"network.{key}", value, f"must be an IPv4 network in CIDR notation ({error})"))
    return found


def subnet_problems(cfg: StackConfig) -> list[Problem]:
    """Both subnets lie inside the virtual network, apart, and PostgreSQL's is large enough to delegate."""
    nets = _ranges(cfg)
    if nets is None:
        return []
    vnet, net = nets["addressSpace"], cfg.network
    found = [
        Problem.at(f"network.{key}", str(nets[key]), f"must lie inside addressSpace {vnet}")
        for key in ("aksSubnet", "postgresSubnet")
        if not nets[key].subnet_of(vnet)
    ]
    if nets["aksSubnet"].overlaps(nets["postgresSubnet"]):
        found.append(
            Problem.at("network.postgresSubnet", net.postgres_subnet, f"must not overlap aksSubnet {net.aks_subnet}")
        )
    if nets["postgresSubnet"].prefixlen > SMALLEST_POSTGRES_SUBNET:
        found.append(
            Problem.at(
                "network.postgresSubnet", net.postgres_subnet, f"must be a /{SMALLEST_POSTGRES_SUBNET} or larger"
            )
        )
    return found


def overlay_problems(cfg: StackConfig) -> list[Problem]:
    """The overlay's pod and service ranges lie outside the virtual network and apart from each other."""
    nets = _ranges(cfg)
    if nets is None:
        return []
    vnet = nets["addressSpace"]
    found = [
        Problem.at(f"network.{key}", str(nets[key]), f"must not overlap addressSpace {vnet}")
        for key in ("podCidr", "serviceCidr")
        if nets[key].overlaps(vnet)
    ]
    if nets["podCidr"].overlaps(nets["serviceCidr"]):
        net = cfg.network
        found.append(Problem.at("network.serviceCidr", net.service_cidr, f"must not overlap podCidr {net.pod_cidr}"))
    return found


def dns_service_ip_problems(cfg: StackConfig) -> list[Problem]:
    """The cluster DNS service's address is an address of the service range."""
    net = cfg.network
    service_cidr = _network(net.service_cidr)
    if service_cidr is None:
        return []
    try:
        address = ipaddress.IPv4Address(net.dns_service_ip)
    except ValueError:
        return [Problem.at("network.dnsServiceIp", net.dns_service_ip, "must be an IPv4 address")]
    if address not in service_cidr:
        return [
            Problem.at("network.dnsServiceIp", net.dns_service_ip, f"must lie inside serviceCidr {net.service_cidr}")
        ]
    return []


def api_range_problems(cfg: StackConfig) -> list[Problem]:
    """Each range allowed to reach the API server is an IPv4 network; in production, a narrow one."""
    found = []
    for i, cidr in enumerate(cfg.cluster.api_authorized_ranges):
        key = f"cluster.apiAuthorizedRanges[{i}]"
        try:
            network = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError as error:
            found.append(Problem.at(key, cidr, f"must be an IPv4 network in CIDR notation ({error})"))
            continue
        if cfg.production and network.prefixlen < WIDEST_PRODUCTION_API_RANGE:
            found.append(
                Problem.at(
                    key,
                    cidr,
                    f"opens the API server to most of the internet; production allows /{WIDEST_PRODUCTION_API_RANGE} "
                    "or narrower (an office egress, the infra Concourse's NAT)",
                )
            )
    return found


def host_problems(cfg: StackConfig) -> list[Problem]:
    """Every public host lives under the stack's domain (its certificates and records do), and each is distinct."""
    found = []
    seen: dict[str, str] = {}
    for service, host in cfg.public_hosts().items():
        if not host.endswith("." + cfg.dns.domain):
            found.append(Problem.at(f"dns.hosts.{service}", host, f"must be a name under the domain {cfg.dns.domain}"))
        if host in seen:
            found.append(Problem.at(f"dns.hosts.{service}", host, f"must differ from the {seen[host]} host"))
        seen[host] = service
    return found
