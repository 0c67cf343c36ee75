"""Restore one part of a stack from its newest (or a named, or the last before a time) backup, and say what it did.

    python -m tools.restore <stack> vault [--at <snapshot name | ISO time>] [--new-cluster] [--dry-run]
    python -m tools.restore <stack> postgres --at <ISO time> [--dry-run]
    python -m tools.restore <stack> elasticsearch [--at <snapshot name | ISO time>] [--dry-run]

It drives the tools an operator already has (`az` logged in, `kubectl` on the stack's cluster: `az aks get-credentials
--resource-group <resourceGroupName> --name <clusterName>`), step by step, printing each command before it runs;
`--dry-run` prints them only. Names come from the stack file through the program's own naming (no state read).

- vault: snapshots of Vault's store are in the `vault-snapshots` container (one blob per run, named by UTC time).
  On Raft (`vault.storage: raft`) the chosen snapshot is downloaded and installed through Vault's API by the backup
  script (components/services/vault_snapshot.py `restore`), at the stack's public Vault host, with the operator's
  VAULT_TOKEN (a token that may write the snapshot endpoints: the break-glass root token); `--new-cluster` uses
  `snapshot-force`, for a cluster initialised anew (a rebuilt stack, a wiped store), whose keyring is not the
  snapshot's. On Consul the snapshot is copied to a Consul server, restored with `consul snapshot restore`, and
  Vault's pods are restarted so they read the restored store. Either way the data is sealed by the Key Vault key of
  the stack that wrote it: restoring into a rebuilt stack (a new Key Vault) needs that old key
  (docs/backups.md "Rebuild from nothing").
- postgres: a point-in-time restore of Azure's backups always creates a new server (`<server>-restored-<time>`);
  the tool creates it and prints how to move Concourse's data over to the managed server.
- elasticsearch: the snapshots are in Elasticsearch's own repository (container `elasticsearch-snapshots`, written by
  the SLM policy the `backup-elasticsearch` CronJob runs). The tool starts a one-off Job in the logging namespace
  that runs the same script in `restore` mode (components/services/es_snapshot.py): it registers the repository
  (a rebuilt cluster does not know it yet), restores Kibana's saved objects and the log data streams, renamed
  `restored-*` beside today's, from the newest successful snapshot (or `--at` a snapshot name or an ISO time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from components import naming
from components.config.schema import StackConfig
from components.services import snapshots
from components.services.backups import CONSUL_HTTP

SNAPSHOT_SCRIPT = Path(__file__).resolve().parent.parent / "components" / "services" / "vault_snapshot.py"

Runner = Callable[[Sequence[str]], str]
"""Runs a command, returns its standard output, raises RestoreError when it fails."""

CONSUL_POD = "consul-server-0"
VAULT_PODS = "app.kubernetes.io/name=vault"


class RestoreError(Exception):
    pass


def run_command(command: Sequence[str]) -> str:
    result = subprocess.run(list(command), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RestoreError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()[:500]}")
    return result.stdout


def vault_restore_command(snapshot: str, force: bool) -> list[str]:
    """Install a Raft snapshot file through Vault's API: the backup script's `restore` (VAULT_ADDR, VAULT_TOKEN and
    VAULT_CACERT from the environment); `force` where the cluster is new."""
    return [sys.executable, str(SNAPSHOT_SCRIPT), "restore", snapshot, *(["--force"] if force else [])]


@dataclass
class Restore:
    cfg: StackConfig
    run: Runner
    say: Callable[[str], None]
    dry_run: bool = False
    new_cluster: bool = False
    """Vault on Raft: the cluster was initialised anew since the snapshot (restore with snapshot-force)."""

    def step(self, what: str, command: Sequence[str]) -> str:
        self.say(f"- {what}: {' '.join(command)}")
        return "" if self.dry_run else self.run(command)

    # -----------------------------------------------------------------------------------------------------------------
    # Vault

    def snapshots(self) -> list[str]:
        """Snapshot blob names, oldest first (names are UTC times, so name order is time order)."""
        listing = self.run(
            [
                "az", "storage", "blob", "list", "--auth-mode", "login",
                "--account-name", self.cfg.naming.backup_storage_account(),
                "--container-name", naming.BACKUP_CONTAINERS["vault"],
                "--query", "[].name", "--output", "json",
            ]
        )  # fmt: skip
        return sorted(json.loads(listing or "[]"))

    def vault(self, at: str | None) -> str:
        raft = self.cfg.vault.storage == "raft"
        if raft and not self.dry_run and not os.environ.get("VAULT_TOKEN"):
            raise RestoreError(
                "set VAULT_TOKEN to a token allowed to restore (update on sys/storage/raft/snapshot-force: the "
                "break-glass root token, docs/backups.md 'Restore Vault')"
            )
        names = self.snapshots()
        snapshot = choose_snapshot(names, at)
        with tempfile.TemporaryDirectory() as tmp:
            local = str(Path(tmp) / snapshot)
            self.step(
                "download the snapshot",
                [
                    "az", "storage", "blob", "download", "--auth-mode", "login",
                    "--account-name", self.cfg.naming.backup_storage_account(),
                    "--container-name", naming.BACKUP_CONTAINERS["vault"], "--name", snapshot, "--file", local,
                    "--output", "none",
                ],
            )  # fmt: skip
            done = self.vault_raft(local) if raft else self.vault_consul(local)
        return f"Restored Vault of stack {self.cfg.stack} from {snapshot} ({len(names)} snapshots available). {done}"

    def vault_raft(self, local: str) -> str:
        address = f"https://{self.cfg.dns.host('vault')}"
        # VAULT_TOKEN comes from the operator's environment and is never printed.
        self.step(
            "install it in Vault's Raft store" + (" (snapshot-force: a new cluster)" if self.new_cluster else ""),
            ["env", f"VAULT_ADDR={address}", *vault_restore_command(local, self.new_cluster)],
        )
        return (
            "Vault's data, logins and tokens are the snapshot's; the standbys follow the leader. Revoke the token "
            "you restored with if it was a break-glass root token (it may not exist in the restored store)."
        )

    def vault_consul(self, local: str) -> str:
        ns = naming.NAMESPACES["secrets"]
        self.step("copy it to a Consul server", ["kubectl", "-n", ns, "cp", local, f"{CONSUL_POD}:/tmp/restore.snap"])
        self.step(
            "restore Consul (Vault's store) from it",
            ["kubectl", "-n", ns, "exec", CONSUL_POD, "--", "consul", "snapshot", "restore",
             f"-http-addr={CONSUL_HTTP}", "/tmp/restore.snap"],
        )  # fmt: skip
        self.step(
            "restart Vault so it reads the restored store", ["kubectl", "-n", ns, "delete", "pod", "-l", VAULT_PODS]
        )
        return (
            "Vault's pods restart and auto-unseal with the Key Vault key; its data, logins and tokens are the "
            "snapshot's."
        )

    # -----------------------------------------------------------------------------------------------------------------
    # PostgreSQL

    def postgres(self, at: str | None) -> str:
        if not at:
            raise RestoreError("postgres needs --at <ISO time> (Azure restores to a point in time, not a file)")
        when = parse_time(at)
        server = self.cfg.naming.postgres_server()
        target = f"{server}-restored-{when.strftime('%Y%m%d%H%M')}"
        self.step(
            "restore the server's backups to a new server",
            [
                "az", "postgres", "flexible-server", "restore",
                "--resource-group", self.cfg.naming.resource_group(),
                "--name", target, "--source-server", server,
                "--restore-time", when.isoformat(),
            ],
        )  # fmt: skip
        ns = naming.NAMESPACES["concourse"]
        return "\n".join(
            [
                f"Restored {server} as it was at {when.isoformat()} into the new server {target}.",
                "Concourse still uses the managed server. To switch it to the restored data:",
                f"  1. stop Concourse: kubectl -n {ns} scale deployment concourse-web --replicas=0",
                f"  2. copy the data: pg_dump -Fc -h {target}.postgres.database.azure.com -U <admin> concourse | "
                f"pg_restore --clean --if-exists -h {server}.postgres.database.azure.com -U <admin> -d concourse",
                "     (admin login and password: cdstack:database.adminLogin and the stack's Pulumi secret)",
                "  3. run `pulumi up` (it scales Concourse web back to its configured replicas)",
                f"  4. when satisfied: az postgres flexible-server delete -g {self.cfg.naming.resource_group()} "
                f"-n {target}",
            ]
        )

    def elasticsearch(self, at: str | None) -> str:
        if not self.cfg.parts.elasticsearch:
            raise RestoreError(
                f"stack {self.cfg.stack} runs no Elasticsearch (cdstack:parts.elasticsearch is false): "
                "nothing to restore"
            )
        ns = naming.NAMESPACES["logging"]
        job = f"restore-elasticsearch-{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}"
        with tempfile.TemporaryDirectory() as tmp:
            manifest = Path(tmp) / f"{job}.json"
            manifest.write_text(json.dumps(restore_job(self.cfg, job, at), indent=1))
            self.step(
                "start the restore Job (the backup script in restore mode)", ["kubectl", "create", "-f", str(manifest)]
            )
        self.step(
            "wait for it (Kibana's saved objects, then the log data streams)",
            [
                "kubectl",
                "-n",
                ns,
                "wait",
                "--for=condition=complete",
                f"--timeout={snapshots.WAIT_SECONDS}s",
                f"job/{job}",
            ],
        )
        logs = self.step("what it did", ["kubectl", "-n", ns, "logs", f"job/{job}"])
        return (
            f"Elasticsearch of stack {self.cfg.stack}: {logs.strip() or 'restore Job ' + job + ' started'}. In Kibana, "
            "a data view on restored-* shows the restored logs; delete them with DELETE _data_stream/restored-* when "
            "done."
        )


def restore_job(cfg: StackConfig, name: str, at: str | None) -> dict[str, Any]:
    """A Job manifest running the backup script in restore mode, once, with the snapshot (or time) asked for."""
    pod = snapshots.job_pod(cfg, naming.BACKUP_CONTAINERS["elasticsearch"], "restore")
    pod["spec"]["containers"][0]["env"].append({"name": "SNAPSHOT", "value": at or ""})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": naming.NAMESPACES["logging"]},
        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": snapshots.WAIT_SECONDS, "template": pod},
    }


def parse_time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise RestoreError(f"--at {text!r}: not an ISO time such as 2026-11-28T14:00Z") from error
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def snapshot_time(name: str) -> datetime | None:
    try:
        return datetime.strptime(name.removesuffix(".snap"), "%Y-%m-%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def choose_snapshot(names: Sequence[str], at: str | None) -> str:
    """The newest snapshot; the one named `at`; or the newest taken at or before the time `at`."""
    if not names:
        raise RestoreError("no Vault snapshot in the backup container (has backup-vault ever succeeded?)")
    if at is None:
        return max(names)
    if at in names:
        return at
    when = parse_time(at)
    earlier = [name for name in names if (taken := snapshot_time(name)) is not None and taken <= when]
    if not earlier:
        raise RestoreError(f"no Vault snapshot at or before {when.isoformat()}; the oldest is {min(names)}")
    return max(earlier)


WHAT = ("vault", "elasticsearch", "postgres")


def main(argv: Sequence[str] | None = None, run: Runner = run_command) -> int:
    from tools import offline

    parser = argparse.ArgumentParser(
        prog="python -m tools.restore", description="Restore one part of a stack from a backup."
    )
    parser.add_argument("stack")
    parser.add_argument("what", choices=WHAT)
    parser.add_argument("--at", help="a snapshot name, or an ISO time: restore the newest backup at or before it")
    parser.add_argument(
        "--new-cluster",
        action="store_true",
        help="vault on Raft: the cluster was initialised after the snapshot was taken (restores with snapshot-force)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    args = parser.parse_args(argv)
    try:
        cfg = offline.load_config(args.stack)
        restore = Restore(cfg, run, print, args.dry_run, args.new_cluster)
        print(getattr(restore, args.what)(args.at))
    except RestoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
