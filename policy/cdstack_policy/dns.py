"""Certificates and names: a stack never serves another stack's DNS names, and a production stack never uses the
Let's Encrypt staging environment (its certificates are untrusted by browsers and by the pipeline's tools)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs

from .common import get, resource_policy, schema, strings

ISSUERS = ["kubernetes:cert-manager.io/v1:ClusterIssuer", "kubernetes:cert-manager.io/v1:Issuer"]
RECORD_SET = "azure-native:dns:RecordSet"

LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
HOSTNAME = re.compile(r"(?<![a-z0-9.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}(?![a-z0-9-])")


def check_issuer(args: ResourceValidationArgs) -> Iterator[str]:
    allowed = args.get_config()["acmeServers"]
    server = get(args.props, "spec.acme.server")
    if server is not None and server not in allowed:
        yield f"ACME server {server} is not allowed in this stack; use one of {allowed} (tls.acmeEnvironment)."


def owner(host: str, own: list[str], forbidden: list[str]) -> str | None:
    """The most specific of the stack's own or forbidden domains that `host` is in: a forbidden one, or None."""
    matches = [(d, d in forbidden) for d in [*own, *forbidden] if host == d or host.endswith("." + d)]
    if not matches:
        return None
    domain, is_forbidden = max(matches, key=lambda m: len(m[0]))
    return domain if is_forbidden else None


def hostnames(args: ResourceValidationArgs) -> Iterator[tuple[str, str]]:
    for path, value in strings(args.props):
        for host in HOSTNAME.findall(value.lower()):
            yield path, host
    if args.resource_type == RECORD_SET:
        zone, relative = get(args.props, "zoneName"), get(args.props, "relativeRecordSetName")
        if isinstance(zone, str) and isinstance(relative, str):
            yield "relativeRecordSetName", zone.lower() if relative == "@" else f"{relative}.{zone}".lower()


TRUSTED_ISSUER_PATH = "access.infraPipeline.issuer"
"""Vault's deployer login names the infra stack's Concourse on purpose: the issuer whose pipeline deploys this stack
(components/vault/pipeline_login.py, read from the infra stack's outputs). Trusting it serves nothing of its."""


def check_names(args: ResourceValidationArgs) -> Iterator[str]:
    config = args.get_config()
    for path, host in hostnames(args):
        if path == TRUSTED_ISSUER_PATH:
            continue
        domain = owner(host, config["ownDomains"], config["forbiddenDomains"])
        if domain:
            yield f"{path} names {host}, which belongs to another stack ({domain}); use this stack's dns.domain."


POLICIES = [
    resource_policy(
        "acme-issuer-for-stack",
        "cert-manager issuers use only this stack's allowed ACME servers: never the Let's Encrypt staging environment "
        "in a production stack (tls.acmeEnvironment).",
        ISSUERS,
        check_issuer,
        config=schema(
            acmeServers={
                "type": "array",
                "items": {"type": "string"},
                "default": [LETS_ENCRYPT_PRODUCTION],
                "description": "ACME directory URLs this stack's issuers may use",
            }
        ),
    ),
    resource_policy(
        "dns-names-own-stack",
        "No resource names a host in another stack's DNS domain: use this stack's dns.domain.",
        [],
        check_names,
        config=schema(
            ownDomains={
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "this stack's DNS domains",
            },
            forbiddenDomains={
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "other stacks' DNS domains (a more specific own domain inside one wins)",
            },
        ),
    ),
]
