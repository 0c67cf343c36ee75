"""The Vault initialiser against a fake Vault API on 127.0.0.1 and a fake Key Vault (tests/fakevault.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components import naming, vault_init, vault_login
from components.vault_init import InitRequest, Journal, Retry, VaultApi, VaultInitError, VaultInitProvider, initialise
from tests.fakevault import Crash, FakeKeyVault, FakeVault, running_vault

KV_URL = "https://kv-contoso-staging.vault.azure.net/"
TENANT = "00000000-0000-4000-8000-000000000001"
ADMINS = "11111111-0000-4000-8000-00000000000a"
PIPELINE = "22222222-0000-4000-8000-00000000000b"
NO_WAIT = Retry(attempts=5, delay=0, sleep=lambda _: None)


def access(deployers: list[str] | None = None) -> dict:
    policy = vault_login.deployer_policy("concourse", "concourse", "stdout")
    return vault_login.access_spec(TENANT, ADMINS, deployers if deployers is not None else [PIPELINE], policy, 12600)


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    with running_vault() as fake:
        yield fake


def request(fake: FakeVault, **changes) -> InitRequest:
    return InitRequest(fake.address, KV_URL, 5, 3, changes.get("access", access()))


def run(fake: FakeVault, store: FakeKeyVault, journal_dir: Path, **changes) -> vault_init.Outcome:
    api = VaultApi(fake.address, NO_WAIT)
    try:
        return initialise(api, store, Journal(journal_dir, KV_URL), request(fake, **changes), NO_WAIT)
    finally:
        api.close()


def fake_jwt(oid: str, **claims: Any) -> str:
    import base64

    payload = base64.urlsafe_b64encode(json.dumps({"oid": oid, **claims}).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJSUzI1NiJ9.{payload}.signature"


def test_first_up_initialises_stores_every_key_sets_up_the_login_and_revokes_root(vault: FakeVault, tmp_path: Path):
    store = FakeKeyVault()
    vault.state.unanswered = 3  # the ingress has no endpoint yet
    outcome = run(vault, store, tmp_path)

    assert outcome == vault_init.Outcome(initialized_now=True, bootstrapped_now=True)
    assert vault.state.initialized
    keys = vault.recovery_keys_base64()
    assert len(keys) == 5
    for i, key in enumerate(keys):
        assert store.get(naming.vault_recovery_key_secret(i)) == key
    root = vault.state.root_token
    assert store.get(naming.VAULT_ROOT_TOKEN_SECRET) == root
    assert root not in vault.state.tokens  # revoked
    assert json.loads(store.get(naming.VAULT_INIT_MARKER_SECRET) or "")["state"] == "stored"
    assert not list(tmp_path.iterdir())  # the journal is gone once Key Vault holds the keys

    assert vault.state.auth_mounts == {"entra": "jwt"}
    assert vault.state.jwt_config["entra"] == {
        "oidc_discovery_url": f"https://sts.windows.net/{TENANT}/",
        "bound_issuer": f"https://sts.windows.net/{TENANT}/",
    }
    admins, pipeline = vault.state.roles["admins"], vault.state.roles["pipeline"]
    assert admins["bound_claims"] == {"groups": [ADMINS]}
    assert pipeline["bound_claims"] == {"oid": [PIPELINE]}
    for role in (admins, pipeline):
        assert role["role_type"] == "jwt"
        assert role["bound_audiences"] == ["https://management.azure.com", "https://management.core.windows.net/"]
        assert role["token_policies"] == ["cdstack-deployer"]
        assert role["token_ttl"] == role["token_max_ttl"] == 12600
    assert vault.state.policies["cdstack-deployer"] == access()["policy"]
    # The marker (proof that Key Vault takes writes) precedes sys/init.
    assert store.versions[naming.VAULT_INIT_MARKER_SECRET][0].startswith('{"state": "initialising"')


def test_init_asks_for_recovery_keys_only(vault: FakeVault, tmp_path: Path):
    run(vault, FakeKeyVault(), tmp_path)
    # The fake answers 400 to barrier options (secret_shares) as Vault does under an auto-unseal seal.
    assert vault.state.init_calls == 1
    assert len(vault.state.recovery_keys) == 5


def test_second_run_changes_nothing(vault: FakeVault, tmp_path: Path):
    store = FakeKeyVault()
    run(vault, store, tmp_path)
    before = {name: list(values) for name, values in store.versions.items()}
    calls_before = len(vault.state.requests)

    outcome = run(vault, store, tmp_path)

    assert outcome == vault_init.Outcome(initialized_now=False, bootstrapped_now=False)
    assert store.versions == before  # no new secret version
    new_calls = vault.state.requests[calls_before:]
    assert all(method == "GET" for method, _ in new_calls), new_calls  # reads only
    assert vault.state.init_calls == 1


def test_role_assignment_not_yet_propagated_is_waited_for_before_init(vault: FakeVault, tmp_path: Path):
    store = FakeKeyVault(forbidden_writes=3)
    run(vault, store, tmp_path)
    assert store.get(naming.VAULT_ROOT_TOKEN_SECRET) == vault.state.root_token


def test_no_write_access_stops_before_init(vault: FakeVault, tmp_path: Path):
    store = FakeKeyVault(forbidden_writes=100)
    with pytest.raises(VaultInitError, match="write to Key Vault: still failing"):
        run(vault, store, tmp_path)
    assert not vault.state.initialized  # nothing irreversible happened


def test_crash_between_init_and_key_storage_loses_nothing(vault: FakeVault, tmp_path: Path):
    store = FakeKeyVault(crash_on=naming.vault_recovery_key_secret(2))
    with pytest.raises(Crash):
        run(vault, store, tmp_path)
    assert vault.state.initialized
    assert store.get(naming.VAULT_ROOT_TOKEN_SECRET) is None  # stored last: its absence says "incomplete"
    journal = Journal(tmp_path, KV_URL).path
    assert journal.exists()
    raw = journal.read_bytes()
    assert vault.state.root_token is not None and vault.state.root_token.encode() not in raw  # encrypted
    assert not any(key.encode() in raw for key in vault.recovery_keys_base64())

    outcome = run(vault, store, tmp_path)  # the next `pulumi up`

    assert outcome == vault_init.Outcome(initialized_now=False, bootstrapped_now=True)
    assert vault.state.init_calls == 1
    assert [store.get(naming.vault_recovery_key_secret(i)) for i in range(5)] == vault.recovery_keys_base64()
    assert store.get(naming.VAULT_ROOT_TOKEN_SECRET) == vault.state.root_token
    assert vault.state.root_token not in vault.state.tokens
    assert not journal.exists()


def test_planted_mistake_keys_stored_before_the_journal_would_lose_them(
    vault: FakeVault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The write order is what makes the crash test pass: without the journal the keys die with the process."""
    monkeypatch.setattr(Journal, "save", lambda self, response, key: None)
    store = FakeKeyVault(crash_on=naming.vault_recovery_key_secret(0))
    with pytest.raises(Crash):
        run(vault, store, tmp_path)
    with pytest.raises(VaultInitError, match="stopped before its keys reached Key Vault"):
        run(vault, store, tmp_path)


