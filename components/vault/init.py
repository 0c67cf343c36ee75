"""Vault initialises itself: the first `pulumi up` of an environment runs `sys/init`, keeps the recovery keys and the
root token in the stack's Azure Key Vault, uses the root token once to let the deployers in, and revokes it.

The resource is a Pulumi dynamic provider (`VaultInitProvider`) over Vault's HTTP API. Shapes, from upstream
(hashicorp/vault http/sys_init.go and website/content/api-docs/system/{init,seal-status}.mdx, Vault 2.0 as the
pinned chart 0.34.1 ships it):
- `GET /v1/sys/seal-status` (unauthenticated) -> 200 `{"type", "initialized", "sealed", ...}`, sealed or not;
- `PUT /v1/sys/init` with `{"recovery_shares": n, "recovery_threshold": t}` (an auto-unseal seal takes recovery
  options only; barrier options are a 400) -> 200 `{"keys": [], "keys_base64": [], "recovery_keys": [hex...],
  "recovery_keys_base64": [...], "root_token": "..."}`; on an initialised Vault 400 `{"errors": ["Vault is already
  initialized"]}`. The handler unseals with the stored keys before it answers, so a 200 means unsealed.
Keys are stored the way bank-vaults keeps them in a cloud key store (docs/unseal-keys: one secret per key share, one
for the root token), here `vault-recovery-key-<i>` and `vault-root-token` (components/naming.py).

Nothing secret leaves this module: the keys go from Vault's response to Key Vault and to an encrypted local journal,
never into the resource's outputs, Pulumi state or a log line.

Crash safety (the response of `sys/init` is the only copy of the keys, and Vault returns it once):
1. Before `sys/init`, write `vault-init-pending` to Key Vault: it proves the deployer may write there (the role
   assignment may still be propagating: this write waits for it) and holds a fresh journal key.
2. `sys/init`; the response is written at once, encrypted with the journal key (Fernet), to a local journal file
   (fsync), before any further network call.
3. The keys are written to Key Vault; then the journal file is removed and the marker says `stored`.
A crash after 2 leaves the journal: the next `up` finds Vault initialised, the keys missing, the journal present,
decrypts it with the key from Key Vault and finishes the store. A crash inside 2 (the response never arrived) leaves
the marker without a journal: the `up` stops and says how to start again, which loses nothing (no one has written
to a Vault whose root token nobody ever held).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pulumi
import pulumi.dynamic
import requests

from components import naming
from components.vault import login as vault_login

# ---------------------------------------------------------------------------------------------------------------------
# Vault's HTTP API


class VaultInitError(Exception):
    """The initialiser cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Retry:
    """`attempts` tries, `delay` seconds apart (Vault behind a fresh ingress and certificate takes minutes)."""

    attempts: int = 60
    delay: float = 10.0
    sleep: Callable[[float], None] = time.sleep


TRANSIENT = (requests.exceptions.ConnectionError, requests.exceptions.Timeout)
UNSEALED_IN_A_ROW = 3
"""Unsealed answers in a row before Vault counts as unsealed. `sys/init` unseals only the pod that received it; the
standbys retry auto-unseal every 5 s (hashicorp/vault command/server.go, runUnseal), and the chart takes a sealed pod
out of the Service only after two failed readiness probes 5 s apart (vault-helm 0.34.1 values.yaml). Until then the
ingress spreads requests over unsealed and sealed pods, so one unsealed answer proves nothing about the next."""


def passing(status: int) -> bool:
    """An answer worth waiting out: a 5xx (a sealed pod's 503, a standby's 500 before it finds the active node, the
    ingress's 502/503/504 with no ready endpoint) or a 429 (Vault's rate limit)."""
    return status >= 500 or status == 429


