"""Entra ID's side of the deployer login, for the real Vault-API server: an OIDC issuer on 127.0.0.1.

Vault's JWT auth, configured the way the program configures it (`oidc_discovery_url` = `bound_issuer` = the issuer),
fetches `<issuer>.well-known/openid-configuration` and then the `jwks_uri` it names, and verifies the tokens' RS256
signatures against those keys: what it does against `https://sts.windows.net/<tenant>/` in production. Here the
issuer is `http://127.0.0.1:<port>/<tenant>/`, serving a test RSA key, and `token()` signs access tokens shaped like
Entra ID's ARM tokens (v1: `iss`, `aud`, `oid`, `tid`, `groups`, or the overage pointer `_claim_names` instead).

This is a stand-in for Entra ID (no Entra ID here), not for Vault: every check of the token is the real server's.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from components.vault import login as vault_login


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _number(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass
class Issuer:
    issuer: str
    tenant: str
    key: rsa.RSAPrivateKey
    kid: str

    def token(self, oid: str, audience: str = vault_login.ARM_AUDIENCES[0], **claims: Any) -> str:
        """An RS256 access token of this issuer, valid for an hour; `claims` add to or replace the ARM shape."""
        now = int(time.time())
        payload = {
            "aud": audience,
            "iss": self.issuer,
            "iat": now - 60,
            "nbf": now - 60,
            "exp": now + 3600,
            "oid": oid,
            "sub": oid,
            "tid": self.tenant,
            **claims,
        }
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        key = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid}
        return {"keys": [{**key, "n": _number(numbers.n), "e": _number(numbers.e)}]}


@contextmanager
def entra_issuer(tenant: str) -> Iterator[Issuer]:
    """The OIDC discovery document and JWKS of a test issuer, served on 127.0.0.1 until the context ends."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    holder: dict[str, Issuer] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            issuer = holder["issuer"]
            base = f"/{tenant}/"
            documents = {
                f"{base}.well-known/openid-configuration": {
                    "issuer": issuer.issuer,
                    "jwks_uri": f"{issuer.issuer}discovery/keys",
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "response_types_supported": ["code", "id_token", "token id_token"],
                    "subject_types_supported": ["pairwise"],
                    "authorization_endpoint": f"{issuer.issuer}oauth2/authorize",
                    "token_endpoint": f"{issuer.issuer}oauth2/token",
                },
                f"{base}discovery/keys": issuer.jwks(),
            }
            body = documents.get(self.path)
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["issuer"] = Issuer(f"http://127.0.0.1:{server.server_address[1]}/{tenant}/", tenant, key, uuid.uuid4().hex)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["issuer"]
    finally:
        server.shutdown()
        server.server_close()


def program_access(issuer: Issuer, admin_group: str, deployers: list[str], stack: str = "staging") -> dict[str, Any]:
    """The deployer login spec as VaultBootstrap builds it for `stack` (vault_login.access_spec with the program's
    deployer policy), trusting `issuer` instead of `https://sts.windows.net/<tenant>/`: the one value a test cannot
    keep."""
    from components.vault import access as vault_access
    from components.vault import bootstrap as vault_bootstrap
    from tools import offline

    cfg = offline.load_config(stack)
    spec = vault_login.access_spec(
        issuer.tenant,
        admin_group,
        deployers,
        vault_bootstrap.deployer_policy(cfg),
        vault_access.token_lifetime_seconds(cfg),
    )
    assert spec["issuer"] == vault_login.issuer(issuer.tenant)
    return {**spec, "issuer": issuer.issuer}
