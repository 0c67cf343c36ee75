"""How whoever runs `pulumi up` logs in to the in-cluster Vault: Vault's JWT auth, trusting Entra ID tokens.

Why JWT with Entra ID: every deployer already holds an Entra ID login for Azure (`az login` on a laptop, the pipeline's
service principal), so Vault needs no secret of its own for them: no long-lived Vault token, approle secret id or
password to store, rotate or leak. The deployer's Azure Resource Manager access token (the one `az login` can always
issue, without an app registration or consent; `tools/deployer_token.py` asks azure-identity for it) is what
pulumi-vault logs in with (`auth_login_jwt`). Vault checks the signature against Entra ID's published keys (OIDC
discovery on the tenant's v1 issuer `https://sts.windows.net/<tenant>/`, which is the `iss` of ARM tokens), the issuer,
the audience (ARM) and one bound claim per role:

- role `admins`: the token's `groups` claim contains `identity.adminGroup`'s object id (people on laptops);
- role `pipeline`: the token's `oid` is one of `vault.deployerObjectIds` (the infra pipeline's service principal).

Both get the `cdstack-deployer` policy: exactly what this program manages in Vault, nothing else. Upstream shapes:
Vault's JWT auth API (website/content/api-docs/auth/jwt.mdx: `auth/<mount>/config` with `oidc_discovery_url` and
`bound_issuer`; roles with `role_type=jwt`, `bound_audiences`, `bound_claims`, `user_claim`).

Where the token comes from: the environment of the `pulumi` command, `TERRAFORM_VAULT_AUTH_JWT`, which the Vault
provider reads itself when its `auth_login_jwt` block names no `jwt` (terraform-provider-vault v5.4.0 to v5.11.0, which
covers the one pulumi-vault 7.14.0 bundles: internal/consts/consts.go `EnvVarVaultAuthJWT`, read in
internal/provider/auth_jwt.go `AuthLoginJWT.Init` through `setDefaultFields` when meta.go's `setClient` first needs a
client, that is at the provider's first Vault call). Provider plugins are children of the Pulumi CLI, not of this
program, so the variable must be exported before `pulumi` starts (`tools/deployer_token.py` prints it). A token given as
the provider's input instead would rest in the state (an hour-long ARM token), make every `up` and preview show a
provider change, and break `destroy` and `refresh`, which configure providers from the state with the long-expired
token. This program reads the same variable, to choose the role from its claims and to stop early with a clear message
when it is missing, expired, or a service principal's that `vault.deployerObjectIds` does not list.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pulumi

from components.problem import Problem
from components.vault import pipeline_login as vault_pipeline_login

ENTRA_MOUNT = "entra"
DEPLOYER_POLICY = "cdstack-deployer"
ADMINS_ROLE = "admins"
TEAMS_MOUNT = "oidc"
"""People's OIDC login on Entra ID (components/vault/teams.py): the path the CLI's `-method=oidc` and the UI use."""
TEAM_POLICY_PREFIX = "cdstack-team-"
SECRETS_ADMIN_POLICY = "cdstack-secrets-admin"
PIPELINE_ROLE = "pipeline"
ARM_SCOPE = "https://management.azure.com/.default"
# An ARM token's `aud` is the resource it was requested for: azure-identity asks for management.azure.com, `az
# account get-access-token` (no --resource) for management.core.windows.net/. Both are ARM; accept both.
ARM_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net/")


def issuer(tenant_id: str) -> str:
    """The `iss` of Entra ID v1 access tokens (ARM tokens are v1), also the OIDC discovery base Vault fetches."""
    return f"https://sts.windows.net/{tenant_id}/"


def deployer_policy(kv_mount: str, concourse_policy: str, audit_path: str) -> str:
    """What `pulumi up` does in Vault: Concourse's KV mount and its secrets, Concourse's policy, the approle auth
    method and its roles, the audit device at `audit_path`, and this login itself (so a change of admin group or
    pipeline principal is an update)."""
    rules = [
        ("sys/mounts", ["read"]),
        (f"sys/mounts/{kv_mount}", ["create", "read", "update", "delete", "sudo"]),
        (f"sys/mounts/{kv_mount}/tune", ["read", "update"]),
        (f"{kv_mount}/*", ["create", "read", "update", "delete", "list"]),
        ("sys/auth", ["read", "sudo"]),
        ("sys/auth/approle", ["create", "read", "update", "delete", "sudo"]),
        # The provider reads an auth method and its tuning through sys/mounts/auth/<path>, which needs no sudo
        # (terraform-provider-vault's authBackendRead; hashicorp/vault api GetAuth and MountConfig).
        ("sys/mounts/auth/approle", ["read"]),
        ("sys/mounts/auth/approle/tune", ["read", "update"]),
        ("auth/approle/*", ["create", "read", "update", "delete", "list"]),
        (f"sys/policies/acl/{concourse_policy}", ["create", "read", "update", "delete"]),
        (f"sys/policies/acl/{DEPLOYER_POLICY}", ["read", "update"]),
        (f"auth/{ENTRA_MOUNT}/*", ["create", "read", "update", "delete", "list"]),
        # The teams' OIDC login (vault/teams.py): its auth method (read and tuned through sys/mounts/auth/, as
        # above), roles and policies.
        (f"sys/auth/{TEAMS_MOUNT}", ["create", "read", "update", "delete", "sudo"]),
        (f"sys/mounts/auth/{TEAMS_MOUNT}", ["read"]),
        (f"sys/mounts/auth/{TEAMS_MOUNT}/tune", ["read", "update"]),
        (f"auth/{TEAMS_MOUNT}/*", ["create", "read", "update", "delete", "list"]),
        (f"sys/policies/acl/{TEAM_POLICY_PREFIX}*", ["create", "read", "update", "delete"]),
        (f"sys/policies/acl/{SECRETS_ADMIN_POLICY}", ["create", "read", "update", "delete"]),
        # The audit device (vault_access.audit_device): listing and enabling audit devices both need sudo.
        ("sys/audit", ["read", "sudo"]),
        (f"sys/audit/{audit_path}", ["create", "read", "update", "delete", "sudo"]),
        # pulumi-vault works with a short-lived child token of the login token.
        ("auth/token/create", ["create", "update"]),
        ("auth/token/lookup-self", ["read"]),
        ("auth/token/revoke-self", ["update"]),
    ]
    return "\n".join(
        f'path "{path}" {{\n  capabilities = [{", ".join(json.dumps(c) for c in caps)}]\n}}\n' for path, caps in rules
    )


def access_spec(
    tenant_id: str,
    admin_group_id: str,
    deployer_object_ids: Sequence[str],
    policy: str,
    token_seconds: int,
    infra_pipeline: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The deployer login as data: the dynamic provider's input, compared on every `up` (a change is an update).

    `token_seconds`: how long a deployer's Vault token lives, long enough for the longest `up` (the provider's child
    token cannot outlive it). `infra_pipeline`: the infra Concourse's token trusted directly
    (vault_pipeline_login.trust), when configured."""
    extra = {"infraPipeline": dict(infra_pipeline)} if infra_pipeline else {}
    return extra | {
        "mount": ENTRA_MOUNT,
        "issuer": issuer(tenant_id),
        "audiences": list(ARM_AUDIENCES),
        "adminGroupId": admin_group_id,
        "deployerObjectIds": sorted(deployer_object_ids),
        "policyName": DEPLOYER_POLICY,
        "policy": policy,
        "tokenSeconds": token_seconds,
    }


