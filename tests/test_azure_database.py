"""PostgreSQL under the mock engine, for both stacks: the flexible server follows the configuration, its
parameters apply one at a time, the endpoint is typed with a secret password, and the shipped CA roots."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from components.azure import database
from tests.azure_plans import SERVER, STACKS, plain, settings, urn
from tools import offline


@pytest.mark.parametrize("stack", STACKS)
def test_flexible_server_follows_the_configuration(azure_plans: dict[str, offline.Plan], stack: str):
    db = settings(stack).database
    server = azure_plans[stack].get(SERVER, "postgres")
    i = server.inputs
    assert i["serverName"] == f"psql-contoso-{stack}"
    assert i["version"] == db.version
    assert i["sku"] == {"name": db.sku_name, "tier": db.sku_tier}
    assert i["storage"] == {"storageSizeGB": db.storage_gb, "autoGrow": "Enabled"}
    assert i["backup"] == {
        "backupRetentionDays": db.backup_retention_days,
        "geoRedundantBackup": "Enabled" if db.geo_redundant_backup else "Disabled",
    }
    assert i["highAvailability"]["mode"] == ("ZoneRedundant" if db.high_availability else "Disabled")
    assert i["network"] == {
        "delegatedSubnetResourceId": "/offline/azure-native/network/Subnet/postgres-subnet",
        "privateDnsZoneArmResourceId": "/offline/azure-native/privatedns/PrivateZone/postgres-dns-zone",
        "publicNetworkAccess": "Disabled",
    }
    assert i["administratorLogin"] == db.admin_login
    assert i["administratorLoginPassword"] == offline.SECRET
    link = urn(azure_plans[stack], "azure-native:privatedns:VirtualNetworkLink", "postgres-dns-link")
    assert link in server.dependencies


def test_prod_database_is_zone_redundant_and_geo_backed_up(azure_plans: dict[str, offline.Plan]):
    prod = azure_plans["prod"].get(SERVER, "postgres").inputs
    staging = azure_plans["staging"].get(SERVER, "postgres").inputs
    assert (prod["highAvailability"]["mode"], prod["backup"]["geoRedundantBackup"]) == ("ZoneRedundant", "Enabled")
    assert (staging["highAvailability"]["mode"], staging["backup"]["geoRedundantBackup"]) == ("Disabled", "Disabled")


@pytest.mark.parametrize("stack", STACKS)
def test_server_parameters_are_applied_one_after_another(azure_plans: dict[str, offline.Plan], stack: str):
    plan = azure_plans[stack]
    parameters = plan.by_type("azure-native:dbforpostgresql:Configuration")
    assert {p.inputs["configurationName"]: p.inputs["value"] for p in parameters} == database.SERVER_PARAMETERS
    assert database.SERVER_PARAMETERS["require_secure_transport"] == "on"
    chain = [urn(plan, "azure-native:dbforpostgresql:Database", "concourse-database")] + [p.urn for p in parameters]
    for before, parameter in zip(chain, parameters, strict=False):
        assert before in parameter.dependencies
    # No two changes ever run on the server at once: each parameter waits on every one before it.
    for i, parameter in enumerate(parameters):
        later = {p.urn for p in parameters[i + 1 :]}
        assert not later & set(parameter.dependencies)


@pytest.mark.parametrize("stack", STACKS)
def test_database_endpoint_is_typed_and_its_password_secret(azure_plans: dict[str, offline.Plan], stack: str):
    plan = azure_plans[stack]
    assert plan.get("azure-native:dbforpostgresql:Database", "concourse-database").inputs["databaseName"] == "concourse"
    out = plan.outputs
    assert out["db.host"] == f"psql-contoso-{stack}.postgres.database.azure.com"
    assert (out["db.port"], out["db.database"], out["db.user"]) == (5432, "concourse", "concourseadmin")
    assert out["db.password"] == offline.SECRET
    assert out["db.caBundle"] == database.ca_bundle()
    assert "offline-plan-password" not in str([r.inputs for r in plan.registrations]) + str(out)


def test_ca_bundle_holds_exactly_the_three_roots_azure_documents():
    context = ssl.create_default_context(cafile=str(database.CA_BUNDLE_FILE))
    certs: list[Any] = context.get_ca_certs()
    subjects = {dict(part[0] for part in cert["subject"])["commonName"] for cert in certs}
    assert subjects == {
        "DigiCert Global Root CA",
        "DigiCert Global Root G2",
        "Microsoft RSA Root Certificate Authority 2017",
    }
    assert all(cert["issuer"] == cert["subject"] for cert in certs)  # roots, no intermediates


# ---------------------------------------------------------------------------------------------------------------------
# The pure builder, without the mock engine


def test_flexible_server_is_reachable_only_through_the_delegated_subnet_and_private_zone():
    server = database.flexible_server(settings("staging"), "/subnets/postgres", "/zones/postgres")
    assert server["network"] == {
        "delegated_subnet_resource_id": "/subnets/postgres",
        "private_dns_zone_arm_resource_id": "/zones/postgres",
        "public_network_access": "Disabled",
    }
    auth = plain(server["auth_config"])
    assert (auth["password_auth"], auth["active_directory_auth"]) == ("Enabled", "Disabled")
    assert server["server_name"] == "psql-contoso-staging"


@pytest.mark.parametrize("flag", [True, False])
def test_flexible_server_maps_the_database_switches_to_azures_words(flag: bool):
    cfg = settings(
        "prod",
        database={"highAvailability": flag, "geoRedundantBackup": flag, "storageAutoGrow": flag, "storageGb": 256},
    )
    server = database.flexible_server(cfg, "subnet", "zone")
    word = "Enabled" if flag else "Disabled"
    assert plain(server["high_availability"])["mode"] == ("ZoneRedundant" if flag else "Disabled")
    assert server["backup"] == {
        "backup_retention_days": cfg.database.backup_retention_days,
        "geo_redundant_backup": word,
    }
    assert server["storage"] == {"storage_size_gb": 256, "auto_grow": word}
    assert server["sku"] == {"name": cfg.database.sku_name, "tier": cfg.database.sku_tier}
