"""Teams write their own secrets: the OIDC login's roles and policies as data, as the program plans them, and as a
real Vault-API server enforces them (OpenBao's bao, tests/vault_server.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from components.concourse.teams import SERVICE_USER_SECRET
from components.config.schema import StackConfig
from components.vault import access as vault_access
from components.vault import login as vault_login
from components.vault import teams as vault_teams
from tests.conftest import Planner, stack_config
from tests.vault_server import Server, dev_server
from tools import offline

APP = "azuread:index/application:Application"
ASSIGNMENT = "azuread:index/appRoleAssignment:AppRoleAssignment"
BACKEND = "vault:jwt/authBackend:AuthBackend"
ROLE = "vault:jwt/authBackendRole:AuthBackendRole"
POLICY = "vault:index/policy:Policy"

GROUP_IDS = {
    "platform-admins": "6f1c2a9e-3b7d-4c11-9e2a-5d8b0f4a7c31",
    "payments-devs": "0b7e4d2c-8a15-4f3e-b6d9-2c1a7e5f9d04",
    "qa-viewers": "11111111-2222-4333-8444-555555555555",
    "web-devs": "99999999-8888-4777-8666-555555555555",
}


def config(**vault: Any) -> StackConfig:
    """Staging's configuration with a second team, `web`, whose developers are members (not owners)."""
    raw = {key.split(":", 1)[1]: value for key, value in stack_config("staging").items() if key.startswith("cdstack:")}
    raw["identity"]["groups"]["web-devs"] = {"objectId": GROUP_IDS["web-devs"]}
    raw["teams"].append({"name": "web", "serviceUser": "web-bot", "roles": {"member": ["web-devs"]}})
    raw["vault"] = {**raw.get("vault", {}), **vault}
    raw["stack"] = "staging"
    return StackConfig.model_validate(raw)


# ---------------------------------------------------------------------------------------------------------------------
# As data


def test_each_team_gets_a_role_bound_to_the_groups_of_its_secret_managing_roles():
    roles = {role.name: role for role in vault_teams.login_roles(config())}
    assert list(roles) == ["admins", "payments", "web"]
    assert roles["admins"].group_keys == ["platform-admins"]
    assert roles["admins"].policy == "cdstack-secrets-admin"
    assert roles["payments"].group_keys == ["payments-devs"]  # its owners; qa-viewers only view pipelines
    assert roles["web"].group_keys == ["web-devs"]
    assert roles["web"].policy == "cdstack-team-web"
    # Only owners: web has none, so no role (a role bound to nobody would be dead weight).
    owners = {role.name for role in vault_teams.login_roles(config(teamSecrets={"roles": ["owner"]}))}
    assert owners == {"admins", "payments"}
    assert vault_teams.login_group_keys(config()) == ["payments-devs", "platform-admins", "web-devs"]


def test_role_body_is_an_oidc_role_on_entra_id_groups():
    body = vault_teams.role_body(config(), "cdstack-team-web", [GROUP_IDS["web-devs"]])
    assert body == {
        "role_type": "oidc",
        "allowed_redirect_uris": [
            "https://vault.staging.cd.contoso.com/ui/vault/auth/oidc/oidc/callback",
            "http://localhost:8250/oidc/callback",
        ],
        "oidc_scopes": ["profile"],
        "user_claim": "oid",
        "groups_claim": "groups",
        "bound_claims": {"groups": [GROUP_IDS["web-devs"]]},
        "token_policies": ["cdstack-team-web"],
        "token_ttl": 3600,
        "token_max_ttl": 8 * 3600,
    }


def test_provider_bound_claims_split_back_into_the_list_vault_gets():
    claims = vault_teams.bound_claims([GROUP_IDS["web-devs"], GROUP_IDS["payments-devs"]])
    joined = vault_teams.provider_bound_claims(claims)
    # terraform-provider-vault splits each value on commas and trims (resource_jwt_auth_backend_role.go).
    assert {key: [v.strip() for v in value.split(",")] for key, value in joined.items()} == claims


def test_team_policy_covers_kv_v2_paths_of_its_own_team_only():
    policy = vault_teams.team_policy("concourse", "web")
    paths = [line.split('"')[1] for line in policy.splitlines() if line.startswith("path ")]
    assert paths == [
        "concourse/data/web/*",
        "concourse/metadata/web/*",
        "concourse/delete/web/*",
        "concourse/undelete/web/*",
        "concourse/destroy/web/*",
        f"concourse/data/web/{SERVICE_USER_SECRET}",
        f"concourse/metadata/web/{SERVICE_USER_SECRET}",
        f"concourse/delete/web/{SERVICE_USER_SECRET}",
        f"concourse/undelete/web/{SERVICE_USER_SECRET}",
        f"concourse/destroy/web/{SERVICE_USER_SECRET}",
        "concourse/data/web/azure-identity",
        "concourse/metadata/web/azure-identity",
        "concourse/delete/web/azure-identity",
        "concourse/undelete/web/azure-identity",
        "concourse/destroy/web/azure-identity",
    ]