class VaultApi:
    """Vault's HTTP API at `address`; `token` (when set) goes in X-Vault-Token.

    Every call but `sys/init` is retried through connection errors, 5xx and 429 answers, `retry.attempts` tries
    `retry.delay` apart: the first `up` meets Vault while its pods are still unsealing behind the ingress."""

    def __init__(self, address: str, retry: Retry, timeout: tuple[float, float] = (10.0, 30.0)):
        self.address = address.rstrip("/")
        self.retry = retry
        self.timeout = timeout
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, token: str | None = None
    ) -> requests.Response:
        headers = {"X-Vault-Token": token} if token else {}
        return self.session.request(
            method, f"{self.address}/v1/{path}", json=body, headers=headers, timeout=self.timeout
        )

    def ask(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        token: str | None = None,
        waiting_for: Callable[[int], bool] = passing,
    ) -> requests.Response:
        """The first answer that is not worth waiting out (`waiting_for`); VaultInitError when none came in time.

        Only for idempotent calls: a lost response is asked again."""
        problem = ""
        for attempt in range(self.retry.attempts):
            if attempt:
                self.retry.sleep(self.retry.delay)
            try:
                response = self.call(method, path, body, token)
            except TRANSIENT as error:
                problem = f"{type(error).__name__}: {error}"
                continue
            if not waiting_for(response.status_code):
                return response
            problem = _status(response)
        raise VaultInitError(
            f"{method} {self.address}/v1/{path} still failing after {self.retry.attempts} attempts ({problem})"
        )

    def seal_status(self) -> dict[str, Any]:
        """`sys/seal-status`, waiting until Vault answers it (connection errors, 404 from an ingress without a route
        yet, 5xx and 429 are retried)."""
        try:
            response = self.ask("GET", "sys/seal-status", waiting_for=lambda status: status == 404 or passing(status))
        except VaultInitError as error:
            raise VaultInitError(f"{error}; is Vault's release up and its ingress certificate issued?") from error
        if response.status_code != 200:
            raise VaultInitError(f"{self.address}/v1/sys/seal-status answered {_status(response)}")
        return response.json()

    def wait_unsealed(self) -> None:
        """Until UNSEALED_IN_A_ROW answers in a row say unsealed; a sealed or failed answer starts the count again."""
        in_a_row = 0
        sealed_seen = False
        for attempt in range(self.retry.attempts):
            if attempt:
                self.retry.sleep(self.retry.delay)
            try:
                response = self.call("GET", "sys/seal-status")
            except TRANSIENT:
                in_a_row = 0
                continue
            sealed = response.status_code != 200 or response.json().get("sealed", True)
            sealed_seen |= response.status_code == 200 and sealed
            in_a_row = 0 if sealed else in_a_row + 1
            if in_a_row == UNSEALED_IN_A_ROW:
                return
        if sealed_seen:
            raise VaultInitError(
                f"Vault at {self.address} stays sealed: auto-unseal through Key Vault is failing (see the vault "
                "pods' logs: the workload identity needs Key Vault Crypto User on the unseal key)"
            )
        raise VaultInitError(
            f"Vault at {self.address} did not answer sys/seal-status unsealed {UNSEALED_IN_A_ROW} times in a row in "
            f"{self.retry.attempts} attempts"
        )

    def write(self, method: str, path: str, body: Mapping[str, Any] | None, token: str) -> requests.Response:
        """An authenticated call that must succeed (2xx); 5xx and 429 are retried (writes here are all idempotent)."""
        response = self.ask(method, path, body, token)
        if response.status_code >= 300:
            raise VaultInitError(f"{method} {self.address}/v1/{path}: {_status(response)}")
        return response


def _status(response: requests.Response) -> str:
    body = response.text.strip()
    return f"{response.status_code} {response.reason}" + (f": {body[:300]}" if body else "")


# ---------------------------------------------------------------------------------------------------------------------
# Key Vault


class SecretStore(Protocol):
    """The few Key Vault secret operations the initialiser needs (a fake in tests)."""

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str) -> None: ...


