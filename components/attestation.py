"""Attestations: a stack ran a release set and it passed the end-to-end smoke (tools/smoke_e2e.py).

After a passing smoke, tools/smoke.py records {stack, releaseSet, commit, time, result} as a JSON blob named after the
stack and a digest of the release set (the same object components/promotion.py compares), so every release set a
stack ever passed with stays attested, not only its latest. The promotion gate of a gated stack (prod) refuses to
deploy a release set its source stack (staging) has no passing attestation for.

Where: beside the Pulumi state, in the state backend's own container (`PULUMI_BACKEND_URL`, azblob://<container>),
under `cdstack-attestations/`. Why there and not in staging's Vault: prod's deployer already reads that container
(its StackReference to staging is a read of staging's state there) with the storage login every `pulumi` command
needs (AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, or the Azure login), on a laptop as in the pipeline; staging's
Vault would need a prod identity in staging's Vault roles, a new credential crossing environments. The staging
smoke writes with the same storage login. A `file://` backend (a laptop's local state) keeps them in that folder.

Trust: whoever can write the state container can forge an attestation, as they can forge the state itself; the
attestation adds no weaker path than the one the gate already trusts.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

PREFIX = "cdstack-attestations"
PASSED = "passed"
BACKEND_ENV = "PULUMI_BACKEND_URL"


class Store(Protocol):
    def read(self, name: str) -> bytes | None: ...
    def write(self, name: str, data: bytes) -> None: ...


def digest(release_set: Mapping[str, Any]) -> str:
    """The release set's identity: SHA-256 of its canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(release_set, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def stack_name(stack: str) -> str:
    """`staging` for `organization/cdstack/staging` or `staging`: attestations are named by the short stack name."""
    return stack.rsplit("/", 1)[-1]


def blob_name(stack: str, release_set: Mapping[str, Any]) -> str:
    return f"{PREFIX}/{stack_name(stack)}/{digest(release_set)}.json"


def record(stack: str, release_set: Mapping[str, Any], commit: str, time: str, result: str) -> dict[str, Any]:
    return {
        "stack": stack_name(stack),
        "releaseSet": dict(release_set),
        "commit": commit,
        "time": time,
        "result": result,
    }


def write(store: Store, attestation: Mapping[str, Any]) -> str:
    """Store the attestation under its stack and release set; returns the name it was stored as."""
    name = blob_name(attestation["stack"], attestation["releaseSet"])
    store.write(name, json.dumps(attestation, sort_keys=True, indent=2).encode())
    return name


def passed(store: Store, stack: str, release_set: Mapping[str, Any]) -> dict[str, Any] | None:
    """The stack's passing attestation for exactly this release set, or None."""
    raw = store.read(blob_name(stack, release_set))
    if raw is None:
        return None
    try:
        found = json.loads(raw)
    except ValueError:
        return None
    if (
        not isinstance(found, dict)
        or found.get("result") != PASSED
        or digest(found.get("releaseSet") or {}) != digest(release_set)
    ):
        return None
    return found


# ---------------------------------------------------------------------------------------------------------------------
# Stores


class MemoryStore:
    """Attestations in memory: the offline plan's (its source stack's planned release set counts as passed)."""

    def __init__(self, blobs: dict[str, bytes] | None = None):
        self.blobs = dict(blobs or {})

    def read(self, name: str) -> bytes | None:
        return self.blobs.get(name)

    def write(self, name: str, data: bytes) -> None:
        self.blobs[name] = data


class DirectoryStore:
    """A `file://` backend's folder."""

    def __init__(self, root: Path):
        self.root = root

    def read(self, name: str) -> bytes | None:
        path = self.root / name
        return path.read_bytes() if path.is_file() else None

    def write(self, name: str, data: bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


class BlobStore:
    """The state backend's Azure Blob container, with the login Pulumi's azblob backend uses: the account from
    AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY when set, else the Azure login (DefaultAzureCredential)."""

    def __init__(self, container: str, account: str, key: str | None):
        from azure.storage.blob import ContainerClient

        credential: Any = key
        if not key:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        self.client = ContainerClient(f"https://{account}.blob.core.windows.net", container, credential=credential)

    def read(self, name: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.client.download_blob(name).readall()
        except ResourceNotFoundError:
            return None

    def write(self, name: str, data: bytes) -> None:
        self.client.upload_blob(name, data, overwrite=True)


class StoreError(Exception):
    """No attestation store for this backend: the message says which backends have one."""


def backend_store(env: Mapping[str, str] | None = None) -> Store:
    """The store beside the state of `PULUMI_BACKEND_URL`."""
    env = os.environ if env is None else env
    url = env.get(BACKEND_ENV, "")
    parts = urlsplit(url)
    if parts.scheme == "azblob" and parts.netloc:
        account = env.get("AZURE_STORAGE_ACCOUNT", "")
        if not account:
            raise StoreError(f"{BACKEND_ENV} is {url!r} but AZURE_STORAGE_ACCOUNT is not set")
        return BlobStore(parts.netloc, account, env.get("AZURE_STORAGE_KEY") or None)
    if parts.scheme == "file":
        return DirectoryStore(Path(parts.path or "/"))
    raise StoreError(
        f"{BACKEND_ENV} is {url!r}: promotion attestations live beside the state, in an azblob:// or file:// backend"
    )


store_source: list[Callable[[], Store | None]] = [backend_store]
"""Where the promotion gate reads attestations: the state backend (which raises StoreError, never answers None, when
there is none). Only tools/offline installs a source answering None: an offline plan has no history of the source
stack's smoke runs, so it checks the versions and not the attestation (its tests install a store of their own)."""
