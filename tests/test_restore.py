"""The restore tool's steps against fakes: a runner that records every command and answers the blob listing."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from tests.services import stack_cfg
from tools import restore
from tools.restore import Restore, RestoreError, choose_snapshot

SNAPSHOTS = ["2026-11-27T000000Z.snap", "2026-11-27T060000Z.snap", "2026-11-27T120000Z.snap"]


class FakeTools:
    """`az` and `kubectl` as the restore sees them: a listing of the backup container, success for the rest."""

    def __init__(self, snapshots: list[str], fail_on: str | None = None):
        self.snapshots = snapshots
        self.fail_on = fail_on
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str]) -> str:
        self.commands.append(list(command))
        if self.fail_on and self.fail_on in command:
            raise RestoreError(f"{' '.join(command)} failed (1): boom")
        if list(command[:4]) == ["az", "storage", "blob", "list"]:
            return json.dumps(list(reversed(self.snapshots)))  # Azure lists in any order
        return ""


CONSUL = {"storage": "consul"}


def vault_restore(tools: FakeTools, at: str | None = None, vault: dict | None = None) -> tuple[str, list[str]]:
    said: list[str] = []
    result = Restore(stack_cfg("staging", vault=vault or CONSUL), tools, said.append).vault(at)
    return result, said


@pytest.mark.parametrize("new_cluster", [False, True])
def test_vault_on_raft_installs_the_snapshot_through_vaults_api(new_cluster: bool, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VAULT_TOKEN", "s.operator")
    tools = FakeTools(SNAPSHOTS)
    said: list[str] = []
    result = Restore(stack_cfg("staging"), tools, said.append, new_cluster=new_cluster).vault(None)
    assert "from 2026-11-27T120000Z.snap" in result
    _, download, install = tools.commands
    local = download[download.index("--file") + 1]
    assert install == [
        "env",
        "VAULT_ADDR=https://vault.staging.cd.contoso.com",
        *restore.vault_restore_command(local, new_cluster),
    ]
    assert install[-1] == "--force" if new_cluster else install[-1] == local
    assert not any(c[0] == "kubectl" for c in tools.commands)  # no Consul, no restart: Raft installs it live
    assert "s.operator" not in " ".join(said)  # the token is never printed


def test_vault_on_raft_needs_a_token_before_it_downloads_anything(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    tools = FakeTools(SNAPSHOTS)
    with pytest.raises(RestoreError, match="set VAULT_TOKEN"):
        Restore(stack_cfg("staging"), tools, lambda _: None).vault(None)
    assert tools.commands == []


def test_vault_restores_the_newest_snapshot_into_consul_and_restarts_vault():
    tools = FakeTools(SNAPSHOTS)
    result, said = vault_restore(tools)
    assert "from 2026-11-27T120000Z.snap (3 snapshots available)" in result
    listing, download, copy, restore_, restart = tools.commands
    assert listing[listing.index("--account-name") + 1] == "stbcontosostaging"
    assert listing[listing.index("--container-name") + 1] == "vault-snapshots"
    assert download[download.index("--name") + 1] == "2026-11-27T120000Z.snap"
    assert "--auth-mode" in download and "login" in download  # no storage key
    assert copy[:4] == ["kubectl", "-n", "vault", "cp"] and copy[-1] == "consul-server-0:/tmp/restore.snap"
    assert restore_[-4:] == [
        "snapshot",
        "restore",
        "-http-addr=http://consul-server.vault.svc:8500",
        "/tmp/restore.snap",
    ]
    assert restore_[:6] == ["kubectl", "-n", "vault", "exec", "consul-server-0", "--"]
    assert restart == ["kubectl", "-n", "vault", "delete", "pod", "-l", "app.kubernetes.io/name=vault"]
    assert len(said) == 4  # each step is announced before it runs


def test_a_named_or_timed_snapshot():
    assert choose_snapshot(SNAPSHOTS, "2026-11-27T060000Z.snap") == "2026-11-27T060000Z.snap"
    assert choose_snapshot(SNAPSHOTS, "2026-11-27T11:59Z") == "2026-11-27T060000Z.snap"
    assert choose_snapshot(SNAPSHOTS, "2026-11-27T12:00:00+00:00") == "2026-11-27T120000Z.snap"
    with pytest.raises(RestoreError, match="no Vault snapshot at or before 2026-11-26"):
        choose_snapshot(SNAPSHOTS, "2026-11-26T00:00Z")
    with pytest.raises(RestoreError, match="not an ISO time"):
        choose_snapshot(SNAPSHOTS, "yesterday")


def test_no_snapshot_stops_before_touching_the_cluster():
    tools = FakeTools([])
    with pytest.raises(RestoreError, match="has backup-vault ever succeeded"):
        vault_restore(tools)
    assert all(command[0] == "az" for command in tools.commands)


def test_a_failing_step_stops_the_restore():
    tools = FakeTools(SNAPSHOTS, fail_on="cp")
    with pytest.raises(RestoreError, match="boom"):
        vault_restore(tools)
    assert not any("delete" in command for command in tools.commands)  # Vault is not restarted


def test_dry_run_only_lists():
    tools = FakeTools(SNAPSHOTS)
    said: list[str] = []
    Restore(stack_cfg("staging", vault=CONSUL), tools, said.append, dry_run=True).vault(None)
    assert [command[:4] for command in tools.commands] == [["az", "storage", "blob", "list"]]
    assert len(said) == 4
    said.clear()
    tools.commands.clear()
    Restore(stack_cfg("staging"), tools, said.append, dry_run=True, new_cluster=True).vault(None)  # Raft, no token
    assert [command[:4] for command in tools.commands] == [["az", "storage", "blob", "list"]]
    assert len(said) == 2
    assert "snapshot-force" in said[1] and said[1].endswith("--force")


def test_postgres_point_in_time_restore_creates_a_new_server_and_says_how_to_switch():
    tools = FakeTools([])
    said: list[str] = []
    result = Restore(stack_cfg("prod"), tools, said.append).postgres("2026-11-27T10:30Z")
    (command,) = tools.commands
    assert command[:4] == ["az", "postgres", "flexible-server", "restore"]
    server = command[command.index("--source-server") + 1]
    assert command[command.index("--name") + 1] == f"{server}-restored-202611271030"
    assert command[command.index("--restore-time") + 1] == "2026-11-27T10:30:00+00:00"
    assert "pg_dump" in result and "pg_restore" in result and "scale deployment concourse-web" in result
    with pytest.raises(RestoreError, match="needs --at"):
        Restore(stack_cfg("prod"), tools, said.append).postgres(None)


def test_command_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VAULT_TOKEN", "s.operator")
    tools = FakeTools(SNAPSHOTS)
    assert restore.main(["staging", "vault", "--at", "2026-11-27T000000Z.snap"], run=tools) == 0
    assert "from 2026-11-27T000000Z.snap" in capsys.readouterr().out
    assert restore.main(["staging", "elasticsearch", "--dry-run"], run=tools) == 0
    assert "kubectl create -f" in capsys.readouterr().out


def test_a_stack_without_elasticsearch_has_nothing_to_restore_and_touches_nothing():
    tools = FakeTools(SNAPSHOTS)
    lean = stack_cfg("staging", parts={"elasticsearch": False})
    with pytest.raises(RestoreError, match=r"runs no Elasticsearch \(cdstack:parts.elasticsearch is false\)"):
        Restore(lean, tools, print).elasticsearch(None)
    assert tools.commands == []
