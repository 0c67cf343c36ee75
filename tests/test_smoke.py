"""The smoke test against a local HTTP server that plays Concourse, Vault, Grafana and Kibana."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from components import catalog
from tools import charts, helmrender, smoke

TOKEN = "local-test-token"
VAULT = catalog.IMAGES["vault"]
USER, PASSWORD = "smoke", "smoke-password"


class Fake:
    """What each endpoint answers: (status, JSON body). Tests change entries to break one check at a time."""

    def __init__(self) -> None:
        workers = [{"name": f"worker-{i}", "state": "running"} for i in range(2)]
        self.routes: dict[str, tuple[int, Any]] = {
            "/api/v1/info": (200, {"version": "8.1.1", "worker_version": "2.5"}),
            "/api/v1/workers": (200, workers),
            "/v1/sys/health": (200, {"initialized": True, "sealed": False, "standby": False, "version": VAULT}),
            "/api/health": (200, {"database": "ok", "version": "12.2.0"}),
            "/api/status": (200, {"status": {"overall": {"level": "available"}}}),
        }


def handler_for(fake: Fake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def answer(self, status: int, body: Any) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            basic = "Basic " + base64.b64encode(b"fly:Zmx5").decode()
            ok = (
                self.path == "/sky/issuer/token"
                and self.headers.get("Authorization") == basic
                and form.get("grant_type") == ["password"]
                and form.get("username") == [USER]
                and form.get("password") == [PASSWORD]
            )
            if ok:
                self.answer(200, {"access_token": TOKEN, "token_type": "bearer"})
            else:
                self.answer(401, {})

        def do_GET(self) -> None:
            if self.path == "/api/v1/workers" and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self.answer(401, {})
            self.answer(*fake.routes.get(self.path, (404, {})))

    return Handler


@pytest.fixture
def fake() -> Fake:
    return Fake()


@pytest.fixture
def server(fake: Fake) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(fake))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def outputs(url: str, workers: int = 2) -> dict[str, Any]:
    return {
        "concourseUrl": url,
        "vaultUrl": url,
        "grafanaUrl": url,
        "kibanaUrl": url,
        "releaseSet": {"charts": {"concourse": "20.1.3"}, "images": {"vault": VAULT}},
        "concourseWorkers": workers,
    }


def run(tmp_path: Path, values: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> int:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(values))
    monkeypatch.setenv("CONCOURSE_USERNAME", USER)
    monkeypatch.setenv("CONCOURSE_PASSWORD", PASSWORD)
    return smoke.main(["--outputs", str(path), "--timeout", "5", "--health-only"])


def test_healthy_stack_passes_every_check(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    assert run(tmp_path, outputs(server), monkeypatch) == 0
    printed = capsys.readouterr().out
    assert printed.count("ok    ") == 6
    assert "FAIL" not in printed


def test_a_stack_without_kibana_skips_its_check(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """A lean stack (parts.elasticsearch off) has no kibanaUrl output: the smoke test passes without asking Kibana."""
    lean = {key: value for key, value in outputs(server).items() if key != "kibanaUrl"}
    assert run(tmp_path, lean, monkeypatch) == 0
    printed = capsys.readouterr().out
    assert printed.count("ok    ") == 5
    assert "kibana" not in printed


@pytest.mark.parametrize(
    ("path", "answer", "message"),
    [
        ("/api/v1/info", (200, {"version": "8.0.2"}), "concourse version: Concourse runs 8.0.2, expected 8.1.1"),
        (
            "/api/v1/workers",
            (200, [{"name": "worker-0", "state": "running"}, {"name": "worker-1", "state": "stalled"}]),
            "concourse workers: 1 of 2 expected Concourse workers running; stalled Concourse workers: worker-1",
        ),
        (
            "/v1/sys/health",
            (503, {"sealed": True, "version": VAULT}),
            "vault unsealed: Vault http://127.0.0.1:{port} is sealed",
        ),
        ("/v1/sys/health", (501, {"version": VAULT}), "is not initialised (/v1/sys/health answered HTTP 501)"),
        (
            "/v1/sys/health",
            (200, {"sealed": False, "version": "1.21.4"}),
            f"vault version: Vault runs 1.21.4, expected {VAULT} (the pinned image): its pods did not take the upgrade",
        ),
        ("/api/health", (503, {"database": "failing"}), "grafana: Grafana http://127.0.0.1:{port}/api/health"),
        ("/api/status", (200, {"status": {"overall": {"level": "degraded"}}}), "overall level 'degraded'"),
    ],
)
def test_each_failure_is_reported_on_its_own_and_exits_1(
    server: str,
    fake: Fake,
    path: str,
    answer: tuple[int, Any],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    fake.routes[path] = answer
    assert run(tmp_path, outputs(server), monkeypatch) == 1
    captured = capsys.readouterr()
    fails = [line for line in captured.out.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1, captured.out
    assert message.format(port=server.rsplit(":", 1)[1]) in fails[0]
    assert "1 smoke check(s) failed" in captured.err


def test_vault_standby_counts_as_unsealed(server: str, fake: Fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fake.routes["/v1/sys/health"] = (429, {"standby": True, "sealed": False, "version": f"{VAULT}+ent"})
    assert run(tmp_path, outputs(server), monkeypatch) == 0


def test_wrong_concourse_password_fails_the_worker_check(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs(server)))
    monkeypatch.setenv("CONCOURSE_USERNAME", USER)
    monkeypatch.setenv("CONCOURSE_PASSWORD", "wrong")
    assert smoke.main(["--outputs", str(path), "--timeout", "5", "--health-only"]) == 1
    assert "FAIL  concourse workers: Concourse login as smoke failed with HTTP 401" in capsys.readouterr().out


def test_nothing_listening_fails_every_check_quickly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert run(tmp_path, outputs(f"http://127.0.0.1:{port}"), monkeypatch) == 1
    assert capsys.readouterr().out.count("no answer") == 6


def test_cannot_start_without_credentials_or_with_an_unknown_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    values = outputs("http://127.0.0.1:9")
    values["releaseSet"]["charts"]["concourse"] = "99.0.0"
    assert run(tmp_path, values, monkeypatch) == 2
    assert "no known Concourse version for chart 99.0.0" in capsys.readouterr().err
    monkeypatch.delenv("CONCOURSE_PASSWORD")
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs("http://127.0.0.1:9")))
    assert smoke.main(["--outputs", str(path)]) == 2
    assert "CONCOURSE_PASSWORD" in capsys.readouterr().err


def test_app_version_table_covers_the_catalog_and_matches_the_chart():
    version = catalog.CHARTS["concourse"].version
    assert version in smoke.CONCOURSE_APP_VERSIONS, "add the new concourse chart to CONCOURSE_APP_VERSIONS"
    try:
        chart = helmrender.load(charts.locate("concourse", version))
    except charts.ChartMissingError:
        pytest.skip(f"the concourse chart {version} is absent: {charts.GET_THEM}")
    assert chart.metadata["appVersion"] == smoke.CONCOURSE_APP_VERSIONS[version]


@pytest.mark.vault_server
def test_the_version_check_reads_a_real_servers_health(tmp_path: Path):
    """sys/health of a real server (OpenBao's bao) carries the version the check compares: equal passes, the pinned
    HashiCorp version (which bao is not) fails with the upgrade message."""
    from tests.vault_server import dev_server

    with dev_server(tmp_path) as server:
        running = server.request("GET", "sys/health")[1]["version"]
        expected = smoke.Expectations(server.address, server.address, "", "", "20.1.3", "8.1.1", 1, running)
        assert smoke.check_vault_version(expected, 5) is None
        pinned = smoke.Expectations(server.address, server.address, "", "", "20.1.3", "8.1.1", 1, VAULT)
        assert f"Vault runs {running}, expected {VAULT}" in (smoke.check_vault_version(pinned, 5) or "")
