"""The Vault initialiser against a real Vault-API server auto-unsealed like production's (tests/vault_server.py), seen
through a fault proxy only for what one real server cannot produce (tests/faultproxy.py: the ingress's 502s, sealed
standbys' 503s and 500s, lost responses), with a fake Key Vault (tests/fakekeyvault.py: no Key Vault engine here)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components import naming
from components.vault import init as vault_init
from components.vault import login as vault_login
from components.vault.init import InitRequest, Journal, Retry, VaultApi, VaultInitError, VaultInitProvider, initialise
from tests.entra import Issuer, entra_issuer, program_access
from tests.fakekeyvault import Crash, FakeKeyVault
from tests.faultproxy import PASS, FaultProxy, Lost, fault_proxy
from tests.vault_server import Server, auto_unsealed_server, generate_root

KV_URL = "https://kv-contoso-staging.vault.azure.net/"
TENANT = "00000000-0000-4000-8000-000000000001"
ADMINS = "11111111-0000-4000-8000-00000000000a"
PIPELINE = "22222222-0000-4000-8000-00000000000b"
NO_WAIT = Retry(attempts=5, delay=0, sleep=lambda _: None)
QUICK = Retry(attempts=100, delay=0.05)
"""A real server takes a moment to unseal after sys/init: the initialiser's retries, at test speed."""


@dataclass
class Env:
    server: Server  # the real server
    proxy: FaultProxy  # in front of it: what the initialiser talks to
    issuer: Issuer  # Entra ID's stand-in, for the deployer login
    access: dict[str, Any]  # the program's deployer login spec


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[Env]:
    with (
        auto_unsealed_server(tmp_path / "bao") as server,
        fault_proxy(server.address) as proxy,
        entra_issuer(TENANT) as issuer,
    ):
        yield Env(server, proxy, issuer, program_access(issuer, ADMINS, [PIPELINE]))


def run(env: Env, store: FakeKeyVault, journal_dir: Path, retry: Retry = QUICK, **changes: Any) -> vault_init.Outcome:
    api = VaultApi(env.proxy.address, retry)
    request = InitRequest(env.proxy.address, KV_URL, 5, 3, changes.get("access", env.access))
    try:
        return initialise(api, store, Journal(journal_dir, KV_URL), request, retry)
    finally:
        api.close()


def init_reply(env: Env) -> dict[str, Any]:
    """What the real server's sys/init returned (seen by the proxy, whether or not the client got it)."""
    [init] = [e for e in env.proxy.calls("PUT", "sys/init") if e.reply is not None]
    return init.reply


def revoked(env: Env, token: str) -> bool:
    status, _ = env.server.request("GET", "auth/token/lookup-self", token)
    return status == 403


def deployer_token(env: Env, oid: str = PIPELINE, **claims: Any) -> str:
    """A real JWT login of a deployer, as the Vault provider makes it."""
    jwt = env.issuer.token(oid, **claims)
    role = vault_login.login_role(vault_login.unverified_claims(jwt), env.access["deployerObjectIds"])
    status, reply = env.server.request("POST", "auth/entra/login", body={"role": role, "jwt": jwt})
    assert status == 200, reply
    return reply["auth"]["client_token"]


def read(env: Env, token: str, path: str) -> Any:
    status, reply = env.server.request("GET", path, token)
    assert status == 200, (path, status, reply)
    return reply["data"]


