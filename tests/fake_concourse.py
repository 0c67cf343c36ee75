"""A fake Concourse API on 127.0.0.1 that follows the upstream handlers' shapes, with faults to inject.

Shapes (concourse/concourse atc/api/teamserver set.go, get.go, destroy.go; atc/wrappa; skymarshal and dex's password
grant): `POST /sky/issuer/token` with fly's client and the password grant answers {"access_token", "token_type",
"expires_in"}, 401 {"error": "access_denied"} on a wrong password; `/api/v1/teams/<team>` needs the bearer token
(401 without a valid one); PUT answers 201 created / 200 updated with {"team": {"id", "name", "auth"}}, 400 on an
auth with an empty role; GET the team or 404; DELETE 204 or 404. `GET /api/v1/info` needs no token.

Pipelines and builds (atc/api configserver save.go, get.go; pipelineserver get.go, unpause.go, delete.go;
jobserver/create_build.go; buildserver; atc/event; atc/db team.go savePipeline): `PUT .../pipelines/<p>/config` takes
JSON or YAML (415 otherwise), 400 {"errors": [...]} with the errors of `config_errors` (a subset of
atc/configvalidate and atc/task.go), 404 without the team, 201 for a new (paused) pipeline, 200 for an update, which
must name the saved version in X-Concourse-Config-Version (else 500: the comparison failed); `GET .../config` answers
{"config": ...} with that header; `GET .../pipelines/<p>` the pipeline {"name", "paused", "archived"}; `PUT
.../unpause` 200; POST .../jobs/<j>/builds (a pending build), GET /api/v1/builds/<id>, PUT .../abort (204), DELETE
.../pipelines/<p> (204/404), and GET /api/v1/builds/<id>/events as Server-Sent Events (`id: N`, `event: event`,
`data: {"event", "version", "data"}`, then `event: end`). The fake's scheduler: with `workers` 0 a build stays pending
forever (no worker takes it); otherwise it runs at once: its task's `((secret.field))` params are read from a real
Vault (`vault`: address, token, KV v2 mount; Concourse's lookup order, pipeline path first, then team path), an
unreadable one errors the build as Concourse does, and `task(params)` (the test's stand-in for the task's script,
which no fake can run) gives the log lines and exit status.

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
  "cut-after=N"                            (a build's event stream) N events, then a TCP reset
"""

from __future__ import annotations

