"""How whoever runs `pulumi up` logs in to the in-cluster Vault: Vault's JWT auth, trusting Entra ID tokens.

Why JWT with Entra ID: every deployer already holds an Entra ID login for Azure (`az login` on a laptop, the
pipeline's service principal), so Vault needs no secret of its own for them: no long-lived Vault token, approle
secret id or password to store, rotate or leak. The program asks azure-identity for an Azure Resource Manager access
token (the one `az login` can always issue, without an app registration or consent) and pulumi-vault logs in with it
(`auth_login_jwt`). Vault checks the signature against Entra ID's published keys (OIDC discovery on the tenant's v1
issuer `https://sts.windows.net/<tenant>/`, which is the `iss` of ARM tokens), the issuer, the audience (ARM) and one
bound claim per role:

- role `admins`: the token's `groups` claim contains `identity.adminGroup`'s object id (people on laptops);
- role `pipeline`: the token's `oid` is one of `vault.deployerObjectIds` (the infra pipeline's service principal).

Both get the `cdstack-deployer` policy: exactly what this program manages in Vault, nothing else. Upstream shapes:
Vault's JWT auth API (website/content/api-docs/auth/jwt.mdx: `auth/<mount>/config` with `oidc_discovery_url` and
`bound_issuer`; roles with `role_type=jwt`, `bound_audiences`, `bound_claims`, `user_claim`).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

ENTRA_MOUNT = "entra"
DEPLOYER_POLICY = "cdstack-deployer"
ADMINS_ROLE = "admins"
TEAMS_MOUNT = "oidc"
"""People's OIDC login on Entra ID (components/vault_teams.py): the path the CLI's `-method=oidc` and the UI use."""
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
        # The teams' OIDC login (vault_teams.py): its auth method (read and tuned through sys/mounts/auth/, as
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
    tenant_id: str, admin_group_id: str, deployer_object_ids: Sequence[str], policy: str, token_seconds: int
) -> dict[str, Any]:
    """The deployer login as data: the dynamic provider's input, compared on every `up` (a change is an update).

    `token_seconds`: how long a deployer's Vault token lives, long enough for the longest `up` (the provider's child
    token cannot outlive it)."""
    return {
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
    return calls


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
    """A fresh ARM access token of the deployer (lives about an hour: fetched on every run, never stored)."""
    return azure_credential().get_token(ARM_SCOPE).token


TokenSource = Callable[[], str]
token_source: list[TokenSource] = [arm_token]
"""Where the program's JWT comes from; the offline plan swaps in a fake (it must never reach Azure)."""


def deployer_jwt() -> str:
    return token_source[0]()
