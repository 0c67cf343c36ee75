"""The infra pipeline's Concourse token logs the `up` job into a real Vault-API server through the role the program
configures (components/vault/pipeline_login.py), and nothing else does: a token for another job's subject, for
Entra's audience, signed by another key, or expired, is refused. The token is shaped exactly as Concourse v8.1.1
signs it and its issuer serves the discovery document and JWKS where the ATC does (tests/concourse_idtoken.py);
every check of it is the real server's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from components import network_edges
from components.concourse import idtoken, infra_pipeline
from components.config.schema import StackConfig
from components.vault import access as vault_access
from components.vault import init as vault_init
from components.vault import login as vault_login
from components.vault import pipeline_login as vault_pipeline_login
from components.vault.bootstrap import deployer_policy
from components.vault.init import Retry, VaultApi
from tests.concourse_idtoken import ConcourseIssuer, concourse_issuer
from tests.entra import entra_issuer
from tests.services import stack_cfg
from tests.vault_server import Server, dev_server
from tools import offline

TENANT = "00000000-0000-4000-8000-000000000001"
ADMINS = "11111111-0000-4000-8000-00000000000a"
INFRA_ISSUER = "https://ci.infra.example.com"


def trusting_cfg() -> StackConfig:
    """Staging as committed: it names the infra stack (cdstack:infraStack)."""
    return stack_cfg("staging")


def untrusting_cfg() -> StackConfig:
    return stack_cfg("staging", infraStack=None)


def trust_for(cfg: StackConfig) -> dict[str, Any] | None:
    """What the StackReference gives a stack that names the infra stack: an issuer (here a test's) and the subjects
    the infra stack computes (tests/test_infra_trust.py plans the real read)."""
    if cfg.infra_stack is None:
        return None
    return vault_pipeline_login.trust_from(INFRA_ISSUER, infra_pipeline.up_subject(cfg.stack))


def test_the_trust_is_the_up_jobs_subject_and_vaults_own_audience():
    outputs = {
        "concourseIssuer": INFRA_ISSUER,
        "pipelineSubjects": {
            "staging": infra_pipeline.trust_outputs(offline.load_config("infra"))["pipelineSubjects"]["staging"]
        },
    }
    trust = vault_pipeline_login.trust_of(trusting_cfg(), outputs)
    assert trust == {
        "mount": "infra-concourse",
        "issuer": INFRA_ISSUER,
        "subject": "main/cdstack//staging-up",
        "audience": vault_pipeline_login.VAULT_AUDIENCE,
    }
    assert trust == trust_for(trusting_cfg())
    assert vault_pipeline_login.VAULT_AUDIENCE != idtoken.AZURE_AUDIENCE  # not replayable at Entra ID, nor back
    assert trust_for(untrusting_cfg()) is None
    spec = vault_login.access_spec(TENANT, ADMINS, [], "policy", 60)
    assert "infraPipeline" not in spec and vault_pipeline_login.requests(spec) == []


def test_vault_reaches_the_infra_issuer():
    """Vault fetches the issuer's discovery document and keys itself: its egress must allow the issuer's port (the
    config admits only https on 443) to public addresses."""
    edges = [e for e in network_edges.required_edges(trusting_cfg()) if e.source == network_edges.VAULT]
    assert any(e.target == network_edges.INTERNET and network_edges.Port(443) in e.ports for e in edges), edges


@dataclass
class Env:
    server: Server
    concourse: ConcourseIssuer
    spec: dict[str, Any]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    cfg = trusting_cfg()
    with dev_server(tmp_path_factory.mktemp("bao")) as server, entra_issuer(TENANT) as entra, concourse_issuer() as ci:
        spec = vault_login.access_spec(
            TENANT,
            ADMINS,
            [],
            deployer_policy(cfg),
            vault_access.token_lifetime_seconds(cfg),
            trust_for(cfg),
        )
        # The two values a test cannot keep: the issuers are on 127.0.0.1.
        spec["issuer"] = entra.issuer
        spec["infraPipeline"]["issuer"] = ci.issuer
        api = VaultApi(server.address, Retry(attempts=3, delay=0))
        vault_init.configure_access(api, server.root_token or "", spec, first_time=True)
        api.close()
        yield Env(server, ci, spec)


def login(env: Env, token: str) -> tuple[int, Any]:
    body = {"role": vault_pipeline_login.ROLE, "jwt": token}
    return env.server.request("POST", f"auth/{vault_pipeline_login.MOUNT}/login", body=body)


def vault_token(env: Env, job: str, **kwargs: Any) -> str:
    kwargs.setdefault("audience", [vault_pipeline_login.VAULT_AUDIENCE])
    return env.concourse.token("main", "cdstack", job, **kwargs)


@pytest.mark.vault_server
def test_the_up_job_logs_in_with_the_deployer_policy_and_keeps_its_own_login_current(env: Env):
    status, reply = login(env, vault_token(env, "staging-up"))
    assert status == 200, reply
    assert sorted(reply["auth"]["token_policies"]) == [vault_login.DEPLOYER_POLICY, "default"]
    assert reply["auth"]["lease_duration"] == env.spec["tokenSeconds"]
    # With that token alone, an `up` rewrites the whole deployer login, this mount included (its policy allows it).
    api = VaultApi(env.server.address, Retry(attempts=3, delay=0))
    vault_init.configure_access(api, reply["auth"]["client_token"], env.spec, first_time=False)
    api.close()


@pytest.mark.vault_server
@pytest.mark.parametrize(
    ("what", "job", "kwargs"),
    [
        ("another pipeline job's subject", "staging-smoke", {}),
        ("prod's up job", "prod-up", {}),
        ("Entra's audience", "staging-up", {"audience": [idtoken.AZURE_AUDIENCE]}),
        ("an expired token", "staging-up", {"lifetime": -120}),
    ],
)
def test_any_other_token_is_refused(env: Env, what: str, job: str, kwargs: dict[str, Any]):
    status, reply = login(env, vault_token(env, job, **kwargs))
    assert status >= 400, (what, reply)


@pytest.mark.vault_server
def test_a_token_signed_by_another_key_is_refused(env: Env):
    forger = ConcourseIssuer(
        env.concourse.issuer, rsa.generate_private_key(public_exponent=65537, key_size=2048), uuid.uuid4().hex
    )
    status, _ = login(
        env, forger.token("main", "cdstack", "staging-up", audience=[vault_pipeline_login.VAULT_AUDIENCE])
    )
    assert status >= 400


@pytest.mark.vault_server
def test_a_concourse_with_another_issuer_url_is_refused(env: Env):
    other = ConcourseIssuer(env.concourse.issuer + "/x", env.concourse.key, env.concourse.kid)
    status, _ = login(env, other.token("main", "cdstack", "staging-up", audience=[vault_pipeline_login.VAULT_AUDIENCE]))
    assert status >= 400


# --- the program chooses the login by the token it is given ----------------------------------------------------------

INFRA = ConcourseIssuer(INFRA_ISSUER, rsa.generate_private_key(public_exponent=65537, key_size=2048), "k1")
CLIENT = "9e8d7c6b-0000-4000-8000-00000000000b"


def pipeline_deployer(job: str = "staging-up", **kwargs: Any) -> vault_login.Deployer:
    kwargs.setdefault("audience", [vault_pipeline_login.VAULT_AUDIENCE])
    return vault_login.Deployer(INFRA.token("main", "cdstack", job, **kwargs), CLIENT)


def test_an_infra_pipeline_token_logs_in_at_its_mount_and_needs_no_listed_object_id():
    trusted = trust_for(trusting_cfg())
    deployer = pipeline_deployer()
    assert vault_login.login_mount(deployer, trusted) == vault_pipeline_login.MOUNT
    assert vault_login.vault_login_role(deployer, [], trusted) == vault_pipeline_login.ROLE
    # the identity check compares an Entra token's appid with the environment's client id: not this token's business
    assert vault_login.identity_problems(deployer, [], trusted) == []
    # a stack that does not trust it sees an unknown token: the Entra ID path, which then asks for a listed identity
    assert vault_login.login_mount(deployer, None) == vault_login.ENTRA_MOUNT
    assert vault_login.identity_problems(deployer, [], None)


@pytest.mark.parametrize(
    ("deployer", "message"),
    [
        (pipeline_deployer("prod-up"), "accepts only 'main/cdstack//staging-up'"),
        (pipeline_deployer(audience=[idtoken.AZURE_AUDIENCE]), "needs 'cdstack-vault'"),
        (pipeline_deployer(lifetime=30), "too soon"),
    ],
)
def test_a_token_vault_would_refuse_stops_the_program_first(deployer: vault_login.Deployer, message: str):
    with pytest.raises(vault_login.DeployerError, match=message):
        vault_login.vault_login_role(deployer, [], trust_for(trusting_cfg()))


@pytest.mark.vault_server
def test_an_existing_vault_gains_the_trust_through_the_deployers_own_login(tmp_path: Path):
    """A stack that sets `infraStack` after its first `up`: the update logs in as the Entra ID deployer
    (vault_init.deployer_login, with the policy Vault holds) and, with that token alone, writes the new policy, then
    enables and configures the mount; the `up` job's token logs in afterwards."""
    deployer_oid = "22222222-0000-4000-8000-00000000000b"
    before, after = untrusting_cfg(), trusting_cfg()
    with dev_server(tmp_path / "bao") as server, entra_issuer(TENANT) as entra, concourse_issuer() as ci:

        def spec(cfg: StackConfig) -> dict[str, Any]:
            made = vault_login.access_spec(
                TENANT,
                ADMINS,
                [deployer_oid],
                deployer_policy(cfg),
                vault_access.token_lifetime_seconds(cfg),
                trust_for(cfg),
            )
            made["issuer"] = entra.issuer
            if "infraPipeline" in made:
                made["infraPipeline"]["issuer"] = ci.issuer
            return made

        api = VaultApi(server.address, Retry(attempts=3, delay=0))
        vault_init.configure_access(api, server.root_token or "", spec(before), first_time=True)
        env = Env(server, ci, spec(after))
        status, _ = login(env, vault_token(env, "staging-up"))
        assert status >= 400  # no such mount yet
        token = vault_init.deployer_login(api, entra.token(deployer_oid), spec(before))
        vault_init.configure_access(api, token, spec(after), first_time=False)
        api.close()
        status, reply = login(env, vault_token(env, "staging-up"))
        assert status == 200, reply
