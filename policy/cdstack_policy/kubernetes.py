"""Kubernetes Secrets: their data comes from something that generates it, never from a literal.

A Python policy pack sees Pulumi secrets unwrapped (see common.py), so a value cannot tell whether it was secret.
Where it came from can: the engine records, per property, the resources a value was computed from. A Secret's data
must depend on a generator (a random password, a private key, an Entra ID password, a Vault secret id, a storage
account's keys), or the Secret's name is listed in the stack's policy config as fed only by `pulumi config set --secret`
values (which are Pulumi secrets but have no resource to depend on).
"""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import StackValidationArgs

from .common import known, schema, stack_policy

SECRET = "kubernetes:core/v1:Secret"

GENERATORS = [
    "random:index/randomPassword:RandomPassword",
    "tls:index/privateKey:PrivateKey",
    "azuread:index/applicationPassword:ApplicationPassword",
    "vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId",
    "azure-native:storage:StorageAccount",
]


def secret_id(props: object) -> str:
    """namespace/name (the namespace is often another resource's output, unknown during a first preview)."""
    return f"{known(props, 'metadata.namespace', '(namespace)')}/{known(props, 'metadata.name')}"


def check_secret_data(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    generators = args.get_config()["generatorTypes"]
    config_fed = args.get_config()["configSecretFed"]
    for secret in (r for r in args.resources if r.resource_type == SECRET):
        sources = [
            dep.resource_type for key in ("data", "stringData") for dep in secret.property_dependencies.get(key, [])
        ]
        if known(secret.props, "metadata.name") in config_fed or any(source in generators for source in sources):
            continue
        yield (
            f"Secret {secret_id(secret.props)}: its data depends on no generated value, so it is a literal; generate "
            "it (random.RandomPassword, tls.PrivateKey) or, for a value only a person has, read it with "
            "config.require_secret and list the Secret's name in configSecretFed.",
            secret.urn,
        )


POLICIES = [
    stack_policy(
        "kubernetes-secret-data-generated",
        "Kubernetes Secrets hold generated values or Pulumi config secrets, never a literal written in code or a "
        "stack file.",
        check_secret_data,
        config=schema(
            generatorTypes={
                "type": "array",
                "items": {"type": "string"},
                "default": GENERATORS,
                "description": "resource types whose outputs are generated secrets",
            },
            configSecretFed={
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "names of Secrets fed only by `pulumi config set --secret` values",
            },
        ),
    ),
]
