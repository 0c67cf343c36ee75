"""A fake Vault HTTP API on 127.0.0.1 and a fake Key Vault, for the initialiser's tests (no Vault binary here).

The fake follows Vault's documented shapes (hashicorp/vault http/sys_init.go, api-docs/system/{init,seal-status}.mdx,
api-docs/auth/{jwt,token}.mdx, api-docs/system/{auth,policies}.mdx):
- `GET /v1/sys/seal-status` -> 200 {"type": "azurekeyvault", "initialized", "sealed", "t", "n", ...};
- `PUT /v1/sys/init` {"recovery_shares", "recovery_threshold"} -> 200 {"keys": [], "keys_base64": [],
  "recovery_keys": [hex], "recovery_keys_base64": [b64], "root_token"}; barrier options -> 400 "parameters not
  specific to auto unseal seals present"; initialised -> 400 {"errors": ["Vault is already initialized"]};
- authenticated paths want X-Vault-Token: unknown or revoked -> 403 {"errors": ["permission denied"]}; sealed ->
  503 {"errors": ["Vault is sealed"]};
- `POST /v1/sys/auth/<path>` -> 204, or 400 "path is already in use at <path>/"; `POST /v1/sys/policies/acl/<n>`,
  `POST /v1/auth/<mount>/config`, `POST|DELETE /v1/auth/<mount>/role/<r>` -> 204;
- `GET /v1/auth/token/lookup-self` -> 200 {"data": {...}}; `POST /v1/auth/token/revoke-self` -> 204;
- `POST /v1/auth/<mount>/login` {"role", "jwt"} -> 200 {"auth": {"client_token", ...}} for a role that exists.
Behaviours a test switches on: `unanswered` (the first N requests get an ingress 502), `sealed`, `init_failure`
(status code, and whether Vault initialised before failing).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class VaultState:
    initialized: bool = False
    sealed: bool = False
    unanswered: int = 0
    init_failure: tuple[int, bool] | None = None
    recovery_keys: list[bytes] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    root_token: str | None = None
    auth_mounts: dict[str, str] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)
    jwt_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    init_calls: int = 0


class FakeVault:
    def __init__(self) -> None:
        self.state = VaultState()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.address = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                status, reply = fake.answer(self.command, self.path, body, self.headers.get("X-Vault-Token"))
                self._reply(status, reply)

            do_GET = do_PUT = do_POST = do_DELETE = _handle  # noqa: N815 (BaseHTTPRequestHandler's names)

        return Handler

    def answer(self, method: str, path: str, body: dict[str, Any], token: str | None) -> tuple[int, Any]:
        s = self.state
        s.requests.append((method, path))
        if s.unanswered > 0:
            s.unanswered -= 1
            return 502, None
        path = path.removeprefix("/v1/")
        if path == "sys/seal-status" and method == "GET":
            shares = len(s.recovery_keys)
            return 200, {
                "type": "azurekeyvault",
                "initialized": s.initialized,
                "sealed": s.sealed,
                "t": 1,
                "n": 1,
                "progress": 0,
                "version": "2.0.4",
                "recovery_seal": True,
                "storage_type": "consul",
                "recovery_shares": shares,
            }
        if path == "sys/init" and method == "GET":
            return 200, {"initialized": s.initialized}
        if path == "sys/init" and method in ("PUT", "POST"):
            return self._init(body)
        if s.sealed:
            return 503, {"errors": ["Vault is sealed"]}
        if path.startswith("auth/") and path.endswith("/login") and method == "POST":
            mount = path.split("/")[1]
            if mount not in s.auth_mounts or body.get("role") not in s.roles or not body.get("jwt"):
                return 400, {"errors": ["role could not be found or login failed"]}
            client_token = "hvs.deployer-" + secrets.token_hex(8)
            s.tokens.add(client_token)
            return 200, {"auth": {"client_token": client_token, "policies": ["default"], "lease_duration": 3600}}
        if token not in s.tokens:
            return 403, {"errors": ["permission denied"]}
        if path == "auth/token/lookup-self" and method == "GET":
            return 200, {"data": {"id": token, "policies": ["root"] if token == s.root_token else ["default"]}}
        if path == "auth/token/revoke-self" and method == "POST":
            s.tokens.discard(token)
            return 204, None
        if path.startswith("sys/auth/") and method == "POST":
            mount = path.removeprefix("sys/auth/")
            if mount in s.auth_mounts:
                return 400, {"errors": [f"path is already in use at {mount}/"]}
            s.auth_mounts[mount] = body["type"]
            return 204, None
        if path.startswith("sys/policies/acl/") and method in ("POST", "PUT"):
            s.policies[path.removeprefix("sys/policies/acl/")] = body["policy"]
            return 204, None
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == "auth" and parts[2] == "config" and method == "POST":
            if parts[1] not in s.auth_mounts:
                return 404, {"errors": []}
            s.jwt_config[parts[1]] = body
            return 204, None
        if len(parts) == 4 and parts[0] == "auth" and parts[2] == "role":
            if method == "POST":
                s.roles[parts[3]] = body
            elif method == "DELETE":
                s.roles.pop(parts[3], None)
            return 204, None
        return 404, {"errors": []}

    def _init(self, body: dict[str, Any]) -> tuple[int, Any]:
        s = self.state
        s.init_calls += 1
        if s.initialized:
            return 400, {"errors": ["Vault is already initialized"]}
        for key in ("recovery_shares", "recovery_threshold"):
            if not isinstance(body.get(key), int):  # Go's decoder: an int field refuses 5.0
                return 400, {"errors": [f"json: cannot unmarshal {body.get(key)} into Go value of type int"]}
        if body.get("secret_shares") or body.get("secret_threshold"):
            return 400, {"errors": ["parameters not specific to auto unseal seals present"]}
        if s.init_failure is not None:
            status, initialised_first = s.init_failure
            s.init_failure = None
            if initialised_first:
                self._do_init(body)
            return status, {"errors": ["internal error"]}
        return 200, self._do_init(body)

    def _do_init(self, body: dict[str, Any]) -> dict[str, Any]:
        s = self.state
        s.initialized = True
        s.recovery_keys = [secrets.token_bytes(33) for _ in range(body["recovery_shares"])]
        s.root_token = "hvs.root-" + secrets.token_hex(12)
        s.tokens.add(s.root_token)
        return {
            "keys": [],
            "keys_base64": [],
            "recovery_keys": [k.hex() for k in s.recovery_keys],
            "recovery_keys_base64": [base64.b64encode(k).decode() for k in s.recovery_keys],
            "root_token": s.root_token,
        }

    def recovery_keys_base64(self) -> list[str]:
        return [base64.b64encode(k).decode() for k in self.state.recovery_keys]


@contextmanager
def running_vault() -> Iterator[FakeVault]:
    fake = FakeVault()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


class ForbiddenError(Exception):
    """What azure-core raises when the role assignment has not reached Key Vault yet (HttpResponseError 403)."""

    status_code = 403


class Crash(BaseException):
    """The process dying mid-way (a BaseException, so no `except Exception` in the code under test catches it)."""


@dataclass
class FakeKeyVault:
    """Secrets by name (latest version), with every version kept, as Key Vault keeps them."""

    versions: dict[str, list[str]] = field(default_factory=dict)
    forbidden_writes: int = 0
    crash_on: str | None = None

    def get(self, name: str) -> str | None:
        return self.versions[name][-1] if name in self.versions else None

    def set(self, name: str, value: str) -> None:
        if self.forbidden_writes > 0:
            self.forbidden_writes -= 1
            raise ForbiddenError("(Forbidden) Caller is not authorized to perform action on resource.")
        if name == self.crash_on:
            self.crash_on = None
            raise Crash(f"killed before storing {name}")
        self.versions.setdefault(name, []).append(value)
