"""Teams write their own secrets: Vault's OIDC login on Entra ID, and per team a role and a policy on its own path.

Concourse reads a team's credentials under `<prefix>/<team>/` (vault/access.py). Without this, only the admin group
could write there. With `vault.teamSecrets.enabled` (the default) people log in to Vault through Entra ID
(`vault login -method=oidc role=<team>`, or the UI's OIDC method) and get, per configured team, a token whose
policy creates, reads, updates, deletes and lists secrets under `<prefix>/<team>/` and nothing else:

- the auth method: Vault's `oidc` at `auth/oidc`, discovering Entra ID at the tenant's v2.0 issuer, logging in
  through its own app registration (identity.VaultLogin says why not Concourse's);
- a role per team, bound to the groups of that team's `vault.teamSecrets.roles` (owner and member by default):
  the ID token's `groups` claim must hold one of them. A team with no such group gets no role;
- the role `admins`, bound to `identity.adminGroup`, with every path of the mount: the admin group keeps
  everything (it also keeps the deployers' JWT login, vault/login.py);
- nobody gets the shared path (`<prefix>/<sharedPath>/`) but the admins: every team's pipelines read it.

The mount is KV v2 (vault_access.KV_VERSION): a secret `<prefix>/<team>/x` lives at `<mount>/data/<team>/x`, its
versions and names at `<mount>/metadata/<team>/x`, and soft delete, undelete and destroy of versions are writes to
`<mount>/delete/`, `undelete/` and `destroy/` (Vault docs, secrets/kv/kv-v2 "ACL rules"). The team's own service
user login (teams.SERVICE_USER_SECRET), which `pulumi up` writes, is readable but not writable by the team: a team
that deleted it would lock its pipelines out of `fly` until the next `pulumi up --refresh`.

Upstream shapes (hashicorp/vault website/content/api-docs/auth/jwt.mdx; docs/auth/jwt/oidc-providers/azuread.mdx):
config `oidc_discovery_url`, `oidc_client_id`, `oidc_client_secret`, `default_role`; roles with `role_type=oidc`,
`allowed_redirect_uris`, `user_claim`, `groups_claim`, `bound_claims` (a list value matches any of its items),
`oidc_scopes` (`openid` is implied; `profile` makes Entra ID put `oid`, the user claim, into the ID token), and the
token fields. No `default_role`: a person may be in several teams, so the login names the team.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_vault as vault

from components import membership
from components.concourse import team_azure
from components.concourse.teams import SERVICE_USER_SECRET
from components.config.schema import StackConfig, TeamConfig
from components.durations import go_duration_seconds
from components.endpoints import OidcLogin
from components.vault import access as vault_access
from components.vault import login as vault_login
from components.vault import settings as vault_settings

MOUNT = vault_login.TEAMS_MOUNT
ADMIN_ROLE = vault_settings.TEAM_SECRETS_ADMIN_ROLE
ADMIN_POLICY = vault_login.SECRETS_ADMIN_POLICY
CLI_REDIRECT_URI = "http://localhost:8250/oidc/callback"
"""Where `vault login -method=oidc` listens for the browser's redirect (the CLI's default port 8250)."""
USER_CLAIM = "oid"
"""The user's object id: immutable and the same in every app of the tenant (Entra ID recommends `oid` or `sub`)."""
GROUPS_CLAIM = "groups"
SCOPES = ["profile"]

KV_V2_WRITE = ["create", "read", "update", "patch", "delete"]
"""On `data/`: write a version, read it, patch it (`vault kv patch`), soft-delete the latest."""
KV_V2_METADATA = ["create", "read", "update", "patch", "delete", "list"]
"""On `metadata/`: list names, read and set versions' metadata, delete a secret with all its versions."""
VERSION_OPERATIONS = ("delete", "undelete", "destroy")
"""KV v2 endpoints that act on given versions, each a write (`update`)."""


def policy_name(team: str) -> str:
    return f"{vault_login.TEAM_POLICY_PREFIX}{team}"


def _rules(rules: Sequence[tuple[str, Sequence[str]]]) -> str:
    return "\n".join(
        f'path "{path}" {{\n  capabilities = [{", ".join(json.dumps(c) for c in caps)}]\n}}\n' for path, caps in rules
    )


STACK_KEPT_SECRETS = (SERVICE_USER_SECRET, team_azure.VAULT_SECRET)
"""Secrets `pulumi up` keeps under a team's path: the service user login and the team's Azure identity's ids."""


def team_policy(mount: str, team: str) -> str:
    """Everything on the team's own KV v2 secrets (`<team>/` with its slash: team `pay` gets nothing of
    `payments/`), except writing the secrets `pulumi up` keeps there."""
    base = f"{team}/*"
    rules: list[tuple[str, Sequence[str]]] = [
        (f"{mount}/data/{base}", KV_V2_WRITE),
        (f"{mount}/metadata/{base}", KV_V2_METADATA),
        *((f"{mount}/{operation}/{base}", ["update"]) for operation in VERSION_OPERATIONS),
    ]
    for secret in STACK_KEPT_SECRETS:
        own = f"{team}/{secret}"
        rules += [
            # An exact path wins over a glob in Vault's ACLs: what the stack keeps is read-only to the team.
            (f"{mount}/data/{own}", ["read"]),
            (f"{mount}/metadata/{own}", ["read", "list"]),
            *((f"{mount}/{operation}/{own}", ["deny"]) for operation in VERSION_OPERATIONS),
        ]
    return _rules(rules)