def fake_jwt(oid: str, **claims: Any) -> str:
    """An unsigned token, for login_role alone (Vault never sees it)."""
    import base64

    payload = base64.urlsafe_b64encode(json.dumps({"oid": oid, **claims}).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJSUzI1NiJ9.{payload}.signature"


@pytest.mark.vault_server
def test_first_up_initialises_stores_every_key_sets_up_the_login_and_revokes_root(vault: Env, tmp_path: Path):
    store = FakeKeyVault()
    vault.proxy.plan("", 502, 502, 502)  # the ingress has no endpoint yet
    outcome = run(vault, store, tmp_path / "journal")

    assert outcome == vault_init.Outcome(initialized_now=True, bootstrapped_now=True)
    status = vault.server.root("GET", "sys/seal-status")
    assert (status["initialized"], status["sealed"]) == (True, False)
    reply = init_reply(vault)
    assert reply["keys"] == [] and len(reply["recovery_keys_base64"]) == 5  # recovery keys only: an auto-unseal
    for i, key in enumerate(reply["recovery_keys_base64"]):
        assert store.get(naming.vault_recovery_key_secret(i)) == key
    assert store.get(naming.VAULT_ROOT_TOKEN_SECRET) == reply["root_token"]
    assert revoked(vault, reply["root_token"])  # a real lookup of the root token fails
    assert json.loads(store.get(naming.VAULT_INIT_MARKER_SECRET) or "")["state"] == "stored"
    assert not list((tmp_path / "journal").iterdir())  # the journal is gone once Key Vault holds the keys
    # The marker (proof that Key Vault takes writes) precedes sys/init.
    assert store.versions[naming.VAULT_INIT_MARKER_SECRET][0].startswith('{"state": "initialising"')

    # The login the root token set up, read back with a real deployer login.
    token = deployer_token(vault)
    assert read(vault, token, "auth/token/lookup-self")["policies"] == ["cdstack-deployer", "default"]
    config = read(vault, token, "auth/entra/config")
    assert config["oidc_discovery_url"] == config["bound_issuer"] == vault.issuer.issuer
    admins, pipeline = read(vault, token, "auth/entra/role/admins"), read(vault, token, "auth/entra/role/pipeline")
    assert admins["bound_claims"] == {"groups": [ADMINS]}
    assert pipeline["bound_claims"] == {"oid": [PIPELINE]}
    for role in (admins, pipeline):
        assert role["role_type"] == "jwt"
        assert role["user_claim"] == "oid"
        assert role["bound_audiences"] == list(vault_login.ARM_AUDIENCES)
        assert role["token_policies"] == ["cdstack-deployer"]
        assert role["token_ttl"] == role["token_max_ttl"] == vault.access["tokenSeconds"]
    assert read(vault, token, "sys/policies/acl/cdstack-deployer")["policy"] == vault.access["policy"]


@pytest.mark.vault_server
def test_second_run_changes_nothing(vault: Env, tmp_path: Path):
    store = FakeKeyVault()
    run(vault, store, tmp_path)
    before = {name: list(values) for name, values in store.versions.items()}
    calls_before = len(vault.proxy.exchanges)

    outcome = run(vault, store, tmp_path)

    assert outcome == vault_init.Outcome(initialized_now=False, bootstrapped_now=False)
    assert store.versions == before  # no new secret version
    new_calls = [(e.method, e.path) for e in vault.proxy.exchanges[calls_before:]]
    assert new_calls and all(method == "GET" for method, _ in new_calls), new_calls  # reads only
    assert len(vault.proxy.calls("PUT", "sys/init")) == 1


@pytest.mark.vault_server
def test_role_assignment_not_yet_propagated_is_waited_for_before_init(vault: Env, tmp_path: Path):
    store = FakeKeyVault(forbidden_writes=3)
    run(vault, store, tmp_path)
    assert store.get(naming.VAULT_ROOT_TOKEN_SECRET) == init_reply(vault)["root_token"]


@pytest.mark.vault_server
def test_no_write_access_stops_before_init(vault: Env, tmp_path: Path):
    store = FakeKeyVault(forbidden_writes=100)
    with pytest.raises(VaultInitError, match="write to Key Vault: still failing"):
        run(vault, store, tmp_path, retry=NO_WAIT)
    assert vault.server.request("GET", "sys/seal-status")[1]["initialized"] is False  # nothing irreversible


@pytest.mark.vault_server
def test_crash_between_init_and_key_storage_loses_nothing(vault: Env, tmp_path: Path):
    store = FakeKeyVault(crash_on=naming.vault_recovery_key_secret(2))
    with pytest.raises(Crash):
        run(vault, store, tmp_path)
    reply = init_reply(vault)
    assert store.get(naming.VAULT_ROOT_TOKEN_SECRET) is None  # stored last: its absence says "incomplete"
    journal = Journal(tmp_path, KV_URL).path
    raw = journal.read_bytes()
    assert reply["root_token"].encode() not in raw  # encrypted
    assert not any(key.encode() in raw for key in reply["recovery_keys_base64"])

    outcome = run(vault, store, tmp_path)  # the next `pulumi up`

    assert outcome == vault_init.Outcome(initialized_now=False, bootstrapped_now=True)
    assert len(vault.proxy.calls("PUT", "sys/init")) == 1
    assert [store.get(naming.vault_recovery_key_secret(i)) for i in range(5)] == reply["recovery_keys_base64"]
    assert store.get(naming.VAULT_ROOT_TOKEN_SECRET) == reply["root_token"]
    assert revoked(vault, reply["root_token"])
    assert not journal.exists()


@pytest.mark.vault_server
def test_planted_mistake_keys_stored_before_the_journal_would_lose_them(
    vault: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The write order is what makes the crash test pass: without the journal the keys die with the process."""
    monkeypatch.setattr(Journal, "save", lambda self, response, key: None)
    store = FakeKeyVault(crash_on=naming.vault_recovery_key_secret(0))
    with pytest.raises(Crash):
        run(vault, store, tmp_path)
    with pytest.raises(VaultInitError, match="stopped before its keys reached Key Vault"):
        run(vault, store, tmp_path)


@pytest.mark.vault_server
def test_journal_from_another_machine_is_named(vault: Env, tmp_path: Path):
    store = FakeKeyVault(crash_on=naming.VAULT_ROOT_TOKEN_SECRET)
    with pytest.raises(Crash):
        run(vault, store, tmp_path / "laptop")
    with pytest.raises(VaultInitError, match=r"journal is at .*laptop.*run `pulumi up` there") as error:
        run(vault, store, tmp_path / "pipeline")
    assert "consul kv delete -recurse vault/" in str(error.value)


def init_by_hand(env: Env) -> dict[str, Any]:
    """`vault operator init` run by a person, straight at the server (not through the initialiser)."""
    status, reply = env.server.request("PUT", "sys/init", body={"recovery_shares": 5, "recovery_threshold": 3})
    assert status == 200, reply
    return reply


@pytest.mark.vault_server
def test_initialised_by_hand_stops_and_says_what_to_do(vault: Env, tmp_path: Path):
    init_by_hand(vault)
    with pytest.raises(VaultInitError) as error:
        run(vault, FakeKeyVault(), tmp_path)
    message = str(error.value)
    assert "initialised by hand" in message
    assert f"az keyvault secret set --vault-url {KV_URL} --name vault-root-token" in message
    assert "vault-recovery-key-<i>" in message
    assert vault.proxy.calls("PUT", "sys/init") == []


@pytest.mark.vault_server
def test_keys_put_there_by_hand_are_adopted(vault: Env, tmp_path: Path):
    reply = init_by_hand(vault)
    store = FakeKeyVault()
    for i, key in enumerate(reply["recovery_keys_base64"]):
        store.set(naming.vault_recovery_key_secret(i), key)
    store.set(naming.VAULT_ROOT_TOKEN_SECRET, reply["root_token"])
    outcome = run(vault, store, tmp_path)
    assert outcome == vault_init.Outcome(initialized_now=False, bootstrapped_now=True)
    assert read(vault, deployer_token(vault), "auth/entra/role/admins")["bound_claims"] == {"groups": [ADMINS]}
    assert revoked(vault, reply["root_token"])


@pytest.mark.vault_server
@pytest.mark.parametrize(
    ("fault", "initialised"),
    [(500, False), (Lost(500), True), (Lost(), True)],
    ids=["500-before-init", "500-after-init", "response-lost"],
)
def test_init_failures(vault: Env, tmp_path: Path, fault: int | Lost, initialised: bool):
    vault.proxy.plan("sys/init", fault)
    store = FakeKeyVault()
    if not initialised:
        with pytest.raises(VaultInitError, match="still uninitialised, so run `pulumi up` again"):
            run(vault, store, tmp_path)
        run(vault, store, tmp_path)  # and the next run initialises
        assert store.get(naming.VAULT_ROOT_TOKEN_SECRET) == init_reply(vault)["root_token"]
    else:
        with pytest.raises(VaultInitError, match=r"did not return its response .* never reached cdstack"):
            run(vault, store, tmp_path)
        assert len(vault.proxy.calls("PUT", "sys/init")) == 1  # never a second init against an initialised Vault
        assert vault.server.request("GET", "sys/seal-status")[1]["initialized"] is True


@pytest.mark.vault_server
def test_standbys_still_sealed_at_bootstrap_are_waited_out(vault: Env, tmp_path: Path):
    """Issue 28 item 2: after sys/init the ingress still reaches sealed standbys (503) and standbys that have not found
    the active node (500) for several seconds; every call of the bootstrap rides them out."""
    # The first seal-status is before sys/init; then one unsealed answer, a sealed standby's, and so on.
    vault.proxy.plan("sys/seal-status", PASS, PASS, 503, PASS, 500, PASS)
    vault.proxy.plan("auth/token/lookup-self", 503, 500, 429)
    vault.proxy.plan("sys/auth/", 503, Lost(502))  # the second enables it, and its answer is lost
    vault.proxy.plan("auth/entra/config", 500)
    vault.proxy.plan("sys/policies/acl/", 429)
    vault.proxy.plan("auth/token/revoke-self", Lost())  # revoked, the answer lost: the retry's 403 means done
    store = FakeKeyVault()

    outcome = run(vault, store, tmp_path)

    assert outcome == vault_init.Outcome(initialized_now=True, bootstrapped_now=True)
    assert revoked(vault, init_reply(vault)["root_token"])
    assert read(vault, deployer_token(vault), "auth/entra/role/admins")["bound_claims"] == {"groups": [ADMINS]}


@pytest.mark.vault_server
def test_unsealed_means_several_unsealed_answers_in_a_row(vault: Env, tmp_path: Path):
    run(vault, FakeKeyVault(), tmp_path)
    api = VaultApi(vault.proxy.address, NO_WAIT)
    before = len(vault.proxy.calls("GET", "sys/seal-status"))
    vault.proxy.plan("sys/seal-status", PASS, 503, PASS, PASS, 500)
    with pytest.raises(VaultInitError, match="did not answer sys/seal-status unsealed 3 times in a row in 5 attempts"):
        api.wait_unsealed()
    vault.proxy.plan("sys/seal-status", PASS, 503)
    api.wait_unsealed()
    assert len(vault.proxy.calls("GET", "sys/seal-status")) - before == 5 + 2 + vault_init.UNSEALED_IN_A_ROW
    api.close()


@pytest.mark.vault_server
def test_a_sealed_vault_is_waited_for_then_reported(vault: Env, tmp_path: Path):
    store = FakeKeyVault()
    run(vault, store, tmp_path)
    reply = init_reply(vault)
    root = generate_root(vault.server, reply["recovery_keys_base64"][:3])
    vault.server.root_token = root
    vault.server.root("POST", "sys/seal")  # stays sealed: an auto-unseal seal unseals only at start
    with pytest.raises(VaultInitError, match="stays sealed: auto-unseal through Key Vault is failing"):
        run(vault, store, tmp_path, retry=NO_WAIT)


def test_vault_that_never_answers(tmp_path: Path):
    api = VaultApi("http://127.0.0.1:9", NO_WAIT)  # discard port: connection refused
    with pytest.raises(VaultInitError, match=r"sys/seal-status still failing after 5 attempts .*ingress certificate"):
        initialise(api, FakeKeyVault(), Journal(tmp_path, KV_URL), InitRequest(api.address, KV_URL, 5, 3, {}), NO_WAIT)


@pytest.mark.vault_server
def test_provider_create_is_an_adoption_on_a_new_state_and_update_uses_the_deployer_login(vault: Env, tmp_path: Path):
    store = FakeKeyVault()
    provider = VaultInitProvider(QUICK, str(tmp_path), lambda url: store, lambda: vault.issuer.token(PIPELINE))
    props = {
        "address": vault.proxy.address,
        "keyVaultUrl": KV_URL,
        "recoveryShares": 5.0,  # numbers arrive as floats from the engine
        "recoveryThreshold": 3.0,
        "access": vault.access,
        "initialized": None,
        "rootTokenRevoked": None,
    }
    created = provider.create(props)
    assert created.outs is not None
    outs = json.dumps(created.outs)
    reply = init_reply(vault)
    assert reply["root_token"] not in outs
    assert not any(key in outs for key in reply["recovery_keys_base64"])
    assert created.outs["initialized"] is True
    assert created.outs["initialisedHere"] is True

    again = provider.create(props)  # a new stack state against the same Vault: adopted, nothing written
    assert again.id == created.id
    assert again.outs is not None and again.outs["initialisedHere"] is False
    assert len(vault.proxy.calls("PUT", "sys/init")) == 1

    assert not provider.diff(created.id, created.outs, props).changes
    news = {**props, "access": {**vault.access, "deployerObjectIds": []}}
    assert provider.diff(created.id, created.outs, news).changes
    provider.update(created.id, created.outs, news)
    admin = deployer_token(vault, "33333333-0000-4000-8000-00000000000c", groups=[ADMINS])
    assert vault.server.request("GET", "auth/entra/role/pipeline", admin)[0] == 404
    [logout] = vault.proxy.calls("POST", "auth/token/revoke-self")[-1:]
    assert logout.status == 204  # the update's own login is revoked again


def test_recovery_threshold_is_checked():
    check = VaultInitProvider().check({}, {"recoveryShares": 3.0, "recoveryThreshold": 4.0})
    assert [failure.property for failure in check.failures] == ["recoveryThreshold"]


@pytest.mark.vault_server
def test_a_journal_left_after_the_keys_were_stored_is_removed(vault: Env, tmp_path: Path):
    store = FakeKeyVault()
    run(vault, store, tmp_path)
    journal = Journal(tmp_path, KV_URL)
    journal.save({"root_token": "stale"}, b"0" * 43 + b"=")
    run(vault, store, tmp_path)
    assert not journal.path.exists()


def test_the_pipeline_uses_its_arm_service_principal_and_a_laptop_az_login(monkeypatch: pytest.MonkeyPatch):
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    for name in ("ARM_CLIENT_ID", "ARM_CLIENT_SECRET", "ARM_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(vault_login.azure_credential(), DefaultAzureCredential)
    monkeypatch.setenv("ARM_CLIENT_ID", "00000000-0000-4000-8000-000000000003")
    monkeypatch.setenv("ARM_CLIENT_SECRET", "not-a-real-secret")
    monkeypatch.setenv("ARM_TENANT_ID", TENANT)
    assert isinstance(vault_login.azure_credential(), ClientSecretCredential)


def test_login_role_follows_the_token_and_config():
    assert vault_login.login_role(vault_login.unverified_claims(fake_jwt(PIPELINE)), [PIPELINE]) == "pipeline"
    person = fake_jwt("someone", groups=["00000000-0000-4000-8000-0000000000ad"])
    assert vault_login.login_role(vault_login.unverified_claims(person), [PIPELINE]) == "admins"
    with pytest.raises(ValueError, match="not a JWT"):
        vault_login.unverified_claims("opaque-token")