class AzureSecretStore:
    """Secrets in the stack's Azure Key Vault (azure-keyvault-secrets; the deployer needs Key Vault Secrets Officer).

    Secrets are only ever overwritten, never deleted: the vault has purge protection, so a deleted name stays
    blocked for the retention period."""

    def __init__(self, vault_url: str, credential: Any):
        from azure.keyvault.secrets import SecretClient

        self.client = SecretClient(vault_url=vault_url, credential=credential)

    def get(self, name: str) -> str | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.client.get_secret(name).value
        except ResourceNotFoundError:
            return None

    def set(self, name: str, value: str) -> None:
        self.client.set_secret(name, value, content_type="cdstack/vault-init", tags={"managed-by": "cdstack"})


def is_forbidden(error: Exception) -> bool:
    return getattr(error, "status_code", None) == 403


# ---------------------------------------------------------------------------------------------------------------------
# The journal


class Journal:
    """The init response, encrypted with a key kept in Key Vault, in a local file until Key Vault holds the keys."""

    def __init__(self, directory: Path, key_vault_url: str):
        name = key_vault_url.split("//", 1)[-1].split(".", 1)[0]
        self.path = directory / f"{name}.vault-init.enc"

    def save(self, response: Mapping[str, Any], key: bytes) -> None:
        from cryptography.fernet import Fernet

        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = Fernet(key).encrypt(json.dumps(response).encode())
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, token)
            os.fsync(fd)
        finally:
            os.close(fd)

    def load(self, key: bytes) -> dict[str, Any] | None:
        from cryptography.fernet import Fernet

        if not self.path.exists():
            return None
        return json.loads(Fernet(key).decrypt(self.path.read_bytes()))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------------------------------
# Initialising


@dataclass(frozen=True)
class InitRequest:
    address: str
    key_vault_url: str
    recovery_shares: int
    recovery_threshold: int
    access: Mapping[str, Any]  # vault_login.access_spec()


def stored_keys(store: SecretStore, shares: int) -> dict[str, str] | None:
    """The root token and recovery keys from Key Vault, or None when any is missing."""
    names = [naming.VAULT_ROOT_TOKEN_SECRET] + [naming.vault_recovery_key_secret(i) for i in range(shares)]
    values = {name: store.get(name) for name in names}
    if any(value is None for value in values.values()):
        return None
    return {name: value for name, value in values.items() if value is not None}


def store_keys(store: SecretStore, response: Mapping[str, Any], retry: Retry) -> None:
    """Recovery keys first, root token last: the root token's presence means every key is stored."""
    items = [(naming.vault_recovery_key_secret(i), key) for i, key in enumerate(response["recovery_keys_base64"])]
    items.append((naming.VAULT_ROOT_TOKEN_SECRET, response["root_token"]))
    for name, value in items:
        _with_retry(lambda name=name, value=value: store.set(name, value), retry, f"store {name} in Key Vault")


def _with_retry(action: Callable[[], None], retry: Retry, what: str) -> None:
    """Retry 403 (a fresh role assignment takes minutes to reach Key Vault's data plane) and transient errors."""
    last: Exception | None = None
    for attempt in range(retry.attempts):
        if attempt:
            retry.sleep(retry.delay)
        try:
            action()
            return
        except Exception as error:  # azure-core raises HttpResponseError and ServiceRequestError subclasses
            status = getattr(error, "status_code", None)
            if status is not None and status != 403 and status != 429 and status < 500:
                raise VaultInitError(f"{what}: {error}") from error
            last = error
    raise VaultInitError(f"{what}: still failing after {retry.attempts} attempts ({last})")


def reset_hint(address: str) -> str:
    ns = naming.NAMESPACES["secrets"]
    return (
        f"If this Vault holds nothing yet, start it again: `kubectl -n {ns} exec consul-server-0 -- consul kv delete "
        f"-recurse {naming.VAULT_CONSUL_PATH}` then `kubectl -n {ns} delete pod -l app.kubernetes.io/name=vault` "
        f"and run `pulumi up` (the pods come back uninitialised and cdstack initialises {address} again)."
    )


