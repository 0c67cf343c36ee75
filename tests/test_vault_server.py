"""The real servers the Vault tests run against answer as production's Vault does where it matters to cdstack."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vault_server import auto_unsealed_server, dev_server, wait_unsealed

pytestmark = pytest.mark.vault_server


def test_dev_server_takes_its_root_token(tmp_path: Path):
    with dev_server(tmp_path) as server:
        assert server.root("GET", "auth/token/lookup-self")["data"]["policies"] == ["root"]
        status, _ = server.request("GET", "auth/token/lookup-self", token="not-a-token")
        assert status == 403


def test_auto_unsealed_server_initialises_with_recovery_keys_only(tmp_path: Path):
    with auto_unsealed_server(tmp_path) as server:
        status, seal = server.request("GET", "sys/seal-status")
        assert (status, seal["initialized"], seal["recovery_seal"]) == (200, False, True)
        status, reply = server.request("PUT", "sys/init", body={"recovery_shares": 3, "recovery_threshold": 2})
        assert status == 200, reply
        assert (reply["keys"], len(reply["recovery_keys"])) == ([], 3)
        server.root_token = reply["root_token"]
        wait_unsealed(server)
        assert server.root("GET", "sys/seal-status")["sealed"] is False
