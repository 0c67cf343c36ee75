"""The end-to-end smoke's control flow against the fake Concourse (its scheduler, build and event stream) and a real
Vault-API server (OpenBao): success, a failing build, a build no worker takes, a Vault value Concourse cannot read,
a log marker that never reaches Elasticsearch; and in each case nothing of the run is left behind.

Elasticsearch, Prometheus and Alertmanager are a stub below (`Observability`): the smoke's part is the query it sends
and what it concludes from the answer, and each stub answers in the upstream API's shape (Elasticsearch _search
hits.total, Prometheus /api/v1/query vector result, Alertmanager /api/v2/alerts with `receivers`).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from components import attestation
from components.concourse import team_api
from components.vault import access as vault_access
from tests import fake_concourse
from tests.fake_concourse import VirtualClock, config_errors
from tests.vault_server import Server, dev_server
from tools import smoke as smoke_tool
from tools import smoke_e2e
from tools.smoke_e2e import Deadlines, Run, Smoke, Target

MOUNT = "concourse"
SMOKE_USER, SMOKE_PASSWORD = "cdstack-smoke-bot", "smoke-password-1"


def task_emulation(params: dict[str, str]) -> tuple[list[str], int]:
    """What TASK_SCRIPT prints for these params on a healthy worker (no fake can run the script itself; its lines
    are the contract the smoke reads)."""
    digest = hashlib.sha256(params["SMOKE_VALUE"].encode()).hexdigest()
    lines = [f"smoke: vault value sha256 {digest}"]
    lines += [f"smoke: dns {host} ok" for host in params["SMOKE_HOSTS"].split()]
    if "CHART_NAME" in params:
        lines.append(f"smoke: chart {params['CHART_NAME']} {params['CHART_VERSION']} pushed and pulled back")
    lines.append(params["SMOKE_MARKER"])
    return lines, 0


class Observability(ThreadingHTTPServer):
    """Elasticsearch, Prometheus, Alertmanager and ChartMuseum's delete on one loopback port. `logs` are the lines
    Filebeat shipped (the test copies the fake build's log into it, or not); Prometheus has the counter once a build
    finished; Alertmanager routes an alert labelled smoke to `smoke_receiver`."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ObservabilityHandler)
        self.logs: list[str] = []
        self.finished_builds = 0
        self.smoke_receiver = "smoke"
        self.alerts: list[dict[str, Any]] = []
        self.searches: list[dict[str, Any]] = []
        self.deleted_charts: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ObservabilityHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, value: Any) -> None:
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        obs = cast(Observability, self.server)
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/api/v1/query":
            result = [{"metric": {}, "value": [0, str(obs.finished_builds)]}] if obs.finished_builds else []
            self.reply({"status": "success", "data": {"resultType": "vector", "result": result}})
        elif url.path == "/api/v2/alerts":
            run = query["filter"].split('"')[1]
            self.reply([a for a in obs.alerts if a["labels"].get("smoke_run") == run])

    def do_DELETE(self) -> None:
        """ChartMuseum's DELETE /api/charts/<name>/<version>: {"deleted": true}."""
        cast(Observability, self.server).deleted_charts.append(self.path.removeprefix("/api/charts/"))
        self.reply({"deleted": True})

    def do_POST(self) -> None:
        obs = cast(Observability, self.server)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path.endswith("/_search"):
            obs.searches.append(body)
            phrase = body["query"]["match_phrase"]["message"]
            self.reply({"hits": {"total": {"value": sum(phrase in line for line in obs.logs), "relation": "eq"}}})
        elif self.path == "/api/v2/alerts":
            for alert in body:
                receiver = obs.smoke_receiver if alert["labels"].get("smoke") == "true" else "slack-warning"
                obs.alerts.append({**alert, "receivers": [{"name": receiver}]})
            self.reply(None)


@contextmanager
def observability() -> Iterator[Observability]:
    server = Observability()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[Server]:
    with dev_server(tmp_path / "vault") as server:
        server.root("POST", f"sys/mounts/{MOUNT}", {"type": "kv", "options": {"version": vault_access.KV_VERSION}})
        server.root(
            "POST",
            f"{MOUNT}/data/cdstack-smoke/service-user",
            {"data": {"username": SMOKE_USER, "password": SMOKE_PASSWORD}},
        )
        yield server


def concourse_token(vault: Server, mount: str = MOUNT) -> str:
    """A token with Concourse's own policy (vault_access.concourse_policy), as its approle login would get."""
    vault.root("PUT", "sys/policies/acl/concourse", {"policy": vault_access.concourse_policy(mount)})
    return vault.root("POST", "auth/token/create", {"policies": ["concourse"]})["auth"]["client_token"]


