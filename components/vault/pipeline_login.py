"""Vault trusts the infra pipeline's own Concourse token for the deployer login, with no Entra ID hop.

With `cdstack:vault.infraPipeline` set, the deployer login (components/vault/login.py, set up by vault_init) gains a
second JWT auth mount, `infra-concourse`: its discovery URL and bound issuer are the infra Concourse's issuer (Vault
fetches `<issuer>/.well-known/openid-configuration`, then the `jwks_uri` it names, `<issuer>/.well-known/jwks.json`:
concourse/concourse v8.1.1 atc/api/idtokenserver/openid_discovery.go), and one role, `pipeline`, that accepts only a
token whose `sub` is the `up` job of this stack (`main/cdstack//<stack>-up`, components/concourse/infra_pipeline.py) and
whose `aud` names this Vault (VAULT_AUDIENCE, not Entra's `api://AzureADTokenExchange`: a token meant for Vault cannot
be replayed at Entra ID, nor the Azure one here). It gets the one deployer policy of the stack
(vault_bootstrap.deployer_policy). Vault's JWT auth API: `auth/<mount>/config` (`oidc_discovery_url`,
`bound_issuer`), roles with `role_type=jwt`, `bound_subject`, `bound_audiences`, `user_claim`.

Concourse rotates its signing key weekly and keeps the old one published for a day
(`--signing-key-rotation-period`, `--signing-key-grace-period`): Vault re-reads the JWKS when a token names a key it
does not know, so a rotation needs nothing here. Vault's pods reach the issuer through their egress to the internet
on TCP 443 (components/network_edges.py), hence the config's https-on-443 pattern.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from components.concourse import infra_pipeline
from components.config.schema import StackConfig

MOUNT = "infra-concourse"
ROLE = "pipeline"
VAULT_AUDIENCE = "cdstack-vault"
"""The audience the infra pipeline asks for when it logs in to a stack's Vault."""


def trust(cfg: StackConfig) -> dict[str, Any] | None:
    """The `infraPipeline` part of the deployer login spec (vault_login.access_spec), or None when not configured."""
    pipeline = cfg.vault.infra_pipeline
    if pipeline is None:
        return None
    return {
        "mount": MOUNT,
        "issuer": pipeline.issuer,
        "subject": pipeline.subject or infra_pipeline.up_subject(cfg.stack),
        "audience": VAULT_AUDIENCE,
    }


def requests(spec: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any] | None]]:
    """The Vault API calls that make the mount and its role match `spec` (the deployer login spec), in order: after
    the deployer policy is written (vault_login.access_requests), so the deployer's own token may make them."""
    trusted = spec.get("infraPipeline")
    if not trusted:
        return []
    mount = trusted["mount"]
    role = {
        "role_type": "jwt",
        "user_claim": "sub",
        "bound_subject": trusted["subject"],
        "bound_audiences": [trusted["audience"]],
        "token_policies": [spec["policyName"]],
        "token_ttl": int(spec["tokenSeconds"]),
        "token_max_ttl": int(spec["tokenSeconds"]),
    }
    return [
        ("POST", f"sys/auth/{mount}", {"type": "jwt", "description": "Deployers: the infra pipeline (cdstack)"}),
        ("POST", f"auth/{mount}/config", {"oidc_discovery_url": trusted["issuer"], "bound_issuer": trusted["issuer"]}),
        ("POST", f"auth/{mount}/role/{ROLE}", role),
    ]


def deployer_rules() -> str:
    """What the deployer policy adds so that an `up` (not only the root token's first run) keeps the mount current."""
    rules = [
        (f"sys/auth/{MOUNT}", ["create", "read", "update", "delete", "sudo"]),
        (f"sys/mounts/auth/{MOUNT}", ["read"]),
        (f"sys/mounts/auth/{MOUNT}/tune", ["read", "update"]),
        (f"auth/{MOUNT}/*", ["create", "read", "update", "delete", "list"]),
    ]
    return "".join(
        f'path "{path}" {{\n  capabilities = [{", ".join(json.dumps(c) for c in caps)}]\n}}\n' for path, caps in rules
    )


def is_pipeline_token(claims: Mapping[str, Any], trusted: Mapping[str, Any] | None) -> bool:
    """Whether the deployer's token is the infra Concourse's (its `iss`), not an Entra ID access token."""
    return trusted is not None and claims.get("iss") == trusted["issuer"]


def claim_problem(claims: Mapping[str, Any], trusted: Mapping[str, Any]) -> str | None:
    """Why Vault would refuse this infra Concourse token at the `pipeline` role, said before any resource exists."""
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
    if claims.get("sub") != trusted["subject"]:
        return (
            f"the infra Concourse token is for {claims.get('sub')!r}, and this stack's Vault accepts only "
            f"{trusted['subject']!r} (cdstack:vault.infraPipeline.subject)"
        )
    if trusted["audience"] not in audiences:
        return f"the infra Concourse token's audience is {audiences}; Vault's role needs {trusted['audience']!r}"
    return None
