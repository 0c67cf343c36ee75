"""Vault on Raft, against real servers: three `bao` servers on loopback with TLS from a test CA join one another with
the program's own `retry_join` stanza, survive the loss of their leader, and are saved and restored by the snapshot
job's script with the identity the program defines.

What is the program's and what is the test's:
- the `storage "raft"` block is cut from the server config the chart receives (services/secrets.py
  vault_server_config), with only the peers' addresses, the data folder and the CA file's path rewritten to
  loopback; `leader_tls_servername` stays the program's, so each join verifies the test certificate, made for the
  program's own names (vault_dns_names), exactly as production's servers verify cert-manager's;
- the snapshot identity is the program's JWT role and policy (components/vault/raft.py), loaded through the API.
  Its tokens come from Kubernetes in production; here a test key signs a token with the same subject and audience
  (the mount is given that key instead of the AKS issuer's discovery URL, which the test cannot reach);
- the snapshot is saved by the CronJob's own script (services/vault_snapshot.py, `save`) and restored by the command
  `make restore WHAT=vault` runs (tools/restore.py vault_restore_command).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from components.services import secrets
from components.vault import raft as vault_raft
from tests.services import stack_cfg
from tests.vault_server import LoopbackTls, RaftCluster, raft_cluster
from tools import restore

pytestmark = pytest.mark.vault_server

UNSEAL = secrets.UnsealKey("t", "kv", "key", "client")
ISSUER = "https://oidc.cluster.test/"


def program_raft_block(replicas: int) -> str:
    """The `storage "raft"` block of the server config the program hands the chart."""
    cfg = stack_cfg("prod", vault={"serverReplicas": replicas, "storage": "raft"})
    hcl = secrets.vault_server_config(cfg, UNSEAL)
    match = re.search(r'^storage "raft" \{\n.*?^\}\n', hcl, re.S | re.M)
    assert match, hcl
    return match.group(0)


def loopback(block: str):
    """The program's block for a loopback server: peers' https addresses, data folder and CA file rewritten."""

    def stanza(index: int, addresses: list[str], data: Path, tls: LoopbackTls) -> str:
        text = block.replace(f'"{secrets.RAFT_DATA_PATH}"', f'"{data}"').replace(secrets.CA_FILE, str(tls.ca_file))
        for i, address in enumerate(addresses):
            text = text.replace(f"https://{secrets.raft_peer_host(i)}:{secrets.VAULT_PORT}", address)
        assert "svc.cluster.local:" not in text, text  # every peer address was rewritten
        return text

    return stanza


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """A stand-in for the cluster's OIDC issuer: signs service account tokens with an RSA key."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def token(self, subject: str, audience: str) -> str:
        now = int(time.time())
        header = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
        claims = {"iss": ISSUER, "sub": subject, "aud": [audience], "iat": now, "nbf": now, "exp": now + 600}
        body = b64url(json.dumps(claims).encode())
        signature = self.key.sign(f"{header}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{body}.{b64url(signature)}"


def load_snapshot_identity(cluster: RaftCluster, issuer: Issuer) -> None:
    """The program's JWT mount, policy and role, as pulumi-vault would write them (the mount keyed to the test key)."""
    leader = cluster.active()
    mount = vault_raft.CLUSTER_JWT_MOUNT
    leader.root("POST", f"sys/auth/{mount}", {"type": "jwt"})
    leader.root(
        "POST", f"auth/{mount}/config", {"jwt_validation_pubkeys": [issuer.public_pem()], "bound_issuer": ISSUER}
    )
    leader.root("PUT", f"sys/policies/acl/{vault_raft.SNAPSHOT_POLICY}", {"policy": vault_raft.snapshot_policy()})
    leader.root("POST", f"auth/{mount}/role/{vault_raft.SNAPSHOT_ROLE}", vault_raft.snapshot_role())


def run_snapshot_script(cluster: RaftCluster, jwt_file: Path, target: Path) -> subprocess.CompletedProcess[str]:
    """The CronJob's first container, as its pod runs it (components/services/backups.py sets this environment)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "VAULT_ADDR": cluster.active().address,
        "VAULT_CACERT": str(cluster.tls.ca_file),
        "VAULT_AUTH_PATH": vault_raft.CLUSTER_JWT_MOUNT,
        "VAULT_ROLE": vault_raft.SNAPSHOT_ROLE,
        "VAULT_JWT_FILE": str(jwt_file),
    }
    script = Path(secrets.__file__).with_name("vault_snapshot.py")
    return subprocess.run(
        [sys.executable, str(script), "save", str(target)], env=env, capture_output=True, text=True, timeout=120
    )


def wait_voters(cluster: RaftCluster, count: int, seconds: float = 60) -> list[dict]:
    deadline = time.monotonic() + seconds
    servers: list[dict] = []
    while time.monotonic() < deadline:
        reply = cluster.active().root("GET", "sys/storage/raft/configuration")
        servers = reply["data"]["config"]["servers"]
        if len(servers) == count and all(s["voter"] for s in servers):
            return servers
        time.sleep(0.5)
    raise AssertionError(f"{len(servers)} voters of {count}: {servers}")


def test_three_servers_join_with_the_programs_stanza_survive_their_leader_and_restore_a_snapshot(tmp_path: Path):
    block = program_raft_block(3)
    assert block.count("retry_join {") == 3 and "leader_tls_servername" in block and "leader_ca_cert_file" in block
    names = secrets.vault_dns_names()
    with raft_cluster(tmp_path, 3, loopback(block), names) as cluster:
        # One `sys/init` (what VaultInit sends); the others join it by themselves through retry_join over TLS.
        cluster.initialise(0)
        leader = cluster.active()
        assert len(wait_voters(cluster, 3)) == 3
        settings = vault_raft.autopilot(stack_cfg("prod", vault={"serverReplicas": 3}))
        assert settings is not None
        leader.root("POST", "sys/storage/raft/autopilot/configuration", settings)
        applied = leader.root("GET", "sys/storage/raft/autopilot/configuration")["data"]
        assert (applied["cleanup_dead_servers"], applied["min_quorum"]) == (True, 3)
        leader.root("POST", "sys/mounts/concourse", {"type": "kv", "options": {"version": "2"}})
        leader.root("POST", "concourse/data/main/answer", {"data": {"value": "42"}})
        old_root = cluster.root_token

        # The leader goes: another server is elected and still serves the data.
        index = cluster.servers.index(leader)
        cluster.stop(index)
        successor = cluster.active()
        assert successor.address != leader.address
        assert successor.root("GET", "concourse/data/main/answer")["data"]["data"]["value"] == "42"
        cluster.start(index)

        # The snapshot job: its script, the program's role, a token with the service account's subject.
        issuer = Issuer()
        load_snapshot_identity(cluster, issuer)
        jwt_file = tmp_path / "token"
        jwt_file.write_text(issuer.token(vault_raft.snapshot_subject(), vault_raft.SNAPSHOT_AUDIENCE))
        snapshot = tmp_path / "vault.snap"
        saved = run_snapshot_script(cluster, jwt_file, snapshot)
        assert saved.returncode == 0, saved.stderr
        assert snapshot.stat().st_size > 0

        # Wiped: every server loses its data and starts as a new cluster, initialised anew.
        for i in range(3):
            cluster.wipe(i)
        for i in range(3):
            cluster.start(i)
        cluster.initialise(0)
        fresh = cluster.active()
        status, _ = fresh.request("GET", "concourse/data/main/answer", cluster.root_token)
        assert status in (403, 404)  # nothing of the old cluster is left
        wait_voters(cluster, 3)

        # `make restore WHAT=vault`'s restore step, with a token that may restore (the new cluster's root).
        command = restore.vault_restore_command(str(snapshot), force=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "VAULT_ADDR": fresh.address,
            "VAULT_CACERT": str(cluster.tls.ca_file),
            "VAULT_TOKEN": cluster.root_token or "",
        }
        restored = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert restored.returncode == 0, restored.stderr

        # The store is the snapshot's again: its tokens, its mounts, the value written before.
        cluster.root_token = old_root
        deadline = time.monotonic() + 60
        while True:
            active = cluster.active()
            status, reply = active.request("GET", "concourse/data/main/answer", old_root)
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert status == 200, reply
        assert reply["data"]["data"]["value"] == "42"


def test_the_snapshot_identity_reads_the_snapshot_once_and_nothing_else(tmp_path: Path):
    """The role's token: the snapshot endpoint only (no default policy), one use; a token for another service
    account or audience gets none."""
    with raft_cluster(tmp_path, 1, loopback(program_raft_block(1)), secrets.vault_dns_names()) as cluster:
        cluster.initialise(0)
        leader = cluster.active()
        leader.root("POST", "sys/mounts/concourse", {"type": "kv", "options": {"version": "2"}})
        leader.root("POST", "concourse/data/main/answer", {"data": {"value": "42"}})
        issuer = Issuer()
        load_snapshot_identity(cluster, issuer)
        mount = vault_raft.CLUSTER_JWT_MOUNT

        def login(subject: str, audience: str) -> tuple[int, dict]:
            jwt = issuer.token(subject, audience)
            return leader.request("POST", f"auth/{mount}/login", body={"role": vault_raft.SNAPSHOT_ROLE, "jwt": jwt})

        status, reply = login(vault_raft.snapshot_subject(), vault_raft.SNAPSHOT_AUDIENCE)
        assert status == 200, reply
        assert reply["auth"]["policies"] == [vault_raft.SNAPSHOT_POLICY]
        token = reply["auth"]["client_token"]
        for method, path in (
            ("GET", "concourse/data/main/answer"),
            ("GET", "auth/token/lookup-self"),
            ("POST", "sys/storage/raft/snapshot-force"),
            ("GET", "sys/storage/raft/configuration"),
        ):
            assert leader.request(method, path, token)[0] == 403, path
        # A fresh token reads the snapshot, once.
        token = login(vault_raft.snapshot_subject(), vault_raft.SNAPSHOT_AUDIENCE)[1]["auth"]["client_token"]
        first = run_status(leader, token)
        assert first == 200
        assert run_status(leader, token) == 403

        other = login("system:serviceaccount:vault:default", vault_raft.SNAPSHOT_AUDIENCE)
        assert other[0] in (400, 403), other
        wrong_audience = login(vault_raft.snapshot_subject(), "api://AzureADTokenExchange")
        assert wrong_audience[0] in (400, 403), wrong_audience


def run_status(server, token: str) -> int:
    """The status of a snapshot read (the body is a binary archive, not JSON)."""
    import ssl
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{server.address}/v1/sys/storage/raft/snapshot", headers={"X-Vault-Token": token})
    context = ssl.create_default_context(cafile=str(server.ca_file))
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
