"""Vault trusts the infra pipeline's own Concourse token for the deployer login, with no Entra ID hop.

With `cdstack:infraStack` set, the deployer login (components/vault/login.py, set up by vault_init) gains a
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
does not know, so a rotation needs nothing here.

One source of truth: the issuer and the subject are the infra stack's outputs (`concourseIssuer`, `pipelineSubjects`,
components/infra_pipeline.trust_outputs, computed from its own configuration by the same functions its deployer
identities' federated credentials use), read through a StackReference, never typed a second time here. Vault's pods
reach the issuer through their egress to the internet on TCP 443 (components/network_edges.py); the issuer is
https on 443 (idtoken.external_url).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

import pulumi

from components.concourse import infra_pipeline
from components.config.schema import StackConfig

MOUNT = "infra-concourse"
ROLE = "pipeline"
VAULT_AUDIENCE = "cdstack-vault"
"""The audience the infra pipeline asks for when it logs in to a stack's Vault."""


class InfraStackError(Exception):
    """The infra stack's outputs do not name this stack's `up` job: it does not deploy this stack (yet)."""


def trust_from(issuer: str, subject: str) -> dict[str, Any]:
    """The `infraPipeline` part of the deployer login spec (vault_login.access_spec)."""
    return {"mount": MOUNT, "issuer": issuer, "subject": subject, "audience": VAULT_AUDIENCE}


def trust_of(cfg: StackConfig, outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The trust, from the infra stack's outputs: its issuer and the subject it lists for this stack's `up` job."""
    issuer = outputs.get(infra_pipeline.ISSUER_OUTPUT)
    job = infra_pipeline.up_job(cfg.stack)
    subject = (outputs.get(infra_pipeline.SUBJECTS_OUTPUT) or {}).get(cfg.stack, {}).get(job)
    if not issuer or not subject:
        raise InfraStackError(
            f"cdstack:infraStack {cfg.infra_stack} exports no issuer or no subject for the job {job}: list "
            f"{cfg.stack!r} under its cdstack:deployers and run its `pulumi up` first (docs/first-deployment.md)"
        )
    return trust_from(issuer, subject)


class InfraTrust(NamedTuple):
    reference: pulumi.StackReference
    """The read of the infra stack's outputs: what a gate on the trust resolves to (a resource, for depends_on)."""
    trust: pulumi.Output[dict[str, Any]]


def trust(cfg: StackConfig) -> InfraTrust | None:
    """The trust as the infra stack's outputs say, or None without `cdstack:infraStack`. Reads a StackReference:
    call it once per program (components/program.py) and hand it on."""
    if cfg.infra_stack is None:
        return None
    infra = pulumi.StackReference(cfg.infra_stack)
    outputs = pulumi.Output.all(
        infra.get_output(infra_pipeline.ISSUER_OUTPUT), infra.get_output(infra_pipeline.SUBJECTS_OUTPUT)
    )
    return InfraTrust(
        infra,
        outputs.apply(
            lambda values: trust_of(
                cfg, {infra_pipeline.ISSUER_OUTPUT: values[0], infra_pipeline.SUBJECTS_OUTPUT: values[1]}
            )
        ),
    )


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
            f"{trusted['subject']!r} (the infra stack's pipelineSubjects output)"
        )
    if trusted["audience"] not in audiences:
        return f"the infra Concourse token's audience is {audiences}; Vault's role needs {trusted['audience']!r}"
    return None
