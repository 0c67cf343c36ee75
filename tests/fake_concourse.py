"""A fake Concourse API on 127.0.0.1 that follows the upstream handlers' shapes, with faults to inject.

Shapes (concourse/concourse atc/api/teamserver set.go, get.go, destroy.go; atc/wrappa; skymarshal and dex's password
grant): `POST /sky/issuer/token` with fly's client and the password grant answers {"access_token", "token_type",
"expires_in"}, 401 {"error": "access_denied"} on a wrong password; `/api/v1/teams/<team>` needs the bearer token
(401 without a valid one); PUT answers 201 created / 200 updated with {"team": {"id", "name", "auth"}}, 400 on an
auth with an empty role; GET the team or 404; DELETE 204 or 404. `GET /api/v1/info` needs no token.

Pipelines (atc/api/configserver save.go, get.go; atc/api/pipelineserver get.go, unpause.go, delete.go; atc/db
team.go savePipeline): `PUT .../pipelines/<p>/config` takes YAML, 400 {"errors": [...]} on a config that is not a
mapping with jobs, 404 without the team, 201 for a new (paused) pipeline, 200 for an update, which must name the saved
version in X-Concourse-Config-Version (else 500: the comparison failed); `GET .../config` answers {"config": ...} with
that header; `GET .../pipelines/<p>` the pipeline {"name", "paused", "archived"}; `PUT .../unpause` 200; `DELETE` 204;
a missing pipeline 404.

Faults are queued and each is used once. Connection faults (`conn_faults`) act when a connection is accepted:
"stall" accepts and never answers (over TLS: a stalled handshake), "" leaves that connection alone. Request faults
(`faults`, optionally "PUT:..." to apply only to that method) act on the next matching request:
  "503", "503 retry-after=N", "502-html"   a load balancer or proxy error page, nothing written
  "500-after-commit"                       the write commits, then 500 (SetTeam's NotifyCacher failure)
  "drop"                                   the connection closes before any reply, nothing written
  "reset-after-commit"                     the write commits, the reply is cut off mid-body by a TCP reset
  "html"                                   200 with a proxy's HTML page, nothing written
  "truncated-after-commit", "empty-after-commit"   the write commits, the reply is cut JSON or `{}`
  "slow=S"                                 answer after S seconds (a PUT commits after the wait: a late commit)
  "drip=S"                                 headers at once, then the body one byte every S seconds
  "expire-token"                           every issued token expires before this request is served
  "403", "409"                             those statuses, nothing written
  "close"                                  the usual answer, then the server closes the connection (the next request
                                           needs a new one: a new TLS handshake)
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs

import yaml

ADMIN, PASSWORD = "admin", "s3cret-admin"
GROUP = "0b7e4d2c-8a15-4f3e-b6d9-2c1a7e5f9d04"
OTHER_GROUP = "9d3f6b1a-2e4c-4a8b-8f7d-1c5e9a3b7d62"


class FakeConcourse(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.tls = tls
        self.teams: dict[str, dict[str, Any]] = {"main": {"id": 1, "name": "main", "auth": {}}}
        self.pipelines: dict[tuple[str, str], dict[str, Any]] = {}
        """(team, pipeline) -> {"config": the saved YAML text, "version": int, "paused": bool}."""
        self.config_versions = 0
        self.faults: list[str] = []
        self.conn_faults: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.tokens: set[str] = set()
        self.logins = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.server_address[1]}"

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return self.requests.count((method, path))

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self.lock:
            fault = self.conn_faults.pop(0) if self.conn_faults else None
        if fault == "stall":
            self.stopping.wait(10)  # accept, then say nothing: no TLS handshake, no reply
            return
        request.settimeout(10)
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the client refused our certificate
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up on a fault is the point of the fault, not an error worth printing."""

    def next_fault(self, method: str) -> str | None:
        with self.lock:
            if not self.faults:
                return None
            scope = self.faults[0].rpartition(":")[0]
            if scope in ("", method):
                return self.faults.pop(0)[len(scope) + 1 if scope else 0 :]
            return None