import base64
import json
import re
import socket
import ssl
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
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
        """(team, pipeline) -> {"config": the saved text, "parsed": it loaded, "version": int, "paused": bool}."""
        self.faults: list[str] = []
        self.conn_faults: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.tokens: set[str] = set()
        self.logins = 0
        self.users = {ADMIN: PASSWORD}
        self.builds: dict[int, dict[str, Any]] = {}
        self.events: dict[int, list[dict[str, Any]]] = {}
        self.workers = 1
        self.vault: tuple[str, str, str] | None = None
        self.task: Callable[[dict[str, str]], tuple[list[str], int]] = lambda params: ([], 0)
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
        if method == "GET" and self.path.startswith("/api/v1/builds/") and self.path.endswith("/events"):
            cut = int(fault.removeprefix("cut-after=")) if fault.startswith("cut-after=") else None
            self.stream_events(int(self.path.split("/")[4]), cut)
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
        if not self.path.startswith(("/api/v1/teams/", "/api/v1/builds/")):
            return 404, None
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.fake.lock:
            if token not in self.fake.tokens:
                return 401, None
        if self.path.startswith("/api/v1/builds/"):
            return self.build(method, self.path.removeprefix("/api/v1/builds/"))
        name, _, rest = self.path.removeprefix("/api/v1/teams/").partition("/pipelines/")
        if rest:
            return self.pipeline(method, name, rest, body)
        with self.fake.lock:
            return self.team(method, name, body)

    def token(self, body: bytes) -> tuple[int, Any]:
        client = base64.b64encode(b"fly:Zmx5").decode()
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        if self.headers.get("Authorization") != f"Basic {client}":
            return 401, {"error": "invalid_client", "error_description": "Invalid client credentials."}
        if form.get("grant_type") != "password" or "openid" not in form.get("scope", "").split():
            return 400, {"error": "invalid_request"}
        if self.fake.users.get(form.get("username", "")) != form.get("password"):
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

    # -- pipelines and builds

    def pipeline(self, method: str, team: str, rest: str, body: bytes) -> tuple[int, Any]:
        name, _, action = rest.partition("/")
        key = (team, name)
        with self.fake.lock:
            pipeline = self.fake.pipelines.get(key)
            if action == "config" and method == "PUT":
                return self.save_config(key, pipeline, body)
            if pipeline is None:
                return 404, None
            if action == "config" and method == "GET":
                self.extra_headers = {"X-Concourse-Config-Version": str(pipeline["version"])}
                return 200, {"config": pipeline["parsed"]}
            if action == "" and method == "GET":
                return 200, {"id": pipeline["version"], "name": name, "paused": pipeline["paused"], "archived": False}
            if action == "unpause" and method == "PUT":
                pipeline["paused"] = False
                return 200, None
            if action == "" and method == "DELETE":
                del self.fake.pipelines[key]
                return 204, None
            job, _, builds = action.removeprefix("jobs/").partition("/")
            if action.startswith("jobs/") and builds == "builds" and method == "POST":
                if not any(j["name"] == job for j in pipeline["parsed"]["jobs"]):
                    return 404, None
                return 200, self.schedule(team, name, job, pipeline)
        return 404, None

    def save_config(self, key: tuple[str, str], pipeline: dict[str, Any] | None, body: bytes) -> tuple[int, Any]:
        if self.headers.get("Content-Type") not in ("application/json", "application/x-yaml"):
            return 415, None
        if key[0] not in self.fake.teams:
            return 404, None
        try:
            config = yaml.safe_load(body)  # JSON is YAML: atc.UnmarshalConfig reads both the same way
        except yaml.YAMLError as error:
            return 400, {"errors": [f"malformed config: {error}"]}
        errors = config_errors(config)
        if errors:
            return 400, {"errors": errors}
        version = int(self.headers.get("X-Concourse-Config-Version") or 0)
        if pipeline is not None and version != pipeline["version"]:
            return 500, "failed to save config: comparison with existing config failed during save"
        if pipeline is None:
            self.fake.pipelines[key] = {"config": body.decode(), "parsed": config, "version": 1, "paused": True}
            return 201, {"warnings": []}
        pipeline.update(config=body.decode(), parsed=config, version=pipeline["version"] + 1)
        return 200, {"warnings": []}

    def schedule(self, team: str, pipeline_name: str, job: str, pipeline: dict[str, Any]) -> dict[str, Any]:
        build_id = len(self.fake.builds) + 1
        build = {
            "id": build_id,
            "name": "1",
            "status": "pending",
            "team_name": team,
            "pipeline_name": pipeline_name,
            "job_name": job,
            "api_url": f"/api/v1/builds/{build_id}",
        }
        self.fake.builds[build_id] = build
        self.fake.events[build_id] = []
        if self.fake.workers and not pipeline["paused"]:
            step = next(s for j in pipeline["parsed"]["jobs"] if j["name"] == job for s in j["plan"] if "task" in s)
            self.run_task(build, team, pipeline_name, step)
        return dict(build)

    def run_task(self, build: dict[str, Any], team: str, pipeline: str, step: dict[str, Any]) -> None:
        events = self.fake.events[build["id"]]
        origin = {"id": "task-1", "source": "stdout"}

        def emit(kind: str, version: str, **data: Any) -> None:
            events.append({"event": kind, "version": version, "data": {"time": 0, **data}})

        emit("status", "1.0", status="started")
        build["status"] = "started"
        try:
            params = {k: self.interpolate(str(v), team, pipeline) for k, v in (step.get("params") or {}).items()}
        except LookupError as error:
            emit("error", "4.1", message=str(error), origin={"id": "task-1"})
            emit("status", "1.0", status="errored")
            build["status"] = "errored"
            return
        emit("selected-worker", "1.0", origin={"id": "task-1"}, selected_worker="worker-0")
        lines, exit_status = self.fake.task(params)
        for line in lines:
            emit("log", "5.1", origin=origin, payload=line + "\n")
        emit("finish-task", "4.0", origin={"id": "task-1"}, exit_status=exit_status)
        status = "succeeded" if exit_status == 0 else "failed"
        emit("status", "1.0", status=status)
        build["status"] = status

    def interpolate(self, value: str, team: str, pipeline: str) -> str:
        def lookup(match: re.Match[str]) -> str:
            secret, _, field = match.group(1).partition(".")
            if self.fake.vault is None:
                raise LookupError(f"undefined vars: {match.group(1)}")
            address, token, mount = self.fake.vault
            for path in (f"{team}/{pipeline}/{secret}", f"{team}/{secret}"):
                request = urllib.request.Request(f"{address}/v1/{mount}/data/{path}", headers={"X-Vault-Token": token})
                try:
                    with urllib.request.urlopen(request, timeout=5) as answer:
                        data = json.load(answer)["data"]["data"]
                except urllib.error.HTTPError:
                    continue
                if field in data:
                    return str(data[field])
            raise LookupError(f"failed to interpolate task config: undefined vars: {match.group(1)}")

        return re.sub(r"\(\(([^()]+)\)\)", lookup, value)

    def build(self, method: str, rest: str) -> tuple[int, Any]:
        build_id, _, action = rest.partition("/")
        with self.fake.lock:
            build = self.fake.builds.get(int(build_id)) if build_id.isdigit() else None
            if build is None:
                return 404, None
            if method == "GET" and action == "":
                return 200, dict(build)
            if method == "PUT" and action == "abort":
                if build["status"] in ("pending", "started"):
                    build["status"] = "aborted"
                    self.fake.events[build["id"]].append(
                        {"event": "status", "version": "1.0", "data": {"status": "aborted", "time": 0}}
                    )
                return 204, None
        return 404, None

    def stream_events(self, build_id: int, cut: int | None = None) -> None:
        """Concourse's event stream: the events from Last-Event-ID + 1, then `end` once the build has finished;
        while it runs (or waits for a worker) the stream stays open, as upstream's does. `cut`: a TCP reset after
        that many events (the fault "cut-after=N": a load balancer backend leaving mid-stream)."""
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.fake.lock:
            if token not in self.fake.tokens:
                self.reply(401)
                return
            if build_id not in self.fake.builds:
                self.reply(404)
                return
        start = int(self.headers.get("Last-Event-ID", "-1")) + 1
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("X-ATC-Stream-Version", "2.0")
        self.end_headers()
        self.close_connection = True
        sent = start
        while not self.fake.stopping.is_set():
            with self.fake.lock:
                pending = self.fake.events[build_id][sent:]
                done = self.fake.builds[build_id]["status"] not in ("pending", "started")
            try:
                for event in pending:
                    if cut is not None and sent - start >= cut:
                        self.wfile.flush()
                        self.reset()
                        return
                    self.wfile.write(f"id: {sent}\nevent: event\ndata: {json.dumps(event)}\n\n".encode())
                    sent += 1
                if done:
                    self.wfile.write(f"id: {sent}\nevent: end\ndata\n\n".encode())
                self.wfile.flush()
            except OSError:
                return
            if done:
                return
            self.fake.stopping.wait(0.05)

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