def _role(bound_claims: Mapping[str, list[str]], spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "role_type": "jwt",
        "user_claim": "oid",
        "bound_audiences": spec["audiences"],
        "bound_claims": dict(bound_claims),
        "token_policies": [spec["policyName"]],
        "token_ttl": int(spec["tokenSeconds"]),
        "token_max_ttl": int(spec["tokenSeconds"]),
    }


def access_requests(spec: Mapping[str, Any], first_time: bool) -> list[tuple[str, str, dict[str, Any] | None]]:
    """The Vault API calls (method, path, body) that make the deployer login match `spec`, in order.

    `first_time` adds enabling the auth method (only the root token may, and only once)."""
    mount = spec["mount"]
    calls: list[tuple[str, str, dict[str, Any] | None]] = []
    if first_time:
        calls.append(("POST", f"sys/auth/{mount}", {"type": "jwt", "description": "Deployers: Entra ID (cdstack)"}))
    calls += [
        ("POST", f"auth/{mount}/config", {"oidc_discovery_url": spec["issuer"], "bound_issuer": spec["issuer"]}),
        ("POST", f"sys/policies/acl/{spec['policyName']}", {"policy": spec["policy"]}),
        ("POST", f"auth/{mount}/role/{ADMINS_ROLE}", _role({"groups": [spec["adminGroupId"]]}, spec)),
    ]
    if spec["deployerObjectIds"]:
        calls.append(
            ("POST", f"auth/{mount}/role/{PIPELINE_ROLE}", _role({"oid": list(spec["deployerObjectIds"])}, spec))
        )
    else:
        # Deleting a role that does not exist is a 204 too.
        calls.append(("DELETE", f"auth/{mount}/role/{PIPELINE_ROLE}", None))
    return calls + vault_pipeline_login.requests(spec)


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified: only to choose which role to ask for (Vault verifies it)."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as error:
        raise ValueError("the Azure access token is not a JWT") from error