# ---------------------------------------------------------------------------------------------------------------------
# As planned


def test_plan_vault_login_app_auth_method_and_roles(shared_plan: Planner):
    plan = shared_plan("staging")
    app = plan.get(APP, "vault-app").inputs
    assert app["displayName"] == "contoso-staging-vault"
    assert app["web"]["redirectUris"] == [
        "https://vault.staging.cd.contoso.com/ui/vault/auth/oidc/oidc/callback",
        "http://localhost:8250/oidc/callback",
    ]
    assert app["groupMembershipClaims"] == ["ApplicationGroup"]
    # Concourse's app keeps its one redirect: Vault's callbacks are not on it.
    assert plan.get(APP, "concourse-app").inputs["web"]["redirectUris"] == [
        "https://ci.staging.cd.contoso.com/sky/issuer/callback"
    ]
    # ApplicationGroup claims list only assigned groups: exactly the ones Vault's roles bind.
    assigned = sorted(r.name for r in plan.by_type(ASSIGNMENT) if r.name.startswith("vault-"))
    assert assigned == ["vault-group-payments-devs-assignment", "vault-group-platform-admins-assignment"]

    backend = plan.get(BACKEND, "oidc")
    assert backend.inputs["type"] == "oidc"
    assert backend.inputs["path"] == "oidc"
    assert backend.inputs["oidcDiscoveryUrl"] == f"https://login.microsoftonline.com/{offline.TENANT_ID}/v2.0"
    assert backend.inputs["oidcClientId"] == plan.get(APP, "vault-app").state["clientId"]
    assert backend.inputs["oidcClientSecret"] == offline.SECRET
    secret = plan.get("azuread:index/applicationPassword:ApplicationPassword", "vault-secret")
    assert secret.urn in backend.property_dependencies["oidcClientSecret"]
    assert "defaultRole" not in backend.inputs
    assert backend.provider.startswith(plan.get("pulumi:providers:vault", "vault").urn)

    role = plan.get(ROLE, "payments-secrets-role")
    assert role.inputs["roleName"] == "payments"
    assert role.inputs["roleType"] == "oidc"
    assert role.inputs["boundClaims"] == {"groups": GROUP_IDS["payments-devs"]}
    assert role.inputs["tokenPolicies"] == ["cdstack-team-payments"]
    assert role.inputs["userClaim"] == "oid"
    assert role.inputs["oidcScopes"] == ["profile"]
    assert plan.get(POLICY, "payments-secrets-policy").inputs["policy"] == vault_teams.team_policy(
        "concourse", "payments"
    )
    admins = plan.get(ROLE, "admins-secrets-role")
    assert admins.inputs["boundClaims"] == {"groups": GROUP_IDS["platform-admins"]}


def test_plan_without_team_secrets_has_no_vault_app_and_no_oidc_login(shared_plan: Planner):
    cfg = stack_config("staging")
    cfg["cdstack:vault"] = {**cfg.get("cdstack:vault", {}), "teamSecrets": {"enabled": False}}
    plan = shared_plan("staging", cfg)
    assert [r.name for r in plan.by_type(APP)] == ["concourse-app"]
    # Raft's own JWT mount for the snapshot job stays; nothing of the teams' OIDC login does.
    assert [r.name for r in plan.by_type(BACKEND)] == ["cluster-jwt"]
    assert [r.name for r in plan.by_type(ROLE)] == ["snapshot-role"]


# ---------------------------------------------------------------------------------------------------------------------
# Against a real server: JWT-signed tokens with the team's group claim stand in for the OIDC login (the auth code
# flow needs Entra ID). The mount is of type `oidc` at `oidc` as in production and holds the program's roles and
# policies; only its config (a test public key instead of Entra ID's discovery, client id and secret) and the
# roles' type (`jwt` with the client id as audience, what an OIDC login checks implicitly) differ.

CLIENT_ID = "4d3c2b1a-0000-4000-8000-00000000c1d0"