@contextmanager
def stack(vault: Server, **fake_settings: Any) -> Iterator[tuple[fake_concourse.FakeConcourse, Observability, Target]]:
    with fake_concourse.running() as fake, observability() as obs:
        fake.teams["cdstack-smoke"] = {"id": 2, "name": "cdstack-smoke", "auth": {}}
        fake.users[SMOKE_USER] = SMOKE_PASSWORD
        fake.vault = (vault.address, concourse_token(vault), MOUNT)
        fake.task = task_emulation
        for key, value in fake_settings.items():
            setattr(fake, key, value)
        target = Target(
            stack="staging",
            concourse_url=fake.url,
            vault_url=vault.address,
            vault_token=vault.root_token or "",
            vault_mount=MOUNT,
            public_hosts=("ci.example.org", "vault.example.org"),
            elasticsearch_url=obs.url,
            elasticsearch_login=("grafana", "reader-password"),
            prometheus_url=obs.url,
            alertmanager_url=obs.url,
        )
        yield fake, obs, target


def smoke(target: Target, clock: VirtualClock, lines: list[str], ship_logs: Observability | None = None) -> Smoke:
    """A smoke on the virtual clock: deadlines of minutes pass in virtual time, each request still runs for real."""
    budget = team_api.Budget(seconds=20, connect_timeout=2, read_timeout=2, clock=clock)
    result = Smoke(target, budget, Deadlines(), Run.fresh(), report=lambda s, n, d: lines.append(f"{s} {n}: {d}"))
    if ship_logs is not None:
        original = result.finish_build

        def finish_and_ship() -> str:
            """Filebeat ships the build's log lines and Prometheus scrapes the finished build."""
            try:
                return original()
            finally:
                ship_logs.logs.extend(result.log)
                ship_logs.finished_builds += 1

        result.finish_build = finish_and_ship  # type: ignore[method-assign]
    return result


def left_behind(vault: Server, fake: fake_concourse.FakeConcourse, run: Run) -> list[str]:
    """What the run left: its pipeline, a build still running, its Vault value (any version or metadata)."""
    found = [f"pipeline {name}" for (team, name) in fake.pipelines if team == "cdstack-smoke"]
    found += [f"build {b['id']} {b['status']}" for b in fake.builds.values() if b["status"] in ("pending", "started")]
    status, _ = vault.request("GET", f"{MOUNT}/metadata/cdstack-smoke/{run.pipeline}/run", vault.root_token)
    if status != 404:
        found.append(f"vault value ({status})")
    return found


@pytest.mark.vault_server
def test_a_healthy_stack_passes_every_link_and_leaves_nothing(vault: Server):
    lines: list[str] = []
    with stack(vault) as (fake, obs, target):
        run = smoke(target, VirtualClock(), lines, ship_logs=obs)
        assert run.execute() is None, lines
        assert left_behind(vault, fake, run.run) == []
        # The task got the value through Concourse's Vault lookup; the log shows only its hash.
        assert not any(run.run.value in line for line in run.log)
    assert [line.split(":")[0] for line in lines if not line.startswith("ok cleanup")] == [
        "ok vault value",
        "ok concourse pipeline",
        "ok build started",
        "ok build finished",
        "ok vault read in task",
        "ok dns in task",
        "skip chartmuseum",
        "ok logs in elasticsearch",
        "ok metrics in prometheus",
        "ok alert routing",
    ]
    assert obs.searches[0]["query"]["match_phrase"]["message"] == run.run.marker


@pytest.mark.vault_server
def test_a_failing_build_is_named_with_the_task_own_reason_and_cleaned_up(vault: Server):
    def broken_dns(params: dict[str, str]) -> tuple[list[str], int]:
        return ["smoke: FAIL DNS inside the task container: mcr.microsoft.com does not resolve"], 1

    lines: list[str] = []
    with stack(vault, task=broken_dns) as (fake, _obs, target):
        run = smoke(target, VirtualClock(), lines)
        broken = run.execute()
        assert left_behind(vault, fake, run.run) == []
    reason = "DNS inside the task container: mcr.microsoft.com does not resolve"
    assert broken == f"build finished: build {run.build_id} failed: {reason}"
    assert not any(line.startswith(("ok logs", "ok metrics", "ok alert")) for line in lines)


@pytest.mark.vault_server
def test_a_build_no_worker_takes_fails_after_the_start_deadline_in_virtual_time(vault: Server):
    lines: list[str] = []
    clock = VirtualClock()
    with stack(vault, workers=0) as (fake, _obs, target):
        run = smoke(target, clock, lines)
        broken = run.execute()
        assert fake.builds[1]["status"] == "aborted"  # the pending build does not linger for a later worker
        assert left_behind(vault, fake, run.run) == []
    assert broken == "build started: build 1 scheduled but never started: no worker took it within 5 min"
    assert 300 <= sum(clock.sleeps) <= 310


