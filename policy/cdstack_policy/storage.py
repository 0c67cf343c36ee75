"""Storage accounts: encrypted transport, nothing anonymous, account keys only where a client cannot do without,
and versioning plus soft delete where backups or state live."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from .common import attached_to, get, known, resource_policy, schema, stack_policy

ACCOUNT = "azure-native:storage:StorageAccount"
CONTAINER = "azure-native:storage:BlobContainer"
BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"

TLS_VERSIONS = ("TLS1_2", "TLS1_3")


def account_name(props: object) -> str:
    return str(known(props, "accountName") or known(props, "name") or "")


def check_transport(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "enableHttpsTrafficOnly") is False:
        yield "enableHttpsTrafficOnly is false: the account must refuse plain HTTP."
    if get(args.props, "minimumTlsVersion") not in TLS_VERSIONS:
        yield f"minimumTlsVersion is {get(args.props, 'minimumTlsVersion')!r}; set TLS1_2."


def check_anonymous(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == ACCOUNT and get(args.props, "allowBlobPublicAccess") is not False:
        yield "allowBlobPublicAccess is not false: no container of the account may allow anonymous reads."
    if args.resource_type == CONTAINER and get(args.props, "publicAccess", "None") != "None":
        yield f"publicAccess is {get(args.props, 'publicAccess')!r}; set None."


def check_shared_key(args: ResourceValidationArgs) -> Iterator[str]:
    allowed = args.get_config()["accountsNeedingKeys"]
    name = account_name(args.props)
    if get(args.props, "allowSharedKeyAccess") is not False and name not in allowed:
        yield (
            f"account {name!r} allows shared-key access; set allowSharedKeyAccess false, or list the account in "
            "accountsNeedingKeys with the client that needs it."
        )


def check_data_protection(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    """Each account listed as holding backups or state has blob versioning and blob and container soft delete."""
    minimum = args.get_config()["minRetentionDays"]
    data_accounts = args.get_config()["dataAccounts"]
    for account in (r for r in args.resources if r.resource_type == ACCOUNT):
        name = account_name(account.props)
        if name not in data_accounts:
            continue
        services = [
            r
            for r in args.resources
            if r.resource_type == BLOB_SERVICE and attached_to(r, "accountName", account, ("accountName", "name"))
        ]
        if not services:
            yield f"account {name!r} holds backups or state but has no BlobServiceProperties.", account.urn
            continue
        props = services[0].props
        if get(props, "isVersioningEnabled") is not True:
            yield f"account {name!r}: set isVersioningEnabled true so overwritten blobs stay recoverable.", account.urn
        for policy in ("deleteRetentionPolicy", "containerDeleteRetentionPolicy"):
            days = get(props, f"{policy}.days", 0)
            if get(props, f"{policy}.enabled") is not True or days < minimum:
                yield f"account {name!r}: enable {policy} for at least {minimum} days.", account.urn


POLICIES = [
    resource_policy(
        "storage-secure-transport",
        "Storage accounts accept only HTTPS with TLS 1.2 or later: enableHttpsTrafficOnly true, minimumTlsVersion "
        "TLS1_2.",
        [ACCOUNT],
        check_transport,
    ),
    resource_policy(
        "storage-no-anonymous-access",
        "Storage allows no anonymous blob access: allowBlobPublicAccess false, every container's publicAccess None.",
        [ACCOUNT, CONTAINER],
        check_anonymous,
    ),
    resource_policy(
        "storage-shared-key-access",
        "Storage accounts authenticate with Entra ID, not account keys: set allowSharedKeyAccess false unless the "
        "stack's policy config lists the account in accountsNeedingKeys.",
        [ACCOUNT],
        check_shared_key,
        config=schema(
            accountsNeedingKeys={
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "accounts whose client authenticates only with an account key",
            }
        ),
    ),
    stack_policy(
        "storage-data-protection",
        "Storage accounts that hold backups or state keep overwritten and deleted blobs: blob versioning, blob and "
        "container soft delete (a BlobServiceProperties for the account).",
        check_data_protection,
        config=schema(
            dataAccounts={
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "accounts that hold backups or state",
            },
            minRetentionDays={"type": "integer", "minimum": 1, "default": 7, "description": "fewest soft-delete days"},
        ),
    ),
]