def admin_policy(mount: str) -> str:
    """Every path of the mount: each team's, main's and the shared one, with every KV v2 operation."""
    return _rules([(f"{mount}/*", KV_V2_METADATA)])


def redirect_uris(cfg: StackConfig) -> list[str]:
    """Vault's UI callback at its address, and the CLI's local one: both on the app registration and every role."""
    return [f"{vault_access.address(cfg)}/ui/vault/auth/{MOUNT}/oidc/callback", CLI_REDIRECT_URI]


def secret_group_keys(cfg: StackConfig, team: TeamConfig) -> list[str]:
    """The group keys of the team's roles that manage its secrets (vault.teamSecrets.roles)."""
    return sorted({key for role in cfg.vault.team_secrets.roles for key in getattr(team.roles, membership.ROLES[role])})


@dataclass(frozen=True)
class LoginRole:
    """One role of the OIDC mount and the policy its tokens get."""

    name: str
    policy: str
    policy_text: str
    group_keys: list[str]


def login_roles(cfg: StackConfig) -> list[LoginRole]:
    """The admin group's role, then a role per team that has a secret-managing group (none: no role)."""
    mount = vault_access.mount_path(cfg)
    found = [LoginRole(ADMIN_ROLE, ADMIN_POLICY, admin_policy(mount), [cfg.identity.admin_group])]
    for team in cfg.teams:
        keys = secret_group_keys(cfg, team)
        if keys:
            found.append(LoginRole(team.name, policy_name(team.name), team_policy(mount, team.name), keys))
    return found


def login_group_keys(cfg: StackConfig) -> list[str]:
    """Every group a role binds: the ones Vault's app registration must put into the `groups` claim."""
    return sorted({key for login in login_roles(cfg) for key in login.group_keys})


def bound_claims(group_ids: Sequence[str]) -> dict[str, list[str]]:
    """The ID token's `groups` claim must hold one of `group_ids` (a list value matches any of its items)."""
    return {GROUPS_CLAIM: sorted(group_ids)}


def role_body(cfg: StackConfig, policy: str, group_ids: Sequence[str]) -> dict[str, Any]:
    """An OIDC role as Vault's API takes it (POST auth/oidc/role/<name>): a member of any of `group_ids` gets a
    token with `policy` for vault.teamSecrets.tokenTtl, renewable up to tokenMaxTtl."""
    secrets = cfg.vault.team_secrets
    return {
        "role_type": "oidc",
        "allowed_redirect_uris": redirect_uris(cfg),
        "oidc_scopes": list(SCOPES),
        "user_claim": USER_CLAIM,
        "groups_claim": GROUPS_CLAIM,
        "bound_claims": bound_claims(group_ids),
        "token_policies": [policy],
        "token_ttl": go_duration_seconds(secrets.token_ttl),
        "token_max_ttl": go_duration_seconds(secrets.token_max_ttl),
    }


def provider_bound_claims(claims: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Bound claims as pulumi-vault takes them: each list comma-joined (terraform-provider-vault's
    resource_jwt_auth_backend_role.go splits each value on commas into the list Vault gets; object ids have none)."""
    return {claim: ",".join(values) for claim, values in claims.items()}


class TeamSecrets(pulumi.ComponentResource):
    """The OIDC auth method, and per role its policy and the role itself, in the Vault `access` configures."""

    backend: vault.jwt.AuthBackend
    policies: dict[str, vault.Policy]
    roles: dict[str, vault.jwt.AuthBackendRole]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        access: vault_access.VaultAccess,
        login: OidcLogin,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`login`: Vault's app registration (identity.VaultLogin), with the object ids of the groups roles bind."""
        super().__init__("cdstack:vault:TeamSecrets", name, None, opts)
        in_vault = pulumi.ResourceOptions(parent=self, provider=access.provider)
        self.backend = vault.jwt.AuthBackend(
            "oidc",
            type="oidc",
            path=MOUNT,
            description="People: Entra ID, a role per team for its own secrets (cdstack)",
            oidc_discovery_url=login.issuer_url,
            oidc_client_id=login.client_id,
            # Rotated with the app's client secret (identity.clientSecretRotationDays), written here in the same `up`.
            oidc_client_secret=pulumi.Output.secret(login.client_secret),
            opts=in_vault,
        )
        self.policies = {}
        self.roles = {}
        for login_role in login_roles(cfg):
            policy = vault.Policy(
                f"{login_role.name}-secrets-policy",
                name=login_role.policy,
                policy=login_role.policy_text,
                opts=in_vault,
            )
            body = role_body(cfg, login_role.policy, [])
            ids = pulumi.Output.all(*(login.group_object_ids[key] for key in login_role.group_keys))
            self.policies[login_role.name] = policy
            self.roles[login_role.name] = vault.jwt.AuthBackendRole(
                f"{login_role.name}-secrets-role",
                backend=self.backend.path,
                role_name=login_role.name,
                role_type=body["role_type"],
                allowed_redirect_uris=body["allowed_redirect_uris"],
                oidc_scopes=body["oidc_scopes"],
                user_claim=body["user_claim"],
                groups_claim=body["groups_claim"],
                bound_claims=ids.apply(lambda values: provider_bound_claims(bound_claims(values))),
                token_policies=[policy.name],
                token_ttl=body["token_ttl"],
                token_max_ttl=body["token_max_ttl"],
                opts=in_vault,
            )
        self.register_outputs({})