@pytest.mark.vault_server
def test_a_vault_value_concourse_cannot_read_errors_the_build_and_says_so(vault: Server):
    lines: list[str] = []
    with stack(vault) as (fake, _obs, target):
        fake.vault = (vault.address, concourse_token(vault, mount="other"), MOUNT)  # a policy on the wrong mount
        run = smoke(target, VirtualClock(), lines)
        broken = run.execute()
        assert left_behind(vault, fake, run.run) == []
    assert broken == (
        f"build finished: build {run.build_id} errored: failed to interpolate task config: undefined vars: run.value"
    )


@pytest.mark.vault_server
def test_a_marker_that_never_reaches_elasticsearch_fails_that_link_only_after_its_deadline(vault: Server):
    lines: list[str] = []
    clock = VirtualClock()
    with stack(vault) as (fake, obs, target):
        run = smoke(target, clock, lines)  # nothing ships the build's log
        broken = run.execute()
        assert left_behind(vault, fake, run.run) == []
        assert len(obs.searches) > 10
    assert broken == "logs in elasticsearch: the build's marker line did not reach Elasticsearch within 5 min"
    assert "ok vault read in task: the task read this run's value (its SHA-256 matches)" in lines


@pytest.mark.vault_server
def test_a_smoke_alert_routed_to_slack_fails(vault: Server):
    lines: list[str] = []
    with stack(vault) as (_fake, obs, target):
        obs.smoke_receiver = "slack-critical"
        broken = smoke(target, VirtualClock(), lines, ship_logs=obs).execute()
    assert broken == "alert routing: the test alert went to slack-critical, not only to 'smoke'"


def test_parts_the_stack_lacks_are_skipped_with_a_line():
    outputs = {"concourseUrl": "https://ci.example.org", "vaultUrl": "https://vault.example.org/"}
    target = smoke_e2e.target_from(outputs, {"VAULT_TOKEN": "t", "ELASTICSEARCH_URL": "http://127.0.0.1:9200"})
    assert (target.chartmuseum_url, target.elasticsearch_url) == (None, None)  # lean: no chartmuseumUrl, no kibanaUrl
    assert target.public_hosts == ("ci.example.org", "vault.example.org")
    check = Smoke(target, team_api.Budget())
    assert check.chart_proven().startswith("skip the stack has no ChartMuseum")
    assert check.marker_in_elasticsearch().startswith("skip ")


def test_elasticsearch_through_a_port_forward_is_searched_without_its_service_certificate_check():
    """Through a port-forward the URL is 127.0.0.1, which ECK's certificate does not name (tools/cluster_access.py
    says so with ELASTICSEARCH_VERIFY=false); anywhere else the certificate is checked."""
    outputs = {"concourseUrl": "https://ci", "vaultUrl": "https://vault", "kibanaUrl": "https://kibana"}
    env = {"VAULT_TOKEN": "t", "ELASTICSEARCH_URL": "https://127.0.0.1:40200"}
    assert smoke_e2e.target_from(outputs, env).elasticsearch_verify is True
    forwarded = smoke_e2e.target_from(outputs, env | {"ELASTICSEARCH_VERIFY": "false"})
    assert (forwarded.elasticsearch_url, forwarded.elasticsearch_verify) == ("https://127.0.0.1:40200", False)


def test_the_generated_pipeline_passes_concourse_validation_and_reads_the_run_value_from_vault():
    run = Run.fresh()
    target = Target("staging", "https://ci", "https://vault", "t", MOUNT, ("ci",), "https://charts", ("u", "p"))
    config = smoke_e2e.pipeline_config(run, target)
    assert config_errors(json.loads(json.dumps(config))) == []
    params = config["jobs"][0]["plan"][0]["params"]
    assert params["SMOKE_VALUE"] == "((run.value))"
    assert params["CHARTMUSEUM_PASSWORD"] == "((run.chartmuseum_password))"
    assert run.value not in yaml.safe_dump(config)  # the value reaches the task only through Vault
    # The validation catches what Concourse refuses (atc/task.go: a task config without a platform).
    del config["jobs"][0]["plan"][0]["config"]["platform"]
    assert config_errors(config) == ["jobs.smoke.plan.task(end-to-end): missing 'platform'"]