def login_role(claims: Mapping[str, Any], deployer_object_ids: Sequence[str]) -> str:
    """`pipeline` for a configured deployer principal, else `admins` (Vault refuses anyone else at login).

    ARM access tokens carry the user's security groups in `groups` (Microsoft's Activity Log schema shows the claims
    of ARM calls with them). A user in more than 200 groups gets an overage pointer (`_claim_names`) instead, and a
    service principal gets none: Vault would answer either with a bare "claim not found", so say why here."""
    oid = claims.get("oid")
    if oid in set(deployer_object_ids):
        return PIPELINE_ROLE
    if "groups" not in claims:
        why = (
            "it is in more than 200 groups, so Entra ID sent an overage pointer instead"
            if "groups" in claims.get("_claim_names", {})
            else "Entra ID sends none for this principal"
        )
        raise ValueError(
            f"Vault login: the Azure token of object id {oid} has no `groups` claim ({why}), and the `admins` role "
            "matches cdstack:identity.adminGroup in it. Add that object id to cdstack:vault.deployerObjectIds."
        )
    return ADMINS_ROLE


# ---------------------------------------------------------------------------------------------------------------------
# The token


def azure_credential() -> Any:
    """The deployer's Azure identity, the same one azure-native uses: the pipeline's ARM_* service principal when
    set, else DefaultAzureCredential (`az login` on a laptop, AZURE_* or workload identity elsewhere)."""
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    client_id, secret, tenant = (os.environ.get(k) for k in ("ARM_CLIENT_ID", "ARM_CLIENT_SECRET", "ARM_TENANT_ID"))
    if client_id and secret and tenant:
        return ClientSecretCredential(tenant, client_id, secret)
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def arm_token() -> str:
    """A fresh ARM access token of the deployer (lives about an hour)."""
    return azure_credential().get_token(ARM_SCOPE).token


# ---------------------------------------------------------------------------------------------------------------------
# Who this run is: the token the Vault provider will log in with, and the service principal the environment names

JWT_ENV = "TERRAFORM_VAULT_AUTH_JWT"
LOGIN_MARGIN_SECONDS = 120
"""How long the token must still live when the program hands the provider its login: the provider logs in at its
first Vault call, moments later."""
FETCH_HINT = f'export {JWT_ENV}="$(.venv/bin/python -m tools.deployer_token)"'


class DeployerError(pulumi.RunError):
    """The deployer's token is missing, unreadable or expired. A RunError: Pulumi prints it without a traceback."""


@dataclass(frozen=True)
class Deployer:
    """Who this run logs in to Vault as: `jwt` is the token the Vault provider reads from TERRAFORM_VAULT_AUTH_JWT;
    `service_principal` is the client id of the service principal the environment logs in to Azure as (None: a
    person, through `az login`)."""

    jwt: str
    service_principal: str | None

    def claims(self) -> dict[str, Any]:
        try:
            return unverified_claims(self.jwt)
        except ValueError:
            raise DeployerError(f"{JWT_ENV} is not a JWT. Set it to your Azure access token: {FETCH_HINT}") from None


def service_principal(env: Mapping[str, str]) -> str | None:
    """The client id of the service principal Azure logins run as, by the variables the providers and
    azure-identity read: ARM_CLIENT_ID (azure-native, with a secret or ARM_USE_OIDC), or AZURE_CLIENT_ID with a
    secret, a certificate or a federated token file (azure-identity's environment and workload identity)."""
    if env.get("ARM_CLIENT_ID"):
        return env["ARM_CLIENT_ID"]
    credential = ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE")
    if env.get("AZURE_CLIENT_ID") and any(env.get(name) for name in credential):
        return env["AZURE_CLIENT_ID"]
    return None


def from_environment() -> Deployer:
    token = os.environ.get(JWT_ENV, "").strip()
    if not token:
        raise DeployerError(
            f"{JWT_ENV} is not set. The Vault provider logs in to the in-cluster Vault with your Azure access token "
            f"from it, and reads it from the environment of the `pulumi` command. Before `pulumi` (and again when it "
            f"has expired, after about an hour): {FETCH_HINT}"
        )
    return Deployer(token, service_principal(os.environ))