@contextmanager
def running(tls: ssl.SSLContext | None = None) -> Iterator[FakeConcourse]:
    server = FakeConcourse(tls)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as through the load balancer: replies always carry Content-Length
    extra_headers: dict[str, str] = {}  # headers of the current reply; replaced per request, never mutated

    @property
    def fake(self) -> FakeConcourse:
        return cast(FakeConcourse, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- replies

    def send(self, status: int, body: bytes = b"", content_type: str = "application/json", **headers: str) -> None:
        self.send_response(status)
        if body:
            self.send_header("Content-Type", content_type)
        for name, value in {**self.extra_headers, **headers}.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reply(self, status: int, value: Any = None) -> None:
        self.send(status, b"" if value is None else json.dumps(value).encode())

    def reset(self, partial: bytes = b"") -> None:
        """Send the start of a reply, then a TCP reset (SO_LINGER 0), as a backend dying mid-response."""
        if partial:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(partial) + 100))
            self.end_headers()
            self.wfile.write(partial)
            self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def drip(self, status: int, body: bytes, pause: float) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for i in range(len(body)):
            if self.fake.stopping.wait(pause):
                return
            try:
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
            except OSError:
                return

    # -- routing

    def handle_one(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.fake.lock:
            self.fake.requests.append((method, self.path))
        self.extra_headers = {}
        fault = self.fake.next_fault(method) or ""
        if self.before_handling(fault):
            return
        if fault.startswith("slow="):
            self.fake.stopping.wait(float(fault.removeprefix("slow=")))
        status, value = self.route(method, body)
        self.answer(fault, status, value)

    def before_handling(self, fault: str) -> bool:
        """Faults that replace the handler: True when the request has been answered (or dropped)."""
        if fault == "expire-token":
            with self.fake.lock:
                self.fake.tokens.clear()
            return False
        if fault == "drop":
            self.reset()
        elif fault.startswith("503"):
            after = fault.partition("retry-after=")[2]
            headers = {"Retry_After": after} if after else {}
            self.send(503, b"no healthy upstream", "text/plain", **headers)
        elif fault == "502-html":
            self.send(
                502, b"<html><head><title>502 Bad Gateway</title></head>\n<body>Bad Gateway</body></html>", "text/html"
            )
        elif fault == "html":
            self.send(200, b"<!DOCTYPE html><html><body>Sign in to continue</body></html>", "text/html")
        elif fault in ("403", "409"):
            self.reply(int(fault))
        else:
            return False
        return True

    def answer(self, fault: str, status: int, value: Any) -> None:
        """Send the handler's answer, or the fault's version of it (the handler has already done its work)."""
        data = b"" if value is None else json.dumps(value).encode()
        if fault == "500-after-commit":
            self.send(500, b"")
        elif fault == "reset-after-commit":
            self.reset(data[: len(data) // 2])
        elif fault == "truncated-after-commit":
            self.send(status, data[: len(data) // 2])
        elif fault == "empty-after-commit":
            self.send(status, b"{}")
        elif fault.startswith("drip="):
            self.drip(status, data, float(fault.removeprefix("drip=")))
        elif fault == "close":
            self.send(status, data, Connection="close")
            self.close_connection = True
        else:
            self.send(status, data)

    def route(self, method: str, body: bytes) -> tuple[int, Any]:
        if self.path == "/sky/issuer/token" and method == "POST":
            return self.token(body)
        if self.path == "/api/v1/info" and method == "GET":
            return 200, {"version": "8.0.1", "worker_version": "2.5", "external_url": self.fake.url}
        if not self.path.startswith("/api/v1/teams/"):
            return 404, None
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.fake.lock:
            if token not in self.fake.tokens:
                return 401, None
            team, _, rest = self.path.removeprefix("/api/v1/teams/").partition("/pipelines/")
            if rest:
                return self.pipeline(method, team, rest, body)
            return self.team(method, team, body)

    def token(self, body: bytes) -> tuple[int, Any]:
        client = base64.b64encode(b"fly:Zmx5").decode()
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        if self.headers.get("Authorization") != f"Basic {client}":
            return 401, {"error": "invalid_client", "error_description": "Invalid client credentials."}
        if form.get("grant_type") != "password" or "openid" not in form.get("scope", "").split():
            return 400, {"error": "invalid_request"}
        if (form.get("username"), form.get("password")) != (ADMIN, PASSWORD):
            return 401, {"error": "access_denied", "error_description": "Invalid username or password"}
        with self.fake.lock:
            self.fake.logins += 1
            token = f"token-{self.fake.logins}"
            self.fake.tokens.add(token)
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": 86399}

    def team(self, method: str, name: str, body: bytes) -> tuple[int, Any]:
        teams = self.fake.teams
        if method == "GET":
            return (200, teams[name]) if name in teams else (404, None)
        if method == "DELETE":
            if name not in teams:
                return 404, None
            del teams[name]
            return 204, None
        try:
            auth = json.loads(body)["auth"]
        except (ValueError, KeyError):
            return 400, None
        if not auth or any(not (role.get("users") or role.get("groups")) for role in auth.values()):
            return 400, None
        created = name not in teams
        if created:
            teams[name] = {"id": max(team["id"] for team in teams.values()) + 1, "name": name}
        teams[name]["auth"] = auth
        return (201 if created else 200), {"team": teams[name]}

    def pipeline(self, method: str, team: str, rest: str, body: bytes) -> tuple[int, Any]:
        name, _, action = rest.partition("/")
        pipelines, key = self.fake.pipelines, (team, name)
        if (method, action) == ("PUT", "config"):
            return self.save_config(team, name, body)
        found = pipelines.get(key)
        if found is None or team not in self.fake.teams:
            return 404, None
        if (method, action) == ("GET", "config"):
            self.extra_headers = {"X-Concourse-Config-Version": str(found["version"])}
            return 200, {"config": yaml.safe_load(found["config"])}
        if (method, action) == ("GET", ""):
            return 200, {"id": found["version"], "name": name, "paused": found["paused"], "archived": False}
        if (method, action) == ("PUT", "unpause"):
            found["paused"] = False
            return 200, None
        if (method, action) == ("DELETE", ""):
            del pipelines[key]
            return 204, None
        return 404, None

    def save_config(self, team: str, name: str, body: bytes) -> tuple[int, Any]:
        try:
            config = yaml.safe_load(body)
        except yaml.YAMLError as error:
            return 400, {"errors": [f"malformed config: {error}"]}
        if not isinstance(config, dict) or not config.get("jobs"):
            return 400, {"errors": ["invalid jobs:\n\tpipeline must contain at least one job"]}
        if team not in self.fake.teams:
            return 404, None
        found = self.fake.pipelines.get((team, name))
        version = self.headers.get("X-Concourse-Config-Version") or "0"
        if found is not None and version != str(found["version"]):
            return 500, "failed to save config: comparison with existing config failed during save"
        self.fake.config_versions += 1
        saved = {"config": body.decode(), "version": self.fake.config_versions, "paused": True}
        self.fake.pipelines[(team, name)] = {**saved, "paused": found["paused"] if found else True}
        return (201 if found is None else 200), {"warnings": []}

    def do_GET(self) -> None:
        self.handle_one("GET")

    def do_PUT(self) -> None:
        self.handle_one("PUT")

    def do_POST(self) -> None:
        self.handle_one("POST")

    def do_DELETE(self) -> None:
        self.handle_one("DELETE")


def auth_of(*groups: str) -> dict[str, Any]:
    return {"owner": {"users": ["local:payments-bot"], "groups": [f"oidc:{g}" for g in (groups or (GROUP,))]}}


def props(server: FakeConcourse, name: str = "payments", groups: tuple[str, ...] = (), **over: Any) -> dict[str, Any]:
    return {
        "teamName": name,
        "auth": auth_of(*groups),
        "url": server.url,
        "adminUser": ADMIN,
        "adminPassword": PASSWORD,
        "budgetSeconds": 3,
        **over,
    }


class VirtualClock:
    """Real elapsed time plus virtual sleeps: backoff waits cost no real time, stalls still count."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.offset += seconds
