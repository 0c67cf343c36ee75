"""Concourse's access on a real Vault-API server: the KV mount, Concourse's policy and its approle as the staging
stack plans them (tools/offline.py), written by a real deployer login the way the provider writes them; Concourse's
reads made the way its credential manager makes them (concourse atc/creds/vault/api_client.go: an approle login
with the parameters of CONCOURSE_VAULT_AUTH_PARAM, then per secret the KV preflight
`GET sys/internal/ui/mounts/<path>/` and a read under `<mount>/data/`; vault.go: the team, pipeline and shared
lookup paths)."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from components import clock
from components.vault import access as vault_access
from components.vault import init as vault_init
from components.vault import login as vault_login
from components.vault.init import Retry, VaultApi
from tests.conftest import TODAY, cached_plan
from tests.entra import entra_issuer, program_access
from tests.vault_server import Server, dev_server
from tools import offline

pytestmark = pytest.mark.vault_server

TENANT = "00000000-0000-4000-8000-000000000001"
ADMINS = "11111111-0000-4000-8000-00000000000a"
PIPELINE = "22222222-0000-4000-8000-00000000000b"
ROLE_PATH = f"auth/{vault_access.APPROLE_PATH}/role/{vault_access.CONCOURSE_ROLE}"


def generated_id() -> str:
    """What the program's RandomPassword makes: letters and digits, ID_LENGTH of them."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(vault_access.ID_LENGTH))


@dataclass
class Env:
    server: Server
    deployer: str  # the provider's token, from a real JWT login
    mount: str
    role_id: str
    secret_id: str
    accessor: str


def ok(server: Server, method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    status, reply = server.request(method, path, token, body)
    assert status < 300, (method, path, status, reply)
    return reply


def push_secret_id(server: Server, token: str, metadata: str, secret_id: str) -> str:
    """The AuthBackendRoleSecretId resource's create (custom-secret-id: the id is the program's); its accessor."""
    reply = ok(server, "PUT", f"{ROLE_PATH}/custom-secret-id", token, {"secret_id": secret_id, "metadata": metadata})
    return reply["data"]["secret_id_accessor"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(clock.ENV, TODAY)
        plan = cached_plan("staging")
    with dev_server(tmp_path_factory.mktemp("bao")) as server, entra_issuer(TENANT) as issuer:
        access = program_access(issuer, ADMINS, [PIPELINE])
        api = VaultApi(server.address, Retry(attempts=3, delay=0))
        vault_init.configure_access(api, server.root_token or "", access, first_time=True)
        api.close()
        login = ok(server, "POST", "auth/entra/login", "", {"role": "pipeline", "jwt": issuer.token(PIPELINE)})
        token = login["auth"]["client_token"]

        mount = plan.get("vault:index/mount:Mount", "kv").inputs
        ok(server, "POST", f"sys/mounts/{mount['path']}", token, {k: mount[k] for k in ("type", "options")})
        policy = plan.get("vault:index/policy:Policy", "concourse-policy").inputs
        ok(server, "PUT", f"sys/policies/acl/{policy['name']}", token, {"policy": policy["policy"]})
        backend = plan.get("vault:index/authBackend:AuthBackend", "approle").inputs
        ok(server, "POST", f"sys/auth/{backend['path']}", token, {"type": backend["type"]})
        role = plan.get("vault:appRole/authBackendRole:AuthBackendRole", "concourse-role").inputs
        assert role["roleName"] == vault_access.CONCOURSE_ROLE and role["backend"] == vault_access.APPROLE_PATH
        fields = {"tokenPolicies": "token_policies", "tokenTtl": "token_ttl", "tokenMaxTtl": "token_max_ttl"}
        # The provider's schema types these as integers (the engine hands the plan's numbers over as floats).
        body = {key: role[name] for name, key in fields.items()} | {"secret_id_ttl": role["secretIdTtl"]}
        body = {key: int(value) if isinstance(value, float) else value for key, value in body.items()}
        ok(server, "PUT", ROLE_PATH, token, body)
        role_id, secret_id = generated_id(), generated_id()
        ok(server, "PUT", f"{ROLE_PATH}/role-id", token, {"role_id": role_id})
        planned = plan.get(
            "vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId", "concourse-secret-id"
        ).inputs
        accessor = push_secret_id(server, token, planned["metadata"], secret_id)
        yield Env(server, token, mount["path"], role_id, secret_id, accessor)


def concourse_login(env: Env, param: str) -> tuple[int, Any]:
    """Concourse's approle login: CONCOURSE_VAULT_AUTH_PARAM's `k:v,k:v` as the login body."""
    body = dict(pair.split(":", 1) for pair in param.split(","))
    return env.server.request("POST", f"auth/{vault_access.APPROLE_PATH}/login", body=body)


def concourse_read(env: Env, token: str, path: str) -> tuple[int, Any]:
    """One credential lookup as Concourse makes it: the KV preflight, then the read under data/."""
    status, mount = env.server.request("GET", f"sys/internal/ui/mounts/{path}/", token)
    if status != 200:
        return status, mount
    assert mount["data"]["options"]["version"] == vault_access.KV_VERSION
    mount_path = mount["data"]["path"]
    return env.server.request("GET", f"{mount_path}data/{path.removeprefix(mount_path)}", token)


def concourse_token(env: Env) -> str:
    status, reply = concourse_login(env, vault_access.auth_param(env.role_id, env.secret_id))
    assert status == 200, reply
    assert reply["auth"]["policies"] == ["concourse", "default"]
    return reply["auth"]["client_token"]


def test_concourse_reads_team_pipeline_and_shared_secrets(env: Env):
    cfg = offline.load_config("staging")
    team = cfg.teams[0].name
    paths = [f"{team}/db-password", f"{team}/deploy/api-key", f"{cfg.vault.shared_path}/registry-token"]
    for path in paths:
        ok(env.server, "POST", f"{env.mount}/data/{path}", env.server.root_token or "", {"data": {"value": path}})
    token = concourse_token(env)
    for path in paths:
        status, reply = concourse_read(env, token, f"{env.mount}/{path}")
        assert status == 200, (path, reply)
        assert reply["data"]["data"] == {"value": path}
    # The policy also lets the token list names under the team (metadata/ list), and nothing more there.
    assert env.server.request("GET", f"{env.mount}/metadata/{team}/?list=true", token)[0] == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "secret/data/elsewhere"),  # the dev server's own KV mount: outside Concourse's
        ("GET", "sys/policies/acl/cdstack-deployer"),
        ("GET", "{mount}/metadata/payments/db-password"),  # names may be listed, metadata not read
        ("POST", "{mount}/data/payments/db-password"),
        ("POST", "{mount}/data/shared/registry-token"),
        ("DELETE", "{mount}/data/payments/db-password"),
        ("DELETE", "{mount}/metadata/payments/db-password"),
        ("POST", "{mount}/destroy/payments/db-password"),
        ("POST", "sys/mounts/other"),
        ("POST", f"{ROLE_PATH}/secret-id"),
    ],
)
def test_concourse_is_denied_everything_else(env: Env, method: str, path: str):
    ok(env.server, "POST", "secret/data/elsewhere", env.server.root_token or "", {"data": {"value": "x"}})
    token = concourse_token(env)
    body = {"data": {"value": "planted"}} if method == "POST" else None
    status, reply = env.server.request(method, path.format(mount=env.mount), token, body)
    assert status == 403, reply


