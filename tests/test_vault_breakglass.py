"""The break-glass procedure of docs/vault.md, run against a real server that the initialiser brought up with
recovery keys (stored in the fake Key Vault, revoked root token), ends with a root token that works and is then
revoked.

The shell lines run as written, with `bao` for `vault` and BAO_* for VAULT_*, and `key` reading the fake Key Vault
instead of `az keyvault secret show`. The `generate-root` lines are the exception: OpenBao's CLI moved them to
authenticated endpoints (sys/generate-root-token/*, which need the token nobody holds in a break-glass), while
HashiCorp's CLI, which production's operators use against the pinned HashiCorp Vault, calls the unauthenticated
sys/generate-root/*. The test checks that the page's steps are that sequence (a one-time pad, an attempt, one
update per key up to the threshold with the keys as Key Vault stores them, the decode) and makes those calls itself
(tests/vault_server.py `generate_root`), on a server that serves them as HashiCorp Vault does.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from components import naming
from components.vault.init import InitRequest, Journal, VaultApi, initialise
from tests.conftest import PROJECT_DIR
from tests.entra import entra_issuer, program_access
from tests.fakekeyvault import FakeKeyVault
from tests.test_vault_init import ADMINS, KV_URL, PIPELINE, QUICK, TENANT
from tests.vault_server import BAO, auto_unsealed_server, generate_root
from tools import offline

pytestmark = pytest.mark.vault_server


def readme_procedure() -> list[str]:
    """The break-glass section's shell block, one command per line, comments dropped."""
    readme = (PROJECT_DIR / "docs" / "vault.md").read_text()
    section = readme[readme.index("### Break-glass: a root token from the recovery keys") :]
    start = section.index("```sh\n") + len("```sh\n")
    block = section[start : section.index("\n```", start)]
    lines = [line.split("  #", 1)[0].rstrip() for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_readme_break_glass_procedure_yields_a_root_token_and_ends_with_it_revoked(tmp_path: Path):
    threshold = offline.load_config("staging").vault.recovery_threshold
    steps = readme_procedure()
    generate = [line for line in steps if line.startswith("vault operator generate-root")]
    keys_used = [int(m) for line in generate for m in re.findall(r'"\$\(key (\d+)\)"', line)]
    assert generate[0] == "vault operator generate-root -generate-otp > otp.txt"
    assert generate[1] == 'vault operator generate-root -init -otp="$(cat otp.txt)"'
    assert keys_used == list(range(threshold)), "one -nonce line per key, up to vault.recoveryThreshold"
    assert all(line.startswith("vault operator generate-root -nonce=<Nonce> ") for line in generate[2:-1])
    assert steps[-1] == "vault token revoke -self"
    assert 'export VAULT_TOKEN=$(vault operator generate-root -decode=<Encoded Token> -otp="$(cat otp.txt)")' in steps

    store = FakeKeyVault()
    with auto_unsealed_server(tmp_path / "bao") as server, entra_issuer(TENANT) as issuer:
        access = program_access(issuer, ADMINS, [PIPELINE])
        api = VaultApi(server.address, QUICK)
        request = InitRequest(server.address, KV_URL, 5, threshold, access)
        initialise(api, store, Journal(tmp_path / "journal", KV_URL), request, QUICK)
        api.close()
        stored_root = store.get(naming.VAULT_ROOT_TOKEN_SECRET) or ""
        assert server.request("GET", "auth/token/lookup-self", stored_root)[0] == 403  # nobody holds a root token

        keys = [store.get(naming.vault_recovery_key_secret(i)) or "" for i in keys_used]
        token = generate_root(server, keys)
        status, reply = server.request("GET", "auth/token/lookup-self", token)
        assert status == 200 and reply["data"]["policies"] == ["root"]

        # The last line as written, with the address and the token the decode exported.
        script = f'vault() {{ {BAO} "$@"; }}\nexport BAO_ADDR={server.address} BAO_TOKEN={token}\n{steps[-1]}\n'

        done = subprocess.run(["bash", "-euc", script], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert server.request("GET", "auth/token/lookup-self", token)[0] == 403  # and nobody holds one again
