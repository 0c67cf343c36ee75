"""Vault audit lines recorded from a real server, for the vault-* ElastAlert rules' samples.

`record()` starts a dev server (tests/vault_server.py), enables the program's audit device (vault_access.audit_device:
a `file` device on stdout, JSON), so its entries land in the server's stdout among its own log lines, as in the vault
container's log that Filebeat ships, and makes the calls the alerts are about: Concourse's approle token and a
deployer's token refused, a root token and a token it minted at work, and the same clients allowed. The lines in
alerts/elastalert/tests/vault-access-denied.yaml and vault-root-token-used.yaml were recorded with
`python -m tests.vault_audit` (it prints them); tests/test_vault_audit.py records them afresh and runs the rules on
them.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.vault import access as vault_access
from components.vault import init as vault_init
from components.vault.init import Retry, VaultApi
from tests.entra import entra_issuer, program_access
from tests.vault_server import Server, dev_server

TENANT = "00000000-0000-4000-8000-000000000001"
ADMINS = "11111111-0000-4000-8000-00000000000a"
PIPELINE = "22222222-0000-4000-8000-00000000000b"
TEAM_SECRET = "payments/deploy/registry-password"


@dataclass(frozen=True)
class Entry:
    line: str  # as the container's stdout carries it
    entry: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str, str]:
        """(type, operation, path, who): what a sample is about."""
        request = self.entry.get("request", {})
        who = self.entry.get("auth", {}).get("display_name", "")
        return self.entry["type"], request.get("operation", ""), request.get("path", ""), who


def _ok(server: Server, method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    status, reply = server.request(method, path, token, body)
    assert status < 300, (method, path, status, reply)
    return reply


def _scenario(server: Server) -> None:
    root = server.root_token or ""
    device = vault_access.audit_device()
    _ok(server, "PUT", f"sys/audit/{device['path']}", root, {"type": device["type"], "options": device["options"]})
    # What the program sets up: the deployer login (as the initialiser), Concourse's mount, policy and approle.
    with entra_issuer(TENANT) as issuer:
        access = program_access(issuer, ADMINS, [PIPELINE])
        api = VaultApi(server.address, Retry(attempts=3, delay=0))
        vault_init.configure_access(api, root, access, first_time=True)
        api.close()
        deployer = _ok(server, "POST", "auth/entra/login", "", {"role": "pipeline", "jwt": issuer.token(PIPELINE)})
    deployer_token = deployer["auth"]["client_token"]
    mount = "concourse"
    _ok(server, "POST", f"sys/mounts/{mount}", deployer_token, {"type": "kv", "options": {"version": "2"}})
    policy = {"policy": vault_access.concourse_policy(mount)}
    _ok(server, "PUT", f"sys/policies/acl/{vault_access.CONCOURSE_POLICY}", deployer_token, policy)
    _ok(server, "POST", f"sys/auth/{vault_access.APPROLE_PATH}", deployer_token, {"type": "approle"})
    role = f"auth/{vault_access.APPROLE_PATH}/role/{vault_access.CONCOURSE_ROLE}"
    _ok(server, "PUT", role, deployer_token, {"token_policies": [vault_access.CONCOURSE_POLICY]})
    role_id = _ok(server, "GET", f"{role}/role-id", deployer_token)["data"]["role_id"]
    secret_id = _ok(server, "PUT", f"{role}/secret-id", deployer_token)["data"]["secret_id"]
    _ok(server, "POST", f"{mount}/data/{TEAM_SECRET}", root, {"data": {"value": "s3cret"}})
    login = _ok(
        server, "POST", f"auth/{vault_access.APPROLE_PATH}/login", "", {"role_id": role_id, "secret_id": secret_id}
    )
    concourse = login["auth"]["client_token"]

    # Allowed: Concourse reads its secret, the deployer updates Concourse's policy.
    _ok(server, "GET", f"{mount}/data/{TEAM_SECRET}", concourse)
    _ok(server, "PUT", f"sys/policies/acl/{vault_access.CONCOURSE_POLICY}", deployer_token, policy)
    # Refused: Concourse reads outside its policy, the deployer writes a policy it does not manage.
    assert server.request("GET", f"secret/data/{TEAM_SECRET}", concourse)[0] == 403
    assert server.request("PUT", "sys/policies/acl/admin", deployer_token, {"policy": "# planted"})[0] == 403
    # A root token at work (break-glass or a leak), and a token it minted (display name `token`, policy root).
    _ok(server, "PUT", f"sys/policies/acl/{vault_access.CONCOURSE_POLICY}", root, policy)
    minted = _ok(server, "POST", "auth/token/create", root, {"ttl": "10m"})["auth"]["client_token"]
    _ok(server, "GET", f"{mount}/metadata/payments?list=true", minted)


def record(workdir: Path) -> list[Entry]:
    """Every audit entry of the scenario, in order, as lines of the server's stdout."""
    with dev_server(workdir) as server:
        _scenario(server)
        log = server.log
    entries = []
    for line in log.read_text().splitlines():
        if not line.startswith("{"):
            continue  # the server's own log lines
        entry = json.loads(line)
        if entry.get("type") in ("request", "response"):
            entries.append(Entry(line, entry))
    return entries


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        for recorded in record(Path(folder)):
            sys.stdout.write(f"{recorded.key}\n{recorded.line}\n")