def test_bumping_the_secret_id_generation_invalidates_the_old_secret_id(env: Env):
    """The program's rotation: a new generation is a new RandomPassword and a replaced AuthBackendRoleSecretId,
    created before the old one is destroyed (replace_on_changes=["metadata"], Pulumi's create-before-delete)."""
    old_param = vault_access.auth_param(env.role_id, env.secret_id)
    assert concourse_login(env, old_param)[0] == 200
    new_secret = generated_id()
    # The next generation's metadata, as VaultAccess writes it (tests/test_vault_access.py checks the planned form).
    new_accessor = push_secret_id(env.server, env.deployer, json.dumps({"generation": "2"}), new_secret)
    new_param = vault_access.auth_param(env.role_id, new_secret)
    # Between the two steps both work: Concourse's web rolls out with the new id while the old still logs in.
    assert concourse_login(env, old_param)[0] == concourse_login(env, new_param)[0] == 200
    ok(env.server, "PUT", f"{ROLE_PATH}/secret-id-accessor/destroy", env.deployer, {"secret_id_accessor": env.accessor})
    status, reply = concourse_login(env, old_param)
    assert status == 400 and "invalid" in json.dumps(reply).lower(), reply
    assert concourse_login(env, new_param)[0] == 200
    env.secret_id, env.accessor = new_secret, new_accessor


def test_the_approle_login_needs_both_halves(env: Env):
    assert concourse_login(env, vault_access.auth_param(env.role_id, generated_id()))[0] == 400
    assert concourse_login(env, vault_access.auth_param(generated_id(), env.secret_id))[0] == 400
    status, reply = env.server.request("GET", "auth/token/lookup-self", concourse_token(env))
    assert status == 200 and vault_login.DEPLOYER_POLICY not in reply["data"]["policies"]