@dataclass(frozen=True)
class Outcome:
    initialized_now: bool
    """This call ran sys/init (False: Vault was initialised before, by this initialiser)."""
    bootstrapped_now: bool
    """This call used the root token to set up the deployer login, and revoked it."""


def initialise(vault: VaultApi, store: SecretStore, journal: Journal, request: InitRequest, retry: Retry) -> Outcome:
    """Bring Vault to: initialised, keys in Key Vault, deployer login set up, root token revoked. Idempotent."""
    status = vault.seal_status()
    initialized_now = False
    if not status.get("initialized"):
        _init(vault, store, journal, request, retry)
        initialized_now = True
    elif stored_keys(store, request.recovery_shares) is None:
        _recover_from_journal(vault, store, journal, request, retry)
    else:
        journal.remove()  # a run that stopped after storing the keys but before removing its journal
    keys = stored_keys(store, request.recovery_shares)
    assert keys is not None  # _init and _recover_from_journal store them or raise
    vault.wait_unsealed()
    bootstrapped_now = bootstrap(vault, keys[naming.VAULT_ROOT_TOKEN_SECRET], request.access)
    return Outcome(initialized_now, bootstrapped_now)


def _init(vault: VaultApi, store: SecretStore, journal: Journal, request: InitRequest, retry: Retry) -> None:
    from cryptography.fernet import Fernet

    journal_key = Fernet.generate_key()
    marker = {
        "state": "initialising",
        "journalKey": journal_key.decode(),
        "journal": f"{socket.gethostname()}:{journal.path}",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    # Written before sys/init: proves the deployer can store the keys, and keeps the journal key off this machine.
    _with_retry(lambda: store.set(naming.VAULT_INIT_MARKER_SECRET, json.dumps(marker)), retry, "write to Key Vault")
    body = {"recovery_shares": request.recovery_shares, "recovery_threshold": request.recovery_threshold}
    try:
        response = vault.call("PUT", "sys/init", body)
    except TRANSIENT as error:
        raise _lost(vault, f"{type(error).__name__}") from error
    if response.status_code >= 500:
        # Maybe initialised, maybe not: ask. Only a Vault that is still uninitialised may be initialised again.
        if not vault.seal_status().get("initialized"):
            raise VaultInitError(
                f"sys/init at {vault.address} failed with {_status(response)}; Vault is still uninitialised, "
                "so run `pulumi up` again"
            )
        raise _lost(vault, _status(response))
    if response.status_code != 200:
        raise VaultInitError(f"sys/init at {vault.address}: {_status(response)}")
    init = response.json()
    journal.save(init, journal_key)
    store_keys(store, init, retry)
    journal.remove()
    store.set(naming.VAULT_INIT_MARKER_SECRET, json.dumps({"state": "stored", "started": marker["started"]}))


def _lost(vault: VaultApi, problem: str) -> VaultInitError:
    return VaultInitError(
        f"sys/init at {vault.address} did not return its response ({problem}) and Vault now reports itself "
        f"initialised: its recovery keys and root token never reached cdstack. {reset_hint(vault.address)}"
    )


def _recover_from_journal(
    vault: VaultApi, store: SecretStore, journal: Journal, request: InitRequest, retry: Retry
) -> None:
    """Vault is initialised and Key Vault lacks its keys: finish an interrupted store, or stop and say why."""
    raw = store.get(naming.VAULT_INIT_MARKER_SECRET)
    marker = json.loads(raw) if raw else {}
    init = journal.load(marker["journalKey"].encode()) if marker.get("journalKey") else None
    if init is not None:
        store_keys(store, init, retry)
        journal.remove()
        store.set(naming.VAULT_INIT_MARKER_SECRET, json.dumps({"state": "stored", "started": marker.get("started")}))
        return
    kv = request.key_vault_url
    if marker.get("state") == "initialising":
        raise VaultInitError(
            f"cdstack initialised Vault at {vault.address} on {marker.get('started')} but stopped before its keys "
            f"reached Key Vault {kv}, and this machine has no journal of it. The journal is at {marker.get('journal')}"
            f": run `pulumi up` there to finish. Without it the keys are lost. {reset_hint(vault.address)}"
        )
    raise VaultInitError(
        f"Vault at {vault.address} is initialised, but Key Vault {kv} holds no recovery keys and root token from "
        "cdstack: it was initialised by hand. Put its keys where cdstack keeps them and run `pulumi up` again: "
        f"`az keyvault secret set --vault-url {kv} --name {naming.VAULT_ROOT_TOKEN_SECRET} --value <root token>` and "
        f"one `--name {naming.vault_recovery_key_secret(0).replace('-0', '-<i>')}` per recovery key "
        f"(base64, i = 0..{request.recovery_shares - 1}). {reset_hint(vault.address)}"
    )


def bootstrap(vault: VaultApi, root_token: str, access: Mapping[str, Any]) -> bool:
    """With a live root token: set up the deployer login, then revoke the root token. With a revoked one: nothing.

    Returns whether it did the work (False: an earlier run finished it)."""
    lookup = vault.ask("GET", "auth/token/lookup-self", token=root_token)
    if lookup.status_code == 403:
        return False  # revoked: the bootstrap finished before
    if lookup.status_code != 200:
        raise VaultInitError(f"auth/token/lookup-self at {vault.address}: {_status(lookup)}")
    configure_access(vault, root_token, access, first_time=True)
    revoked = vault.ask("POST", "auth/token/revoke-self", token=root_token)
    # A 403 on a retry: the first call revoked it and its answer was lost on the way back.
    if revoked.status_code not in (204, 403):
        raise VaultInitError(f"POST {vault.address}/v1/auth/token/revoke-self: {_status(revoked)}")
    return True


def configure_access(vault: VaultApi, token: str, access: Mapping[str, Any], first_time: bool) -> None:
    for method, path, body in vault_login.access_requests(access, first_time):
        if path.startswith("sys/auth/"):
            # Enabled already by a run that stopped before revoking the root token: 400 "path is already in use".
            response = vault.ask(method, path, body, token)
            if response.status_code == 204 or "already in use" in response.text:
                continue
            raise VaultInitError(f"{method} {vault.address}/v1/{path}: {_status(response)}")
        vault.write(method, path, body, token)


def deployer_login(vault: VaultApi, jwt: str, access: Mapping[str, Any]) -> str:
    """A Vault token for the deployer, from its Entra ID token (JWT auth)."""
    role = vault_login.login_role(vault_login.unverified_claims(jwt), access["deployerObjectIds"])
    response = vault.ask("POST", f"auth/{access['mount']}/login", {"role": role, "jwt": jwt})
    if response.status_code != 200:
        raise VaultInitError(
            f"JWT login at {vault.address} (role {role}) failed: {_status(response)}. The deployer must be in the "
            "admin group (identity.adminGroup) or listed in vault.deployerObjectIds."
        )
    return response.json()["auth"]["client_token"]


# ---------------------------------------------------------------------------------------------------------------------
# The dynamic provider

INPUTS = ("address", "keyVaultUrl", "recoveryShares", "recoveryThreshold", "access")


class VaultInitProvider(pulumi.dynamic.ResourceProvider):
    """Create initialises (or adopts an initialised Vault whose keys are in Key Vault); update keeps the deployer
    login current through the deployer's own JWT login; delete leaves Vault and Key Vault alone (data outlives it).

    `store_factory`, `token_source` and `journal_dir` are seams for tests; by default the deployer's Azure
    credential reaches Key Vault and Entra ID."""

    def __init__(
        self,
        retry: Retry | None = None,
        journal_dir: str | None = None,
        store_factory: Callable[[str], SecretStore] | None = None,
        token_source: Callable[[], str] | None = None,
    ):
        super().__init__()
        self.retry = retry or Retry()
        self.journal_dir = journal_dir or str(Path.home() / ".cdstack" / "vault-init")
        self.store_factory = store_factory
        self.token_source = token_source

    def _store(self, url: str) -> SecretStore:
        if self.store_factory is not None:
            return self.store_factory(url)
        return AzureSecretStore(url, vault_login.azure_credential())

    def _jwt(self) -> str:
        return self.token_source() if self.token_source is not None else vault_login.arm_token()

    def _request(self, props: Mapping[str, Any]) -> InitRequest:
        # Numbers cross Pulumi's wire as floats; Vault's JSON decoder refuses 5.0 for an int field.
        return InitRequest(
            props["address"],
            props["keyVaultUrl"],
            int(props["recoveryShares"]),
            int(props["recoveryThreshold"]),
            props["access"],
        )

    def _outs(self, props: Mapping[str, Any]) -> dict[str, Any]:
        outs = {key: props[key] for key in INPUTS}
        return {**outs, "initialized": True, "rootTokenRevoked": True, "initialisedHere": props.get("initialisedHere")}

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        failures = []
        shares, threshold = news.get("recoveryShares"), news.get("recoveryThreshold")
        numbers = (int, float)
        if isinstance(shares, numbers) and isinstance(threshold, numbers) and not 1 <= threshold <= shares:
            failures.append(pulumi.dynamic.CheckFailure("recoveryThreshold", "must be between 1 and recoveryShares"))
        return pulumi.dynamic.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        # Recovery shares are fixed at init (changing them is `vault operator rekey -target=recovery`, by hand).
        changed = olds.get("access") != news.get("access") or olds.get("address") != news.get("address")
        return pulumi.dynamic.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        request = self._request(props)
        vault = VaultApi(request.address, self.retry)
        try:
            outcome = initialise(
                vault,
                self._store(request.key_vault_url),
                Journal(Path(self.journal_dir), request.key_vault_url),
                request,
                self.retry,
            )
        finally:
            vault.close()
        # Whether this stack ran sys/init or adopted a Vault initialised earlier: a fact for the operator, no secret.
        outs = {**self._outs(props), "initialisedHere": outcome.initialized_now}
        return pulumi.dynamic.CreateResult(request.address, outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        vault = VaultApi(news["address"], self.retry)
        try:
            # Log in by the roles Vault holds now (the old ones): a deployer removing itself still gets in once.
            token = deployer_login(vault, self._jwt(), olds["access"])
            configure_access(vault, token, news["access"], first_time=False)
            vault.call("POST", "auth/token/revoke-self", token=token)
        finally:
            vault.close()
        return pulumi.dynamic.UpdateResult(self._outs({**news, "initialisedHere": olds.get("initialisedHere")}))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Vault's data and its keys outlive this resource (a destroy keeps Key Vault, soft-deleted)."""


class VaultInit(pulumi.dynamic.Resource, module="vault", name="Init"):
    """Vault initialised, its keys in Key Vault, the deployer login set up, the root token revoked.

    Inputs and outputs hold no secret: the keys never pass through Pulumi."""

    initialized: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        address: str,
        key_vault_url: pulumi.Input[str],
        recovery_shares: int,
        recovery_threshold: int,
        access: pulumi.Input[Mapping[str, Any]],
        opts: pulumi.ResourceOptions | None = None,
        provider: VaultInitProvider | None = None,
    ):
        props = {
            "address": address,
            "keyVaultUrl": key_vault_url,
            "recoveryShares": recovery_shares,
            "recoveryThreshold": recovery_threshold,
            "access": access,
            "initialized": None,
            "rootTokenRevoked": None,
            "initialisedHere": None,
        }
        super().__init__(provider or VaultInitProvider(), resource_name, props, opts)