def test_journal_from_another_machine_is_named(vault: FakeVault, tmp_path: Path):
    store = FakeKeyVault(crash_on=naming.VAULT_ROOT_TOKEN_SECRET)
    with pytest.raises(Crash):
        run(vault, store, tmp_path / "laptop")
    with pytest.raises(VaultInitError, match=r"journal is at .*laptop.*run `pulumi up` there") as error:
        run(vault, store, tmp_path / "pipeline")
    assert "consul kv delete -recurse vault/" in str(error.value)


def test_initialised_by_hand_stops_and_says_what_to_do(vault: FakeVault, tmp_path: Path):
    vault.state.initialized = True
    with pytest.raises(VaultInitError) as error:
        run(vault, FakeKeyVault(), tmp_path)
    message = str(error.value)
    assert "initialised by hand" in message
    assert f"az keyvault secret set --vault-url {KV_URL} --name vault-root-token" in message
    assert "vault-recovery-key-<i>" in message
    assert vault.state.init_calls == 0


def test_keys_put_there_by_hand_are_adopted(vault: FakeVault, tmp_path: Path):
    vault._do_init({"recovery_shares": 5})
    store = FakeKeyVault()
    for i, key in enumerate(vault.recovery_keys_base64()):
        store.set(naming.vault_recovery_key_secret(i), key)
    store.set(naming.VAULT_ROOT_TOKEN_SECRET, vault.state.root_token or "")
    outcome = run(vault, store, tmp_path)
    assert outcome == vault_init.Outcome(initialized_now=False, bootstrapped_now=True)
    assert "admins" in vault.state.roles