IDENTIFIER = re.compile(r"^[a-z0-9][a-z0-9\-_.]*$")
"""atc/configwarning.go validIdentifiers, for the ASCII names a pipeline of ours uses."""
STEP_KINDS = ("get", "put", "task", "set_pipeline", "load_var", "in_parallel", "do", "try")


def config_errors(config: Any) -> list[str]:
    """The errors Concourse's SaveConfig answers 400 with, for the rules a generated pipeline could break: every job
    named, uniquely, with a valid identifier (atc/configvalidate validateJobs, atc/configwarning.go), every step of a
    known kind (atc/steps.go), a task with an inline config has a platform and a run path (atc/task.go
    TaskConfig.Validate, and `run.path` required by its JSON), and every resource a get or put names is declared."""
    if not isinstance(config, dict) or not isinstance(config.get("jobs"), list) or not config["jobs"]:
        return ["invalid jobs:\n\tpipeline must contain at least one job"]
    errors: list[str] = []
    resources = {r.get("name") for r in config.get("resources") or []}
    seen: set[str] = set()
    for index, job in enumerate(config["jobs"]):
        name = job.get("name", "")
        where = f"jobs[{index}]"
        if not name:
            errors.append(f"{where} has no name")
        elif not IDENTIFIER.match(name):
            errors.append(f"jobs.{name}: '{name}' is not a valid identifier")
        if name in seen:
            errors.append(f"jobs.{name} appears more than once")
        seen.add(name)
        for step in job.get("plan") or []:
            kinds = [k for k in STEP_KINDS if k in step]
            if len(kinds) != 1:
                errors.append(f"jobs.{name}.plan: a step must have exactly one of {', '.join(STEP_KINDS)}")
                continue
            if kinds[0] in ("get", "put") and step.get("resource", step[kinds[0]]) not in resources:
                errors.append(f"jobs.{name}.plan.{kinds[0]}({step[kinds[0]]}): unknown resource")
            task = step.get("config")
            if kinds[0] == "task" and task is None and "file" not in step:
                errors.append(f"jobs.{name}.plan.task({step['task']}): no config and no file")
            if kinds[0] == "task" and task is not None:
                if not task.get("platform"):
                    errors.append(f"jobs.{name}.plan.task({step['task']}): missing 'platform'")
                if not (task.get("run") or {}).get("path"):
                    errors.append(f"jobs.{name}.plan.task({step['task']}): missing path to executable to run")
    return errors
