"""The deployer login on a real Vault-API server: the program's JWT auth configuration and roles, written as the
initialiser writes them, and Entra-ID-shaped ARM tokens signed by a test issuer that Vault discovers over OIDC
(tests/entra.py). Who gets in, with which policy, and who is refused: all decided by the real server, except the
overage token, which the program refuses itself before Vault is asked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from components.vault import init as vault_init
from components.vault import login as vault_login
from components.vault.init import Retry, VaultApi, VaultInitError
from tests.entra import Issuer, entra_issuer, program_access
from tests.faultproxy import FaultProxy, fault_proxy
from tests.vault_server import Server, dev_server

pytestmark = pytest.mark.vault_server

TENANT = "00000000-0000-4000-8000-000000000001"
ADMINS = "11111111-0000-4000-8000-00000000000a"
PIPELINE = "22222222-0000-4000-8000-00000000000b"
PERSON = "44444444-0000-4000-8000-00000000000d"
OTHER_GROUP = "55555555-0000-4000-8000-00000000000e"
NO_WAIT = Retry(attempts=3, delay=0)


@dataclass
class Env:
    server: Server
    proxy: FaultProxy  # records what reached Vault; plants nothing here
    issuer: Issuer
    access: dict[str, Any]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One server for the module: logins do not change what they log in to."""
    with (
        dev_server(tmp_path_factory.mktemp("bao")) as server,
        entra_issuer(TENANT) as issuer,
        fault_proxy(server.address) as proxy,
    ):
        access = program_access(issuer, ADMINS, [PIPELINE])
        api = VaultApi(server.address, NO_WAIT)
        vault_init.configure_access(api, server.root_token or "", access, first_time=True)
        api.close()
        yield Env(server, proxy, issuer, access)


def login(env: Env, jwt: str) -> str:
    """The program's own login (vault_init.deployer_login: the role from the token, then Vault)."""
    api = VaultApi(env.proxy.address, NO_WAIT)
    try:
        return vault_init.deployer_login(api, jwt, env.access)
    finally:
        api.close()


def policies_of(env: Env, token: str) -> list[str]:
    status, reply = env.server.request("GET", "auth/token/lookup-self", token)
    assert status == 200, reply
    return reply["data"]["policies"]


@pytest.mark.parametrize("audience", vault_login.ARM_AUDIENCES)
def test_an_admin_group_member_gets_the_deployer_policy(env: Env, audience: str):
    token = login(env, env.issuer.token(PERSON, audience=audience, groups=[OTHER_GROUP, ADMINS]))
    assert policies_of(env, token) == ["cdstack-deployer", "default"]
    _, reply = env.server.request("GET", "auth/token/lookup-self", token)
    assert reply["data"]["meta"]["role"] == vault_login.ADMINS_ROLE
    assert 0 < reply["data"]["ttl"] <= env.access["tokenSeconds"]


def test_a_listed_deployer_principal_gets_the_deployer_policy_without_groups(env: Env):
    token = login(env, env.issuer.token(PIPELINE))  # an app-only token: no groups claim
    assert policies_of(env, token) == ["cdstack-deployer", "default"]


@pytest.mark.parametrize(
    ("oid", "claims", "how"),
    [
        (PERSON, {"groups": [OTHER_GROUP]}, "not in the admin group"),
        (PERSON, {"groups": [ADMINS], "aud": "https://graph.microsoft.com"}, "a Graph token, not ARM"),
        (PERSON, {"groups": [ADMINS], "iss": "https://sts.windows.net/another-tenant/"}, "another issuer"),
        (PERSON, {"groups": [ADMINS], "exp": 1_000_000_000}, "expired"),
    ],
)
def test_others_are_refused_by_vault(env: Env, oid: str, claims: dict[str, Any], how: str):
    """`how` names the case."""
    claims = dict(claims)
    audience = claims.pop("aud", vault_login.ARM_AUDIENCES[0])
    with pytest.raises(VaultInitError, match=r"JWT login .* failed: 400"):
        login(env, env.issuer.token(oid, audience=audience, **claims))


def test_an_unlisted_principal_cannot_claim_the_pipeline_role(env: Env):
    jwt = env.issuer.token(PERSON, groups=[ADMINS])
    status, reply = env.server.request("POST", "auth/entra/login", body={"role": vault_login.PIPELINE_ROLE, "jwt": jwt})
    assert status == 400, reply


def test_a_token_signed_by_another_key_is_refused(env: Env):
    with entra_issuer(TENANT) as impostor:
        forged = Issuer(env.issuer.issuer, TENANT, impostor.key, env.issuer.kid).token(PERSON, groups=[ADMINS])
    with pytest.raises(VaultInitError, match="failed: 400"):
        login(env, forged)


@pytest.mark.parametrize(
    ("claims", "why"),
    [({"_claim_names": {"groups": "src1"}}, "more than 200 groups"), ({}, "sends none for this principal")],
)
def test_a_token_without_groups_gets_the_projects_message_before_vault_is_asked(
    env: Env, claims: dict[str, Any], why: str
):
    before = len(env.proxy.exchanges)
    jwt = env.issuer.token(PERSON, **claims)
    with pytest.raises(ValueError, match=f"object id {PERSON} has no `groups` claim.*{why}.*vault.deployerObjectIds"):
        login(env, jwt)
    assert len(env.proxy.exchanges) == before  # Vault never saw it
    # What Vault would have said instead: a bare refusal that names nothing to do.
    status, reply = env.server.request("POST", "auth/entra/login", body={"role": vault_login.ADMINS_ROLE, "jwt": jwt})
    assert status == 400 and "deployerObjectIds" not in str(reply)
