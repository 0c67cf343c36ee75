"""The deployer's Vault token can make every call `pulumi up` and `pulumi destroy` make, on a real Vault-API server.

The calls are those of terraform-provider-vault, which pulumi-vault bundles (pulumi-vault 7.11.0 through the newest
commit of its repository pin the upstream submodule at v5.10.1; v5.11.0's resource files are identical), read from
the create, read, update and delete functions of each resource type the program uses, with the HTTP method and path
of the Vault Go client (hashicorp/vault api/sys_auth.go, sys_mounts.go, sys_policy.go, sys_audit.go;
`Logical().Write` is a PUT). Names are the program's own (the staging stack's mount, Concourse's policy and approle,
the audit device, a team's service-user secret). The session's own calls come from internal/provider/meta.go
(`setClient`: the JWT login, `LookupSelf`, the child token, `SealStatus` for the version).

Each resource's calls run in create, read, update, read, delete order against a real server with the token a real
JWT login of a listed deployer returns, so they succeed on their own terms; any 403 fails the test, not a deploy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components.concourse import teams
from components.vault import access as vault_access
from components.vault import init as vault_init
from components.vault import login as vault_login
from components.vault import raft as vault_raft
from components.vault import teams as vault_teams
from components.vault.init import Retry, VaultApi
from tests.entra import Issuer, entra_issuer, program_access
from tests.vault_server import Server, dev_server
from tools import offline

TENANT = "00000000-0000-4000-8000-000000000001"
ADMINS = "11111111-0000-4000-8000-00000000000a"
PIPELINE = "22222222-0000-4000-8000-00000000000b"

CFG = offline.load_config("staging")
KV = vault_access.mount_path(CFG)
APPROLE = vault_access.APPROLE_PATH
ROLE = f"auth/{APPROLE}/role/{vault_access.CONCOURSE_ROLE}"
POLICY = f"sys/policies/acl/{vault_access.CONCOURSE_POLICY}"
AUDIT = f"sys/audit/{vault_access.AUDIT_PATH}"
TEAM_SECRET = f"{CFG.teams[0].name}/{teams.SERVICE_USER_SECRET}"
OIDC = vault_teams.MOUNT
TEAM_LOGIN = next(role for role in vault_teams.login_roles(CFG) if role.name != vault_teams.ADMIN_ROLE)
TEAM_POLICY = f"sys/policies/acl/{TEAM_LOGIN.policy}"
TEAM_ROLE = f"auth/{OIDC}/role/{TEAM_LOGIN.name}"
TEAM_ROLE_BODY = vault_teams.role_body(CFG, TEAM_LOGIN.policy, ["33333333-0000-4000-8000-00000000000c"])
CLUSTER = vault_raft.CLUSTER_JWT_MOUNT
SNAPSHOT_POLICY = f"sys/policies/acl/{vault_raft.SNAPSHOT_POLICY}"
SNAPSHOT_ROLE = f"auth/{CLUSTER}/role/{vault_raft.SNAPSHOT_ROLE}"
AUTOPILOT = "sys/storage/raft/autopilot/configuration"
OIDC_CONFIG = {"oidc_discovery_url": "{issuer}", "oidc_client_id": "vault-app", "oidc_client_secret": "secret"}


@dataclass(frozen=True)
class Call:
    step: str  # create, read, update, delete: the provider function that makes it
    method: str
    path: str
    body: dict[str, Any] | None = None
    allowed: tuple[int, ...] = ()  # non-2xx answers the provider expects (a policy read before it exists: 404)
    raft_only: bool = False
    """A path only a server on Raft storage routes (the test's dev server keeps its data in memory): the token's
    capabilities on it are asked of Vault's own ACL evaluation (sys/capabilities-self) instead."""


def _device() -> dict[str, Any]:
    device = vault_access.audit_device()
    return {"type": device["type"], "description": "cdstack", "options": device["options"], "local": False}


# Resource type -> its calls, in the order a create, a refresh, an update and a delete make them.
PROVIDER_CALLS: dict[str, list[Call]] = {
    # vault/resource_audit.go: auditWrite (Sys().EnableAuditWithOptions), auditRead (Sys().ListAudit), auditDelete.
    "vault:index/audit:Audit": [
        Call("create", "PUT", AUDIT, _device()),
        Call("read", "GET", "sys/audit"),
        Call("delete", "DELETE", AUDIT),
    ],
    # vault/resource_mount.go: createMount (Sys().Mount), readMount (mountutil.GetMount), updateMount
    # (tuneMountWithMap), mountDelete (Sys().Unmount).
    "vault:index/mount:Mount": [
        Call(
            "create", "POST", f"sys/mounts/{KV}", {"type": "kv", "description": "cdstack", "options": {"version": "2"}}
        ),
        Call("read", "GET", f"sys/mounts/{KV}"),
        Call(
            "update",
            "POST",
            f"sys/mounts/{KV}/tune",
            {"default_lease_ttl": "0s", "max_lease_ttl": "0s", "options": {"version": "2"}, "description": "new"},
        ),
        Call("read", "GET", f"sys/mounts/{KV}"),
        Call("delete", "DELETE", f"sys/mounts/{KV}"),
    ],
    # vault/resource_policy.go: policyCreate (GetPolicy: 404 is "none"), policyWrite (PutPolicy), policyRead,
    # policyDelete.
    "vault:index/policy:Policy": [
        Call("create", "GET", POLICY, allowed=(404,)),
        Call("create", "PUT", POLICY, {"policy": vault_access.concourse_policy(KV)}),
        Call("read", "GET", POLICY),
        Call("update", "PUT", POLICY, {"policy": vault_access.concourse_policy(KV) + "\n"}),
        Call("read", "GET", POLICY),
        Call("delete", "DELETE", POLICY),
        # A team's own policy (components/vault/teams.py), under the deployer's `cdstack-team-*` rule.
        Call("create", "GET", TEAM_POLICY, allowed=(404,)),
        Call("create", "PUT", TEAM_POLICY, {"policy": TEAM_LOGIN.policy_text}),
        Call("read", "GET", TEAM_POLICY),
        Call("delete", "DELETE", TEAM_POLICY),
        # The Raft snapshot job's policy (components/vault/raft.py).
        Call("create", "GET", SNAPSHOT_POLICY, allowed=(404,)),
        Call("create", "PUT", SNAPSHOT_POLICY, {"policy": vault_raft.snapshot_policy()}),
        Call("read", "GET", SNAPSHOT_POLICY),
        Call("delete", "DELETE", SNAPSHOT_POLICY),
    ],
    # vault/resource_raft_autopilot.go: createOrUpdate writes the configuration, read reads it, delete writes the
    # defaults back.
    "vault:index/raftAutopilot:RaftAutopilot": [
        Call("create", "PUT", AUTOPILOT, raft_only=True),
        Call("read", "GET", AUTOPILOT, raft_only=True),
        Call("delete", "PUT", AUTOPILOT, raft_only=True),
    ],
    # vault/resource_auth_backend.go: authBackendWrite (Sys().EnableAuthWithOptions), authBackendRead
    # (mountutil.GetAuthMount: GET sys/mounts/auth/<path>; authMountTuneGet: GET sys/mounts/auth/<path>/tune),
    # authBackendUpdate (tuneMount on a description change), authBackendDelete (Sys().DisableAuth).
    "vault:index/authBackend:AuthBackend": [
        Call("create", "POST", f"sys/auth/{APPROLE}", {"type": "approle", "description": "cdstack", "local": False}),
        Call("read", "GET", f"sys/mounts/auth/{APPROLE}"),
        Call("read", "GET", f"sys/mounts/auth/{APPROLE}/tune"),
        Call("update", "POST", f"sys/mounts/auth/{APPROLE}/tune", {"description": "new"}),
        Call("read", "GET", f"sys/mounts/auth/{APPROLE}"),
        Call("read", "GET", f"sys/mounts/auth/{APPROLE}/tune"),
        Call("delete", "DELETE", f"sys/auth/{APPROLE}"),
    ],
    # vault/resource_jwt_auth_backend.go: jwtAuthBackendWrite (Sys().EnableAuthWithOptions), then
    # jwtAuthBackendUpdate (Logical().Write of auth/<path>/config; authMountTune when `tune` is set);
    # jwtAuthBackendRead (mountutil.GetAuthMount: GET sys/mounts/auth/<path>; the config; authMountTuneGet);
    # jwtAuthBackendDelete (Sys().DisableAuth). Vault fetches the discovery document when the config is written.
    "vault:jwt/authBackend:AuthBackend": [
        Call("create", "POST", f"sys/auth/{OIDC}", {"type": "oidc", "description": "cdstack", "local": False}),
        Call("create", "PUT", f"auth/{OIDC}/config", OIDC_CONFIG),
        Call("read", "GET", f"sys/mounts/auth/{OIDC}"),
        Call("read", "GET", f"auth/{OIDC}/config"),
        Call("read", "GET", f"sys/mounts/auth/{OIDC}/tune"),
        Call("update", "PUT", f"auth/{OIDC}/config", {**OIDC_CONFIG, "oidc_client_secret": "rotated"}),
        Call("update", "POST", f"sys/mounts/auth/{OIDC}/tune", {"description": "new"}),
        Call("read", "GET", f"sys/mounts/auth/{OIDC}"),
        Call("delete", "DELETE", f"sys/auth/{OIDC}"),
        # The cluster's service accounts' login (vault/raft.py): type jwt, on the AKS OIDC issuer.
        Call("create", "POST", f"sys/auth/{CLUSTER}", {"type": "jwt", "description": "cdstack", "local": False}),
        Call("create", "PUT", f"auth/{CLUSTER}/config", {"oidc_discovery_url": "{issuer}", "bound_issuer": "{issuer}"}),
        Call("read", "GET", f"sys/mounts/auth/{CLUSTER}"),
        Call("read", "GET", f"auth/{CLUSTER}/config"),
        Call("read", "GET", f"sys/mounts/auth/{CLUSTER}/tune"),
        Call("delete", "DELETE", f"sys/auth/{CLUSTER}"),
    ],
    # vault/resource_jwt_auth_backend_role.go: create and update write the role, read reads it, delete deletes it.
    "vault:jwt/authBackendRole:AuthBackendRole": [
        Call("create", "PUT", TEAM_ROLE, TEAM_ROLE_BODY),
        Call("read", "GET", TEAM_ROLE),
        Call("update", "PUT", TEAM_ROLE, {**TEAM_ROLE_BODY, "token_ttl": 600}),
        Call("read", "GET", TEAM_ROLE),
        Call("delete", "DELETE", TEAM_ROLE),
        Call("create", "PUT", SNAPSHOT_ROLE, vault_raft.snapshot_role()),
        Call("read", "GET", SNAPSHOT_ROLE),
        Call("delete", "DELETE", SNAPSHOT_ROLE),
    ],
    # vault/resource_approle_auth_backend_role.go: create and update write the role, then its role-id; read reads
    # both; delete deletes the role.
    "vault:appRole/authBackendRole:AuthBackendRole": [
        Call("create", "PUT", ROLE, {"token_policies": ["concourse"], "token_ttl": 3600, "secret_id_ttl": 0}),
        Call("create", "PUT", f"{ROLE}/role-id", {"role_id": "r" * vault_access.ID_LENGTH}),
        Call("read", "GET", ROLE),
        Call("read", "GET", f"{ROLE}/role-id"),
        Call("update", "PUT", ROLE, {"token_policies": ["concourse"], "token_ttl": 1200, "secret_id_ttl": 0}),
        Call("update", "PUT", f"{ROLE}/role-id", {"role_id": "s" * vault_access.ID_LENGTH}),
        Call("read", "GET", ROLE),
        Call("read", "GET", f"{ROLE}/role-id"),
        Call("delete", "DELETE", ROLE),
    ],
    # vault/resource_approle_auth_backend_role_secret_id.go: create (custom-secret-id, as a secret_id is given),
    # read (secret-id-accessor/lookup), delete (secret-id-accessor/destroy); no update (every change replaces).
    "vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId": [
        Call(
            "create",
            "PUT",
            f"{ROLE}/custom-secret-id",
            {"secret_id": "x" * vault_access.ID_LENGTH, "metadata": json.dumps({"generation": "1"})},
        ),
        Call("read", "PUT", f"{ROLE}/secret-id-accessor/lookup", {"secret_id_accessor": "{accessor}"}),
        Call("delete", "PUT", f"{ROLE}/secret-id-accessor/destroy", {"secret_id_accessor": "{accessor}"}),
    ],
    # vault/resource_kv_secret_v2.go: kvSecretV2Write (util.RetryWrite to data/), kvSecretV2Read (data/),
    # kvSecretV2Delete (metadata/ with delete_all_versions, as components/concourse/teams.py sets it).
    "vault:kv/secretV2:SecretV2": [
        Call("create", "PUT", f"{KV}/data/{TEAM_SECRET}", {"data": {"password": "one"}, "options": {}}),
        Call("read", "GET", f"{KV}/data/{TEAM_SECRET}"),
        Call("update", "PUT", f"{KV}/data/{TEAM_SECRET}", {"data": {"password": "two"}, "options": {}}),
        Call("read", "GET", f"{KV}/data/{TEAM_SECRET}"),
        Call("delete", "DELETE", f"{KV}/metadata/{TEAM_SECRET}"),
    ],
}

# The resources' creation order in the graph (and the reverse for deletion), so each call meets what it needs.
ORDER = [
    "vault:index/raftAutopilot:RaftAutopilot",
    "vault:index/audit:Audit",
    "vault:index/mount:Mount",
    "vault:index/policy:Policy",
    "vault:index/authBackend:AuthBackend",
    "vault:jwt/authBackend:AuthBackend",
    "vault:jwt/authBackendRole:AuthBackendRole",
    "vault:appRole/authBackendRole:AuthBackendRole",
    "vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId",
    "vault:kv/secretV2:SecretV2",
]


@pytest.fixture
def deployer(tmp_path: Path) -> Iterator[tuple[Server, Issuer, dict[str, Any]]]:
    """A real server with the program's deployer login, set up by the root token as the initialiser does."""
    with dev_server(tmp_path) as server, entra_issuer(TENANT) as issuer:
        access = program_access(issuer, ADMINS, [PIPELINE])
        api = VaultApi(server.address, Retry(attempts=3, delay=0))
        try:
            vault_init.configure_access(api, server.root_token or "", access, first_time=True)
        finally:
            api.close()
        yield server, issuer, access


def provider_token(server: Server, issuer: Issuer, access: dict[str, Any]) -> str:
    """internal/provider/meta.go setClient: the JWT login, LookupSelf, a child token, SealStatus for the version."""
    jwt = issuer.token(PIPELINE)
    role = vault_login.login_role(vault_login.unverified_claims(jwt), access["deployerObjectIds"])
    status, login = server.request("POST", f"auth/{access['mount']}/login", body={"role": role, "jwt": jwt})
    assert status == 200, login
    token = login["auth"]["client_token"]
    assert server.request("GET", "auth/token/lookup-self", token)[0] == 200
    status, child = server.request(
        "POST", "auth/token/create", token, {"ttl": f"{vault_access.token_lifetime_seconds(CFG)}s", "renewable": False}
    )
    assert status == 200, child
    child_token = child["auth"]["client_token"]
    assert server.request("GET", "sys/seal-status", child_token)[0] == 200
    return child_token


def run_calls(server: Server, token: str, calls: list[Call], found: dict[str, str]) -> list[str]:
    """Every call in order; what went wrong, one line each. `found` carries values a later call needs."""
    problems = []
    for call in calls:
        if call.raft_only:
            needed = "read" if call.method == "GET" else "update"
            status, reply = server.request("POST", "sys/capabilities-self", token, {"paths": [call.path]})
            if status != 200 or needed not in reply.get(call.path, []):
                problems.append(f"{call.step}: {call.method} {call.path} -> capabilities {status} {reply}")
            continue
        text = json.dumps(call.body).replace("{accessor}", found.get("accessor", ""))
        body = json.loads(text.replace("{issuer}", found.get("issuer", ""))) if call.body else None
        status, reply = server.request(call.method, call.path, token, body)
        if status == 403 or not (status < 300 or status in call.allowed):
            problems.append(f"{call.step}: {call.method} {call.path} -> {status} {reply}")
        elif reply and "secret_id_accessor" in (reply.get("data") or {}):
            found["accessor"] = reply["data"]["secret_id_accessor"]
    return problems


@pytest.mark.vault_server
def test_the_deployer_token_makes_every_call_of_every_vault_resource_type(deployer):
    server, issuer, access = deployer
    token = provider_token(server, issuer, access)
    found: dict[str, str] = {"issuer": issuer.issuer}
    problems = []
    for kind in ORDER:
        problems += [
            f"{kind} {p}"
            for p in run_calls(server, token, [c for c in PROVIDER_CALLS[kind] if c.step != "delete"], found)
        ]
    # VaultInit's update (components/vault/init.py): the deployer's own login keeps itself current.
    for method, path, body in vault_login.access_requests(access, first_time=False):
        problems += [f"vault:Init {p}" for p in run_calls(server, token, [Call("update", method, path, body)], found)]
    for kind in reversed(ORDER):
        problems += [
            f"{kind} {p}"
            for p in run_calls(server, token, [c for c in PROVIDER_CALLS[kind] if c.step == "delete"], found)
        ]
    assert not problems, "\n".join(problems)
    # Everything is gone again: `pulumi destroy` works with the same token.
    assert f"{vault_access.APPROLE_PATH}/" not in server.root("GET", "sys/auth")["data"]
    assert f"{KV}/" not in server.root("GET", "sys/mounts")["data"]


def test_the_table_covers_every_vault_resource_type_the_program_plans(shared_plan):
    planned = {
        r.type for stack in ("staging", "prod") for r in shared_plan(stack).registrations if r.type.startswith("vault:")
    }
    assert planned == set(PROVIDER_CALLS)