DeployerSource = Callable[[], Deployer]
deployer_source: list[DeployerSource] = [from_environment]
"""Where the program learns who it runs as; the offline plan swaps in a fake (it must never reach Azure)."""


def current() -> Deployer:
    return deployer_source[0]()


def expiry_problem(claims: Mapping[str, Any], now: float) -> str | None:
    """Why the token cannot log in for the next LOGIN_MARGIN_SECONDS, or None."""
    expires = claims.get("exp")
    if not isinstance(expires, int | float):
        return f"{JWT_ENV} carries no expiry (`exp`): it is not an Azure access token"
    if expires - now < LOGIN_MARGIN_SECONDS:
        when = datetime.fromtimestamp(expires, UTC).strftime("%H:%M:%S UTC")
        return f"the token in {JWT_ENV} expires at {when}, too soon for the Vault provider's login"
    return None


def fresh_claims(deployer: Deployer, now: float | None = None) -> dict[str, Any]:
    """The token's claims, or DeployerError when it expires within LOGIN_MARGIN_SECONDS."""
    claims = deployer.claims()
    why = expiry_problem(claims, time.time() if now is None else now)
    if why is not None:
        raise DeployerError(f"{why}. Fetch a fresh one and run the command again: {FETCH_HINT}")
    return claims


def identity_problems(
    deployer: Deployer, deployer_object_ids: Sequence[str], trusted: Mapping[str, Any] | None = None
) -> list[Problem]:
    """A service principal runs this `up` (the infra pipeline) but is not in `vault.deployerObjectIds`: it would get
    no Key Vault Secrets Officer role (the initialiser's first write retries a 403, then fails) and no Vault role
    (an app-only token has no `groups` claim for `admins`). Its object id is the `oid` of its own token, the one
    whose `appid` (v1 tokens, as ARM's are) or `azp` (v2) is its client id."""
    client_id = deployer.service_principal
    if client_id is None or vault_pipeline_login.is_pipeline_token(deployer.claims(), trusted):
        return []  # a person, or the infra pipeline's own token: no Entra ID token to compare with the identity
    claims = deployer.claims()
    key = "vault.deployerObjectIds"
    listed = list(deployer_object_ids)
    issued_to = claims.get("appid") or claims.get("azp")
    if issued_to != client_id:
        return [
            Problem.at(
                key,
                listed,
                f"cannot be checked: this run logs in to Azure as the service principal {client_id}, but the token "
                f"in {JWT_ENV} was issued to {issued_to or 'a person'}; fetch it as that service principal "
                f"({FETCH_HINT}) so Vault and Key Vault see the same deployer",
            )
        ]
    oid = claims.get("oid")
    if oid in listed:
        return []
    return [
        Problem.at(
            key,
            listed,
            f"must list {oid}, the object id of the service principal {client_id} this run logs in as (it writes "
            f"Vault's keys to Key Vault and logs in to Vault as `{PIPELINE_ROLE}`); the same id comes from "
            f"`az ad sp show --id {client_id} --query id -o tsv`",
        )
    ]


def login_mount(deployer: Deployer, trusted: Mapping[str, Any] | None) -> str:
    """The JWT mount the Vault provider logs in at: the infra Concourse's when the token is its (and this stack
    trusts it, cdstack:vault.infraPipeline), else Entra ID's."""
    if vault_pipeline_login.is_pipeline_token(deployer.claims(), trusted):
        assert trusted is not None
        return trusted["mount"]
    return ENTRA_MOUNT


def vault_login_role(
    deployer: Deployer, deployer_object_ids: Sequence[str], trusted: Mapping[str, Any] | None, now: float | None = None
) -> str:
    """vault_role, for either mount: an infra Concourse token gets the `pipeline` role of its mount once its subject
    and audience are the ones Vault binds (DeployerError otherwise)."""
    claims = fresh_claims(deployer, now)
    if vault_pipeline_login.is_pipeline_token(claims, trusted):
        assert trusted is not None
        why = vault_pipeline_login.claim_problem(claims, trusted)
        if why is not None:
            raise DeployerError(f"Vault login: {why}.")
        return vault_pipeline_login.ROLE
    return vault_role(deployer, deployer_object_ids, now)


def vault_role(deployer: Deployer, deployer_object_ids: Sequence[str], now: float | None = None) -> str:
    """The Vault role the deployer logs in as, checked to be still usable now (DeployerError otherwise)."""
    try:
        return login_role(fresh_claims(deployer, now), deployer_object_ids)
    except DeployerError:
        raise
    except ValueError as error:
        raise DeployerError(str(error)) from None