def _key() -> tuple[Any, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, public.decode()


def _id_token(key: Any, oid: str, groups: list[str]) -> str:
    now = int(time.time())
    claims = {"aud": CLIENT_ID, "oid": oid, "groups": groups, "iat": now, "nbf": now, "exp": now + 600}
    return jwt.encode(claims, key, algorithm="RS256")


def _ok(server: Server, method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    status, reply = server.request(method, path, token, body)
    assert status < 300, f"{method} {path}: {status} {reply}"
    return reply


def _login(server: Server, role: str, token: str) -> tuple[int, Any]:
    return server.request("POST", f"auth/{vault_teams.MOUNT}/login", body={"role": role, "jwt": token})


def _deploy(server: Server, cfg: StackConfig, public_key: str) -> str:
    """What `pulumi up` writes, written with a token of the deployer policy (so that policy is proven to suffice)."""
    mount = vault_access.mount_path(cfg)
    deployer = vault_login.deployer_policy(mount, vault_access.CONCOURSE_POLICY, vault_access.AUDIT_PATH)
    server.root("POST", f"sys/policies/acl/{vault_login.DEPLOYER_POLICY}", {"policy": deployer})
    token = server.root("POST", "auth/token/create", {"policies": [vault_login.DEPLOYER_POLICY]})["auth"][
        "client_token"
    ]
    _ok(server, "POST", f"sys/mounts/{mount}", token, {"type": "kv", "options": {"version": vault_access.KV_VERSION}})
    # The auth method as pulumi-vault's jwt.AuthBackend enables and reads it.
    _ok(server, "POST", f"sys/auth/{vault_teams.MOUNT}", token, {"type": "oidc"})
    _ok(server, "GET", f"sys/auth/{vault_teams.MOUNT}", token)
    _ok(server, "GET", f"sys/mounts/auth/{vault_teams.MOUNT}/tune", token)
    _ok(server, "POST", f"auth/{vault_teams.MOUNT}/config", token, {"jwt_validation_pubkeys": [public_key]})
    for login_role in vault_teams.login_roles(cfg):
        _ok(server, "POST", f"sys/policies/acl/{login_role.policy}", token, {"policy": login_role.policy_text})
        body = vault_teams.role_body(cfg, login_role.policy, [GROUP_IDS[key] for key in login_role.group_keys])
        path = f"auth/{vault_teams.MOUNT}/role/{login_role.name}"
        # Vault takes the OIDC role as the program writes it...
        _ok(server, "POST", path, token, body)
        written = _ok(server, "GET", path, token)["data"]
        assert (written["role_type"], written["bound_claims"]) == ("oidc", body["bound_claims"])
        assert written["allowed_redirect_uris"] == body["allowed_redirect_uris"]
        # ...and its JWT twin stands in for it at login.
        oidc_only = ("allowed_redirect_uris", "oidc_scopes")
        twin = {k: v for k, v in body.items() if k not in oidc_only} | {
            "role_type": "jwt",
            "bound_audiences": [CLIENT_ID],
        }
        _ok(server, "POST", path, token, twin)
    # Concourse's approle, as vault_access.VaultAccess writes it; the team's service user as teams.TeamUsers does.
    _ok(
        server,
        "POST",
        f"sys/policies/acl/{vault_access.CONCOURSE_POLICY}",
        token,
        {"policy": vault_access.concourse_policy(mount)},
    )
    _ok(server, "POST", f"sys/auth/{vault_access.APPROLE_PATH}", token, {"type": "approle"})
    role = f"auth/{vault_access.APPROLE_PATH}/role/{vault_access.CONCOURSE_ROLE}"
    _ok(server, "POST", role, token, {"token_policies": [vault_access.CONCOURSE_POLICY]})
    _ok(server, "POST", f"{role}/role-id", token, {"role_id": "concourse-role-id"})
    _ok(server, "POST", f"{role}/custom-secret-id", token, {"secret_id": "concourse-secret-id"})
    _ok(server, "POST", f"{mount}/data/payments/{SERVICE_USER_SECRET}", token, {"data": {"username": "payments-bot"}})
    _ok(server, "POST", f"{mount}/data/payments/azure-identity", token, {"data": {"client_id": "c", "tenant_id": "t"}})
    return token


@pytest.mark.vault_server
def test_a_team_member_manages_its_own_secrets_and_concourse_reads_them(tmp_path: Path):
    cfg = config()
    key, public_key = _key()
    with dev_server(tmp_path) as server:
        _deploy(server, cfg, public_key)

        status, reply = _login(server, "payments", _id_token(key, "user-a", ["aaaaaaaa", GROUP_IDS["payments-devs"]]))
        assert status == 200, reply
        assert reply["auth"]["policies"] == ["cdstack-team-payments", "default"]
        assert reply["auth"]["lease_duration"] == 3600  # vault.teamSecrets.tokenTtl
        member = reply["auth"]["client_token"]

        def call(method: str, path: str, body: dict[str, Any] | None = None) -> int:
            return server.request(method, path, member, body)[0]

        # Its own path: write, read, update, list, soft delete, undelete, destroy a version, delete all.
        assert call("POST", "concourse/data/payments/db", {"data": {"password": "one"}}) == 200
        assert call("POST", "concourse/data/payments/deploy/key", {"data": {"value": "k"}}) == 200
        assert call("POST", "concourse/data/payments/db", {"data": {"password": "two"}}) == 200
        assert server.request("GET", "concourse/data/payments/db", member)[1]["data"]["data"] == {"password": "two"}
        keys = server.request("LIST", "concourse/metadata/payments", member)[1]["data"]["keys"]
        assert sorted(keys) == sorted(["db", "deploy/", *vault_teams.STACK_KEPT_SECRETS])
        assert call("DELETE", "concourse/data/payments/deploy/key") == 204
        assert call("POST", "concourse/undelete/payments/deploy/key", {"versions": [1]}) == 204
        assert call("POST", "concourse/destroy/payments/db", {"versions": [1]}) == 204
        # Another team's path, a name that only starts like its own, the shared path, the mount's root: denied.
        for path in ("concourse/data/web/db", "concourse/data/payments-archive/db", "concourse/data/shared/db"):
            assert call("POST", path, {"data": {"password": "x"}}) == 403, path
            assert call("GET", path) == 403, path
        assert call("LIST", "concourse/metadata/web") == 403
        assert call("LIST", "concourse/metadata") == 403
        # What `pulumi up` keeps (the service user, the Azure identity's ids): readable, not writable or deletable.
        for kept in vault_teams.STACK_KEPT_SECRETS:
            assert call("GET", f"concourse/data/payments/{kept}") == 200
            assert call("POST", f"concourse/data/payments/{kept}", {"data": {"username": "x"}}) == 403
            assert call("DELETE", f"concourse/data/payments/{kept}") == 403
            assert call("DELETE", f"concourse/metadata/payments/{kept}") == 403
            assert call("POST", f"concourse/destroy/payments/{kept}", {"versions": [1]}) == 403
        # Nothing of Vault itself.
        assert call("GET", "sys/mounts") == 403
        assert call("POST", "sys/policies/acl/cdstack-team-payments", {"policy": 'path "*" {}'}) == 403

        # The admin group keeps everything: the shared path and every team's.
        status, reply = _login(server, "admins", _id_token(key, "admin-1", [GROUP_IDS["platform-admins"]]))
        assert status == 200, reply
        admin = reply["auth"]["client_token"]
        for path in ("concourse/data/shared/registry", "concourse/data/web/db", "concourse/data/main/x"):
            assert server.request("POST", path, admin, {"data": {"value": "v"}})[0] == 200, path
        assert server.request("GET", "concourse/data/payments/db", admin)[0] == 200

        # Concourse's approle reads what the team wrote.
        status, reply = server.request(
            "POST", "auth/approle/login", body={"role_id": "concourse-role-id", "secret_id": "concourse-secret-id"}
        )
        assert status == 200, reply
        concourse = reply["auth"]["client_token"]
        status, reply = server.request("GET", "concourse/data/payments/db", concourse)
        assert (status, reply["data"]["data"]) == (200, {"password": "two"})


@pytest.mark.vault_server
def test_only_the_teams_groups_get_its_role(tmp_path: Path):
    cfg = config()
    key, public_key = _key()
    with dev_server(tmp_path) as server:
        _deploy(server, cfg, public_key)
        # A web developer asking for payments, a viewer of payments, the admin group for a team, nobody's groups.
        for role, groups in (
            ("payments", [GROUP_IDS["web-devs"]]),
            ("payments", [GROUP_IDS["qa-viewers"]]),
            ("web", [GROUP_IDS["platform-admins"]]),
            ("admins", [GROUP_IDS["payments-devs"]]),
            ("web", []),
        ):
            status, reply = _login(server, role, _id_token(key, "someone", groups))
            assert status in (400, 403), (role, groups, reply)
        # A token signed by another key.
        other, _ = _key()
        status, _ = _login(server, "web", _id_token(other, "someone", [GROUP_IDS["web-devs"]]))
        assert status in (400, 403)
        status, reply = _login(server, "web", _id_token(key, "dev", [GROUP_IDS["web-devs"]]))
        assert status == 200, reply
        web = reply["auth"]["client_token"]
        assert server.request("POST", "concourse/data/web/db", web, {"data": {"v": "1"}})[0] == 200
        assert server.request("GET", "concourse/data/payments/db", web)[0] == 403


def test_an_external_vault_gets_its_own_address_in_the_redirect_uris():
    cfg = config(mode="external", address="https://vault.example.com:8200/")
    assert vault_teams.redirect_uris(cfg) == [
        "https://vault.example.com:8200/ui/vault/auth/oidc/oidc/callback",
        "http://localhost:8250/oidc/callback",
    ]
