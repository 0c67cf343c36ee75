"""Vault's Raft snapshot, saved and restored through Vault's own API (`sys/storage/raft/snapshot`).

    python3 vault_snapshot.py save FILE               the backup-vault CronJob's first step: log in with the pod's
                                                      projected service account token, save the snapshot to FILE
    python3 vault_snapshot.py restore FILE [--force]  tools/restore.py (`make restore WHAT=vault`): install FILE;
                                                      --force where the cluster is a new one (another keyring)

Environment: VAULT_ADDR, VAULT_CACERT (the CA the listener's certificate chains to; the system roots without it).
save: VAULT_AUTH_PATH, VAULT_ROLE and VAULT_JWT_FILE, the JWT auth mount, role and token file of the snapshot identity
(components/vault_raft.py: a role whose token reads the snapshot endpoint, nothing else, once). restore: VAULT_TOKEN,
a token allowed to restore (update on the snapshot endpoints: the break-glass root token, docs/backups.md "Restore
Vault").

Standard library only: the CronJob runs it in the official python image, an operator with any Python 3.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 600
CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
"""A Raft snapshot is a gzip-compressed archive: a file not starting so is an error page, not a snapshot."""


class SnapshotError(Exception):
    pass


def _context() -> ssl.SSLContext:
    ca = os.environ.get("VAULT_CACERT")
    return ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()


def _request(method: str, path: str, token: str | None = None, body: bytes | None = None) -> Any:
    address = os.environ["VAULT_ADDR"].rstrip("/")
    request = urllib.request.Request(f"{address}/v1/{path}", data=body, method=method)
    if token:
        request.add_header("X-Vault-Token", token)
    if body is not None:
        request.add_header("Content-Type", "application/octet-stream")
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS, context=_context())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace").strip()[:500]
        raise SnapshotError(f"{method} {path}: HTTP {error.code}: {detail}") from error


def login() -> str:
    """A token of the snapshot role, from the service account token Kubernetes projected into the pod."""
    jwt = Path(os.environ["VAULT_JWT_FILE"]).read_text().strip()
    body = json.dumps({"role": os.environ["VAULT_ROLE"], "jwt": jwt}).encode()
    with _request("POST", f"auth/{os.environ['VAULT_AUTH_PATH']}/login", body=body) as response:
        return json.load(response)["auth"]["client_token"]


def save(target: Path) -> int:
    """Stream the snapshot to `target` (through a temporary file, so a failed run leaves no partial snapshot)."""
    token = login()
    partial = target.with_name(target.name + ".partial")
    size, head = 0, b""
    with _request("GET", "sys/storage/raft/snapshot", token) as response, partial.open("wb") as out:
        while chunk := response.read(CHUNK):
            head = head or chunk[:2]
            out.write(chunk)
            size += len(chunk)
    if head != GZIP_MAGIC:
        partial.unlink()
        raise SnapshotError(f"Vault answered with {size} bytes that are not a Raft snapshot")
    partial.replace(target)
    return size


def restore(source: Path, force: bool) -> None:
    """Install the snapshot; `force` where the cluster was initialised anew (its keyring differs from the
    snapshot's), as in a rebuilt stack or a wiped store."""
    endpoint = "sys/storage/raft/snapshot-force" if force else "sys/storage/raft/snapshot"
    with _request("POST", endpoint, os.environ["VAULT_TOKEN"], source.read_bytes()):
        pass


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("save", "restore"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, file = argv[0], Path(argv[1])
    try:
        if mode == "save":
            print(f"saved a snapshot of {os.environ['VAULT_ADDR']}: {save(file)} bytes in {file}")
        else:
            restore(file, force="--force" in argv[2:])
            print(f"restored {os.environ['VAULT_ADDR']} from {file}")
    except (SnapshotError, OSError, KeyError) as error:
        print(f"vault snapshot {mode} failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
