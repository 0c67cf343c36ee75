"""Concourse's side of an idtoken login, and Entra ID's token endpoint, on 127.0.0.1.

`concourse_issuer()`: the discovery document and JWKS a Concourse ATC serves for its idtoken var source
(atc/routes.go: `/.well-known/openid-configuration` and `/.well-known/jwks.json`; openid_discovery.go: `issuer`,
`jwks_uri` = issuer + `/.well-known/jwks.json`), and `token()`, which signs claims exactly as
atc/creds/idtoken/token_generator.go builds them (v8.1.1): `iss`, `iat`, `aud` (a list), `sub`, `exp`, then `team`,
`pipeline`, `job`, RS256 with the key's `kid`. The issuer is `http://127.0.0.1:<port>`: the external URL, no trailing
slash. A stand-in for a Concourse ATC (none runs here); Vault's and azure-identity's checks against it are real.

`entra_token_endpoint()`: Entra ID's v2 token endpoint over TLS (azure-identity insists on https), which records each
client-assertion grant and answers with an access token. A stand-in for Entra ID: the exchange's validation of the
assertion (issuer, subject, audience against a federated credential) is Entra's and cannot run here; what can, the
client's side, is azure-identity's own code.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from components.concourse import idtoken
from tests.entra import _b64, _number
from tests.vault_server import loopback_tls


@dataclass
class ConcourseIssuer:
    issuer: str
    key: rsa.RSAPrivateKey
    kid: str

    def token(
        self,
        team: str,
        pipeline: str,
        job: str,
        *,
        scope: str = "job",
        audience: list[str] | None = None,
        lifetime: int = 3600,
    ) -> str:
        """A token as Concourse's TokenGenerator signs it for a build of `job`."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "iat": now,
            "aud": audience if audience is not None else [idtoken.AZURE_AUDIENCE],
            "sub": idtoken.subject(team, pipeline, scope, job),
            "exp": now + lifetime,
            "team": team,
            "pipeline": pipeline,
            "job": job,
        }
        header = {"alg": "RS256", "kid": self.kid}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": self.kid,
                    "n": _number(numbers.n),
                    "e": _number(numbers.e),
                }
            ]
        }


def _serve(handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _reply(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    data = json.dumps(body).encode() if body is not None else b""
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@contextmanager
def concourse_issuer() -> Iterator[ConcourseIssuer]:
    """A Concourse ATC's discovery document and JWKS on 127.0.0.1 until the context ends."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    holder: dict[str, ConcourseIssuer] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            issuer = holder["issuer"]
            documents = {
                idtoken.DISCOVERY_PATH: {
                    "issuer": issuer.issuer,
                    "jwks_uri": issuer.issuer + idtoken.JWKS_PATH,
                    "claims_supported": ["aud", "iat", "iss", "sub"],
                    "response_types_supported": ["idtoken"],
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                    "subject_types_supported": ["public"],
                },
                idtoken.JWKS_PATH: issuer.jwks(),
            }
            body = documents.get(self.path)
            _reply(self, 200 if body is not None else 404, body)

    server = _serve(Handler)
    holder["issuer"] = ConcourseIssuer(
        idtoken.issuer(f"http://127.0.0.1:{server.server_address[1]}"), key, uuid.uuid4().hex
    )
    try:
        yield holder["issuer"]
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class TokenEndpoint:
    authority: str
    """What AZURE_AUTHORITY_HOST names: `https://127.0.0.1:<port>`."""
    ca_file: Path
    grants: list[dict[str, str]] = field(default_factory=list)

    @staticmethod
    def access_token(client_id: str) -> str:
        return f"arm-access-token-of-{client_id}"


@contextmanager
def entra_token_endpoint(folder: Path) -> Iterator[TokenEndpoint]:
    """`POST /<tenant>/oauth2/v2.0/token` over TLS on 127.0.0.1: records each grant (with the tenant) and answers
    with an access token for its client id."""
    tls = loopback_tls(folder, ["localhost"], ["127.0.0.1"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    holder: dict[str, TokenEndpoint] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            tenant, _, rest = self.path.lstrip("/").partition("/")
            if rest != "oauth2/v2.0/token":
                _reply(self, 404, {"error": "not_found"})
                return
            holder["endpoint"].grants.append({**form, "tenant": tenant})
            token = TokenEndpoint.access_token(form.get("client_id", ""))
            _reply(self, 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    server = _serve(Handler, context)
    holder["endpoint"] = TokenEndpoint(f"https://127.0.0.1:{server.server_address[1]}", tls.ca_file)
    try:
        yield holder["endpoint"]
    finally:
        server.shutdown()
        server.server_close()
