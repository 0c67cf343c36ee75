"""Concourse's PostgreSQL: a flexible server reachable only inside the VNet, TLS required, backed up, HA in prod."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import pulumi
import pulumi_random as random
from pulumi_azure_native import dbforpostgresql

from components.azure.network import Network
from components.config.schema import StackConfig
from components.endpoints import DatabaseEndpoint
from components.tags import common_tags

CA_BUNDLE_FILE = Path(__file__).resolve().parents[2] / "data" / "azure-postgres-ca.pem"
"""The public roots flexible servers chain to (see the file's header); shipped, never downloaded at run time."""

DATABASE = "concourse"
PORT = 5432

SERVER_PARAMETERS = {
    "require_secure_transport": "on",
    # TLS 1.0/1.1 are broken; Concourse's Go driver speaks 1.2 and 1.3.
    "ssl_min_protocol_version": "TLSv1.2",
}
"""Server parameters set on top of Azure's defaults, applied in this order."""


def ca_bundle() -> str:
    return CA_BUNDLE_FILE.read_text()


def enabled(flag: bool) -> str:
    return "Enabled" if flag else "Disabled"


class ServerArgs(TypedDict):
    """The flexible server's keyword arguments that come from the configuration and the network."""

    server_name: str
    location: str
    version: str
    sku: dbforpostgresql.SkuArgsDict
    storage: dbforpostgresql.StorageArgsDict
    backup: dbforpostgresql.BackupArgsDict
    high_availability: dbforpostgresql.HighAvailabilityArgsDict
    network: dbforpostgresql.NetworkArgsDict
    auth_config: dbforpostgresql.AuthConfigArgsDict
    administrator_login: str
    create_mode: str
    tags: dict[str, str]


def flexible_server(cfg: StackConfig, subnet_id: pulumi.Input[str], dns_zone_id: pulumi.Input[str]) -> ServerArgs:
    """Private access only (the delegated subnet, names in the private zone), password login for Concourse, the
    configured size, backups and zone-redundant HA."""
    db = cfg.database
    return {
        "server_name": cfg.naming.postgres_server(),
        "location": cfg.location,
        "version": db.version,
        "sku": {"name": db.sku_name, "tier": db.sku_tier},
        "storage": {"storage_size_gb": db.storage_gb, "auto_grow": enabled(db.storage_auto_grow)},
        "backup": {
            "backup_retention_days": db.backup_retention_days,
            "geo_redundant_backup": enabled(db.geo_redundant_backup),
        },
        # The SDK's args classes fill in `""` for an unset standby zone and tenant; the dicts keep what they sent.
        "high_availability": {
            "mode": "ZoneRedundant" if db.high_availability else "Disabled",
            "standby_availability_zone": "",
        },
        "network": {
            "delegated_subnet_resource_id": subnet_id,
            "private_dns_zone_arm_resource_id": dns_zone_id,
            "public_network_access": "Disabled",
        },
        "auth_config": {"password_auth": "Enabled", "active_directory_auth": "Disabled", "tenant_id": ""},
        "administrator_login": db.admin_login,
        "create_mode": "Default",
        "tags": common_tags(cfg),
    }


class Database(pulumi.ComponentResource):
    server_name: pulumi.Output[str]
    server_id: pulumi.Output[str]
    endpoint: DatabaseEndpoint

    def __init__(self, name: str, cfg: StackConfig, net: Network, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cdstack:azure:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # Generated, kept in the state as a secret; it reaches only the server and Concourse's Kubernetes Secret.
        # No `%`, `@`, `/` or `:` so it never needs escaping inside a connection URI.
        password = random.RandomPassword(
            "postgres-admin-password",
            length=40,
            special=True,
            override_special="-_.~",
            min_lower=4,
            min_upper=4,
            min_numeric=4,
            opts=child,
        )

        server = dbforpostgresql.Server(
            "postgres",
            resource_group_name=net.resource_group_name,
            **flexible_server(cfg, net.postgres_subnet_id, net.postgres_dns_zone_id),
            administrator_login_password=pulumi.Output.secret(password.result),
            # Private access needs the zone linked to the VNet before the server registers its name in it; the zone
            # id alone does not carry that ordering.
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.production, depends_on=[net.postgres_dns_link]),
        )

        database = dbforpostgresql.Database(
            "concourse-database",
            database_name=DATABASE,
            server_name=server.name,
            resource_group_name=net.resource_group_name,
            charset="UTF8",
            collation="en_US.utf8",
            opts=child,
        )
        # A flexible server takes one change at a time: a parameter (or database) update while another is running
        # fails with ServerBusy, so each waits for the one before.
        previous: pulumi.Resource = database
        for parameter, value in SERVER_PARAMETERS.items():
            previous = dbforpostgresql.Configuration(
                parameter.replace("_", "-"),
                configuration_name=parameter,
                server_name=server.name,
                resource_group_name=net.resource_group_name,
                value=value,
                source="user-override",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[previous]),
            )

        self.server_name = server.name
        self.server_id = server.id  # what Azure Monitor's metrics are read by (services/database_metrics.py)
        self.endpoint = DatabaseEndpoint(
            # Clients get the host once the `concourse` database exists. Not after the TLS parameters: they pin what
            # a new flexible server already enforces (TLS required, 1.0/1.1 refused; Microsoft Learn, "Encrypted
            # connectivity using TLS" for flexible server), so Concourse installs while they are applied, a minute
            # earlier on every first `up`, and connects with TLS either way.
            host=pulumi.Output.all(server.fully_qualified_domain_name, database.id).apply(lambda values: values[0]),
            port=PORT,
            database=DATABASE,
            user=pulumi.Output.from_input(cfg.database.admin_login),
            password=pulumi.Output.secret(password.result),
            ca_bundle=ca_bundle(),
        )
        self.register_outputs({"serverName": self.server_name, "host": self.endpoint.host})