@pytest.mark.parametrize("initialised_first", [False, True])
def test_5xx_during_init(vault: FakeVault, tmp_path: Path, initialised_first: bool):
    vault.state.init_failure = (500, initialised_first)
    store = FakeKeyVault()
    if not initialised_first:
        with pytest.raises(VaultInitError, match="still uninitialised, so run `pulumi up` again"):
            run(vault, store, tmp_path)
        run(vault, store, tmp_path)  # and the next run initialises
        assert store.get(naming.VAULT_ROOT_TOKEN_SECRET) == vault.state.root_token
    else:
        with pytest.raises(VaultInitError, match=r"did not return its response .* never reached cdstack"):
            run(vault, store, tmp_path)
        assert vault.state.init_calls == 1  # never a second init against an initialised Vault


def test_sealed_vault_is_waited_for_then_reported(vault: FakeVault, tmp_path: Path):
    store = FakeKeyVault()
    run(vault, store, tmp_path)
    vault.state.sealed = True
    with pytest.raises(VaultInitError, match="stays sealed: auto-unseal through Key Vault is failing"):
        run(vault, store, tmp_path)


def test_vault_that_never_answers(tmp_path: Path):
    api = VaultApi("http://127.0.0.1:9", NO_WAIT)  # discard port: connection refused
    with pytest.raises(VaultInitError, match="did not answer sys/seal-status after 5 attempts"):
        initialise(api, FakeKeyVault(), Journal(tmp_path, KV_URL), InitRequest(api.address, KV_URL, 5, 3, {}), NO_WAIT)


def test_provider_create_is_an_adoption_on_a_new_state_and_update_uses_the_deployer_login(
    vault: FakeVault, tmp_path: Path
):
    store = FakeKeyVault()
    provider = VaultInitProvider(NO_WAIT, str(tmp_path), lambda url: store, lambda: fake_jwt(PIPELINE))
    props = {
        "address": vault.address,
        "keyVaultUrl": KV_URL,
        "recoveryShares": 5.0,  # numbers arrive as floats from the engine
        "recoveryThreshold": 3.0,
        "access": access(),
        "initialized": None,
        "rootTokenRevoked": None,
    }
    created = provider.create(props)
    assert created.outs is not None
    outs = json.dumps(created.outs)
    assert vault.state.root_token is not None and vault.state.root_token not in outs
    assert not any(key in outs for key in vault.recovery_keys_base64())
    assert created.outs["initialized"] is True
    assert created.outs["initialisedHere"] is True

    again = provider.create(props)  # a new stack state against the same Vault: adopted, nothing written
    assert again.id == created.id
    assert again.outs is not None and again.outs["initialisedHere"] is False
    assert vault.state.init_calls == 1

    assert not provider.diff(created.id, created.outs, props).changes
    news = {**props, "access": access(deployers=[])}
    assert provider.diff(created.id, created.outs, news).changes
    provider.update(created.id, created.outs, news)
    assert "pipeline" not in vault.state.roles
    assert all(token.startswith("hvs.deployer-") is False for token in vault.state.tokens)  # logged out again


def test_recovery_threshold_is_checked():
    check = VaultInitProvider().check({}, {"recoveryShares": 3.0, "recoveryThreshold": 4.0})
    assert [failure.property for failure in check.failures] == ["recoveryThreshold"]


def test_a_journal_left_after_the_keys_were_stored_is_removed(vault: FakeVault, tmp_path: Path):
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


@pytest.mark.parametrize(
    ("claims", "why"),
    [({"_claim_names": {"groups": "src1"}}, "more than 200 groups"), ({}, "sends none for this principal")],
)
def test_a_token_without_groups_is_told_how_to_log_in_before_vault_refuses_it(claims: dict[str, Any], why: str):
    with pytest.raises(ValueError, match=f"object id someone has no `groups` claim.*{why}.*vault.deployerObjectIds"):
        vault_login.login_role(vault_login.unverified_claims(fake_jwt("someone", **claims)), [PIPELINE])