@pytest.mark.vault_server
def test_a_passing_run_is_attested_beside_the_state_and_a_failing_one_is_not(
    vault: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    release = {"charts": {"concourse": "20.1.3"}, "images": {"vault": "2.0.0"}}
    state = tmp_path / "state"
    for key, value in {"STACK": "staging", "GIT_COMMIT": "c0ffee", "PULUMI_BACKEND_URL": f"file://{state}"}.items():
        monkeypatch.setenv(key, value)
    args = argparse.Namespace(vault_prefix=f"/{MOUNT}", budget=20.0, commit="")

    def failing(params: dict[str, str]) -> tuple[list[str], int]:
        return ["smoke: FAIL ChartMuseum refused the push"], 1

    with stack(vault, task=failing) as (fake, _obs, target):
        monkeypatch.setenv("VAULT_TOKEN", target.vault_token)
        outputs = {"concourseUrl": fake.url, "vaultUrl": vault.address, "releaseSet": release}
        assert smoke_tool.end_to_end(outputs, args, {}) == 1
        assert not state.exists()
        fake.task = task_emulation
        assert smoke_tool.end_to_end(outputs, args, {}) == 0
    found = attestation.passed(attestation.DirectoryStore(state), "organization/cdstack/staging", release)
    assert found is not None and (found["commit"], found["result"]) == ("c0ffee", "passed")


@pytest.mark.parametrize("fault", ["drop", "cut-after=2"])
def test_a_cut_event_stream_resumes_after_the_last_event_it_delivered(fault: str):
    """A reset before the stream or in its middle (a load balancer backend leaving) costs a reconnect with
    Last-Event-ID, not the smoke: every event arrives once, in order."""
    with fake_concourse.running() as fake:
        fake.task = task_emulation
        budget = team_api.Budget(seconds=20, connect_timeout=2, read_timeout=2, clock=VirtualClock())
        api = team_api.ConcourseApi(fake.url, fake_concourse.ADMIN, fake_concourse.PASSWORD, budget)
        target = Target("staging", fake.url, "", "", MOUNT, ("ci.example.org",))
        api.set_pipeline("main", "p", json.dumps(smoke_e2e.pipeline_config(Run.fresh(), target)))
        build = api.trigger_job("main", "p", smoke_e2e.JOB)
        fake.faults.append(f"GET:{fault}")
        events = list(api.build_events(build["id"], 60))
        assert events == fake.events[build["id"]]
        assert fake.count("GET", f"/api/v1/builds/{build['id']}/events") == 2


def test_setting_a_pipeline_survives_a_lost_reply_and_a_refused_config_fails_at_once():
    """A PUT that committed but whose reply was cut off is retried with the version read again (no 409 loop); a
    config Concourse refuses (400) is not retried."""
    with fake_concourse.running() as fake:
        budget = team_api.Budget(seconds=20, connect_timeout=2, read_timeout=2, clock=VirtualClock())
        api = team_api.ConcourseApi(fake.url, fake_concourse.ADMIN, fake_concourse.PASSWORD, budget)
        config = smoke_e2e.pipeline_config(Run.fresh(), Target("staging", fake.url, "", "", MOUNT, ()))
        api.set_pipeline("main", "p", json.dumps(config))
        fake.faults.append("PUT:reset-after-commit")
        api.set_pipeline("main", "p", json.dumps(config))
        assert fake.pipelines[("main", "p")]["version"] == 3  # the lost reply's write, then the retry's
        del config["jobs"][0]["plan"][0]["config"]["platform"]
        with pytest.raises(team_api.TeamApiError, match=r"400 Bad Request.*refused the config"):
            api.set_pipeline("main", "p", json.dumps(config))
        assert fake.count("PUT", "/api/v1/teams/main/pipelines/p/config") == 4


@pytest.mark.vault_server
def test_with_chartmuseum_the_run_chart_is_proven_and_deleted_even_when_the_build_fails(vault: Server):
    lines: list[str] = []
    with stack(vault) as (fake, obs, target):
        target = dataclasses.replace(target, chartmuseum_url=obs.url, chartmuseum_login=("chartmuseum", "pw"))
        run = smoke(target, VirtualClock(), lines, ship_logs=obs)
        assert run.execute() is None, lines
        name, version = run.run.chart
        assert f"ok chartmuseum: {name} {version} pushed and pulled back" in lines
        assert obs.deleted_charts == [f"{name}/{version}"]

        fake.task = lambda params: (["smoke: FAIL ChartMuseum served cdstack-smoke back changed"], 1)
        failed = smoke(target, VirtualClock(), lines)
        assert failed.execute() is not None
        assert obs.deleted_charts[-1] == "/".join(failed.run.chart)
        assert left_behind(vault, fake, failed.run) == []
