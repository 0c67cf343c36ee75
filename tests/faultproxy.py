"""A fault proxy on 127.0.0.1 in front of a real Vault-API server (tests/vault_server.py), for the faults one real
server cannot produce: what the ingress and a half-unsealed cluster answer during the first `up`.

Everything is forwarded to the real server unless a test planted a fault for the request's path:
- a status (503, 500, 429, ...) answered instead of forwarding, as a sealed standby, a standby that has not found
  the active node yet, or a rate limit would (Vault's JSON error body); 502 and 504 get an empty body, as Traefik's;
- `Lost(status)`: forwarded, so the real server acts, then the answer replaced by `status` (an ingress timeout after
  Vault did the work), or, with no status, the connection closed without an answer (a lost response).
Every request is recorded with the status the client got and the real server's reply, so a test can see what the
client did (reads only on a second `up`) and what the server said (the keys `sys/init` returned).
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Lost:
    """Forward, then lose the answer: replace it by `status`, or close the connection when `status` is None."""

    status: int | None = None


Fault = int | Lost
PASS = 0
"""In a plan: forward this request untouched."""


@dataclass
class Exchange:
    method: str
    path: str  # without /v1/ and the query
    status: int | None  # what the client got (None: the connection was closed)
    reply: Any = None  # the real server's parsed answer, when it was asked


@dataclass
class FaultProxy:
    upstream: str
    address: str = ""
    plans: dict[str, list[Fault]] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def plan(self, path: str, *faults: Fault) -> None:
        """The next requests whose path starts with `path` get `faults` in order (PASS forwards one untouched)."""
        self.plans.setdefault(path, []).extend(faults)

    def calls(self, method: str | None = None, path: str | None = None) -> list[Exchange]:
        return [
            e for e in self.exchanges if (method is None or e.method == method) and (path is None or e.path == path)
        ]

    def _next_fault(self, path: str) -> Fault:
        with self.lock:
            for prefix, faults in self.plans.items():
                if path.startswith(prefix) and faults:
                    return faults.pop(0)
        return PASS

    def forward(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, Any]:
        target = urlsplit(self.upstream)
        connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            data = response.read()
            return response.status, data, (json.loads(data) if data.strip() else None)
        finally:
            connection.close()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?", 1)[0].removeprefix("/v1/")
            fault = proxy._next_fault(path)
            if isinstance(fault, int) and fault != PASS:
                proxy.exchanges.append(Exchange(self.command, path, fault))
                error = b"" if fault in (502, 504) else json.dumps({"errors": [f"planted {fault}"]}).encode()
                self._answer(fault, error)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("x-vault-token", "content-type")}
            status, data, reply = proxy.forward(self.command, self.path, body, headers)
            if isinstance(fault, Lost):
                proxy.exchanges.append(Exchange(self.command, path, fault.status, reply))
                if fault.status is None:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self._answer(fault.status, b"")
                return
            proxy.exchanges.append(Exchange(self.command, path, status, reply))
            self._answer(status, data)

        do_GET = do_PUT = do_POST = do_DELETE = _handle  # noqa: N815 (BaseHTTPRequestHandler's names)

    return Handler


@contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    """A proxy to the real server at `upstream`, on a free port of 127.0.0.1, until the context ends."""
    proxy = FaultProxy(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    proxy.address = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
