"""Azure Database for PostgreSQL flexible server: private, TLS only, resilient and backed up for as long as the
stack requires."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from .common import attached_to, get, known, resource_policy, schema, stack_policy

SERVER = "azure-native:dbforpostgresql:Server"
CONFIGURATION = "azure-native:dbforpostgresql:Configuration"

TLS_PARAMETERS = {"require_secure_transport": ("on",), "ssl_min_protocol_version": ("TLSv1.2", "TLSv1.3")}
"""Server parameters that make TLS 1.2+ mandatory, with the values that do."""


def check_private(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "network.publicNetworkAccess") != "Disabled":
        yield "network.publicNetworkAccess is not Disabled: the server must be reachable only inside the VNet."
    if not get(args.props, "network.delegatedSubnetResourceId"):
        yield "network.delegatedSubnetResourceId is not set: give the server a delegated subnet (private access)."


def check_resilience(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "highAvailability.mode") != "ZoneRedundant":
        yield "highAvailability.mode is not ZoneRedundant: set database.highAvailability: true."
    if get(args.props, "backup.geoRedundantBackup") != "Enabled":
        yield "backup.geoRedundantBackup is not Enabled: set database.geoRedundantBackup: true."


def check_retention(args: ResourceValidationArgs) -> Iterator[str]:
    minimum = args.get_config()["minDays"]
    days = get(args.props, "backup.backupRetentionDays")
    if not isinstance(days, int | float) or days < minimum:
        yield f"backup.backupRetentionDays is {days}; raise database.backupRetentionDays to at least {minimum}."


def check_tls(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    """Each server has the parameters that require TLS 1.2 or later, attached to it (by dependency or name)."""
    for server in (r for r in args.resources if r.resource_type == SERVER):
        parameters = {}
        for r in args.resources:
            if r.resource_type == CONFIGURATION and attached_to(r, "serverName", server, ("serverName", "name")):
                parameters[known(r.props, "configurationName") or known(r.props, "name")] = get(r.props, "value")
        for parameter, allowed in TLS_PARAMETERS.items():
            if parameters.get(parameter) not in allowed:
                yield (
                    f"server parameter {parameter} is {parameters.get(parameter)!r}; set it to one of {list(allowed)}.",
                    server.urn,
                )


POLICIES = [
    resource_policy(
        "postgres-private-access",
        "PostgreSQL has no public endpoint: private access through a delegated subnet, publicNetworkAccess Disabled.",
        [SERVER],
        check_private,
    ),
    stack_policy(
        "postgres-tls-required",
        "PostgreSQL accepts only TLS 1.2 or later: set the server parameters require_secure_transport=on and "
        "ssl_min_protocol_version=TLSv1.2 (components/azure/database.py SERVER_PARAMETERS).",
        check_tls,
    ),
    resource_policy(
        "postgres-ha-geo-backup",
        "PostgreSQL survives a zone and a region loss: zone-redundant HA and geo-redundant backups "
        "(database.highAvailability, database.geoRedundantBackup).",
        [SERVER],
        check_resilience,
    ),
    resource_policy(
        "postgres-backup-retention",
        "PostgreSQL keeps backups at least as long as this stack requires: raise database.backupRetentionDays to "
        "the policy config's minDays.",
        [SERVER],
        check_retention,
        config=schema(
            minDays={"type": "integer", "minimum": 7, "maximum": 35, "default": 35, "description": "fewest backup days"}
        ),
    ),
]
