"""The smoke's way into the cluster (tools/cluster_access.py) under a stub kubectl, and the smoke task's flow
(ci/tasks/smoke.sh) under stub pulumi and python: which Services it forwards to and which Secrets it reads (the
program's constants and the stack's outputs), the URLs and logins it hands the smoke, and that every port-forward it
started is ended, also when one fails.

The stub kubectl is ours because nothing here runs a cluster: it answers `get secret` with the Secrets it is given
and `port-forward` with kubectl's own "Forwarding from 127.0.0.1:<port> -> <port>" line (kubectl's
pkg/cmd/portforward and client-go's tools/portforward print it), then waits like kubectl until it is stopped.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from components.services import charts, logging, monitoring
from tools import cluster_access
from tools import smoke as smoke_tool

PROJECT_DIR = Path(__file__).resolve().parent.parent

STUB_KUBECTL = """#!{python}
import json, os, sys, time
args = sys.argv[1:]
state = os.environ["STUB_STATE"]
with open(os.path.join(state, "calls"), "a") as calls:
    calls.write(json.dumps(args) + "\\n")
if args[:2] == ["get", "secret"]:
    namespace, name = args[args.index("--namespace") + 1], args[4]
    secrets = json.load(open(os.path.join(state, "secrets.json")))
    key = namespace + "/" + name
    if key not in secrets:
        print('Error from server (NotFound): secrets "' + name + '" not found', file=sys.stderr)
        sys.exit(1)
    print(json.dumps({{"kind": "Secret", "data": secrets[key]}}))
elif args[0] == "port-forward":
    service, port = args[-2], args[-1].lstrip(":")
    if service in json.load(open(os.path.join(state, "broken.json"))):
        print("error: unable to forward port because pod is not running. Current status=Pending", flush=True)
        sys.exit(1)
    with open(os.path.join(state, "pids"), "a") as pids:
        pids.write(str(os.getpid()) + "\\n")
    print("Forwarding from 127.0.0.1:" + str(40000 + int(port) % 1000) + " -> " + port, flush=True)
    print("Forwarding from [::1]:" + str(40000 + int(port) % 1000) + " -> " + port, flush=True)
    # kubectl prints a line for every connection it forwards; more than a pipe holds, unread, would block it here.
    for _ in range(20000):
        print("Handling connection for " + str(40000 + int(port) % 1000), flush=True)
    with open(os.path.join(state, "drained"), "a") as drained:
        drained.write(port + "\\n")
    time.sleep(600)
"""


def encoded(data: dict[str, str]) -> dict[str, str]:
    return {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}


READER = encoded({"username": "grafana", "password": "reader-pw", "roles": "viewer"})
CHARTMUSEUM = encoded({"basic-auth-user": "charts", "basic-auth-pass": "charts-pw", "azure-storage-account": "sa"})
FULL = {
    "kibanaUrl": "https://kibana.example.org",
    "elasticsearchReaderSecret": "logging/reader-renamed",
    "chartmuseumAuthSecret": "charts/chartmuseum-auth-renamed",
}
"""The Secrets' names come from the outputs: names other than today's constants prove they are read from there."""


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "kubectl-state"
    state.mkdir()
    (state / "secrets.json").write_text(
        json.dumps({FULL["elasticsearchReaderSecret"]: READER, FULL["chartmuseumAuthSecret"]: CHARTMUSEUM})
    )
    (state / "broken.json").write_text("[]")
    stub = tmp_path / "bin" / "kubectl"
    stub.parent.mkdir()
    stub.write_text(STUB_KUBECTL.format(python=sys.executable))
    stub.chmod(0o755)
    monkeypatch.setenv("STUB_STATE", str(state))
    monkeypatch.setenv("PATH", f"{stub.parent}{os.pathsep}{os.environ['PATH']}")
    return state


def calls(state: Path) -> list[list[str]]:
    return [json.loads(line) for line in (state / "calls").read_text().splitlines()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A stopped child that is not reaped yet is a zombie: ended, as far as the smoke is concerned.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def drained(state: Path) -> list[str]:
    path = state / "drained"
    return path.read_text().split() if path.exists() else []


def started_pids(state: Path) -> list[int]:
    pids = state / "pids"
    return [int(p) for p in pids.read_text().split()] if pids.exists() else []


def test_the_smoke_gets_local_urls_and_the_logins_of_the_secrets_the_outputs_name(kubectl: Path):
    with cluster_access.cluster_environment(FULL, deadline=10) as env:
        pids = started_pids(kubectl)
        assert len(pids) == 3 and all(alive(pid) for pid in pids)
        deadline = time.monotonic() + 20
        while len(drained(kubectl)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(drained(kubectl)) == 3, "kubectl blocked writing its per-connection lines"
    assert env == {
        "ELASTICSEARCH_USERNAME": "grafana",
        "ELASTICSEARCH_PASSWORD": "reader-pw",
        "CHARTMUSEUM_USERNAME": "charts",
        "CHARTMUSEUM_PASSWORD": "charts-pw",
        "ELASTICSEARCH_URL": "https://127.0.0.1:40200",
        "ELASTICSEARCH_VERIFY": "false",
        "PROMETHEUS_URL": "http://127.0.0.1:40090",
        "ALERTMANAGER_URL": "http://127.0.0.1:40093",
    }
    forwards = [c for c in calls(kubectl) if c[0] == "port-forward"]
    expected = [
        (logging.NAMESPACE, logging.ELASTICSEARCH_SERVICE, logging.ELASTICSEARCH_PORT),
        (monitoring.NAMESPACE, monitoring.PROMETHEUS_SERVICE, monitoring.PROMETHEUS_PORT),
        (monitoring.NAMESPACE, monitoring.ALERTMANAGER_SERVICE, monitoring.ALERTMANAGER_PORT),
    ]
    assert forwards == [
        ["port-forward", "--namespace", ns, "--address", "127.0.0.1", f"service/{svc}", f":{port}"]
        for ns, svc, port in expected
    ]
    reads = [c for c in calls(kubectl) if c[0] == "get"]
    assert reads == [
        ["get", "secret", "--namespace", "logging", "reader-renamed", "--output", "json"],
        ["get", "secret", "--namespace", "charts", "chartmuseum-auth-renamed", "--output", "json"],
    ]
    assert not any(alive(pid) for pid in pids), "a port-forward outlived the smoke"


def test_a_lean_stack_gets_no_elasticsearch_and_no_chartmuseum(kubectl: Path):
    with cluster_access.cluster_environment({}, deadline=10) as env:
        pass
    assert set(env) == {"PROMETHEUS_URL", "ALERTMANAGER_URL"}
    assert not [c for c in calls(kubectl) if c[0] == "get"]


def test_a_port_forward_that_fails_is_named_and_the_ones_already_open_are_ended(kubectl: Path):
    (kubectl / "broken.json").write_text(json.dumps([f"service/{monitoring.ALERTMANAGER_SERVICE}"]))
    with (
        pytest.raises(cluster_access.ClusterAccessError) as caught,
        cluster_access.cluster_environment(FULL, deadline=10),
    ):
        pytest.fail("the block ran without Alertmanager")
    message = str(caught.value)
    assert "\n" not in message
    assert f"{monitoring.NAMESPACE}/service/{monitoring.ALERTMANAGER_SERVICE}:{monitoring.ALERTMANAGER_PORT}" in message
    assert "pod is not running" in message
    pids = started_pids(kubectl)
    assert len(pids) == 2 and not any(alive(pid) for pid in pids)


def test_a_secret_the_deployer_cannot_read_is_named_in_one_line(kubectl: Path):
    outputs = {**FULL, "chartmuseumAuthSecret": "charts/absent"}
    with (
        pytest.raises(
            cluster_access.ClusterAccessError, match=r"^kubectl could not read Secret charts/absent: .*NotFound"
        ),
        cluster_access.cluster_environment(outputs, deadline=10),
    ):
        pass
    assert started_pids(kubectl) == []  # the logins come first: nothing to end


def test_the_chartmuseum_keys_are_the_ones_the_stack_writes():
    login = next(x for x in cluster_access.logins(FULL) if x.prefix == "CHARTMUSEUM")
    assert {login.username_key, login.password_key} <= set(charts.SECRET_MAPPINGS.values())


def test_smoke_names_cluster_access_as_its_broken_link(kubectl: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    """`--port-forward` with the health checks passing: a Service that cannot be reached fails the smoke in one
    line, before any build is started."""
    (kubectl / "broken.json").write_text(json.dumps([f"service/{monitoring.PROMETHEUS_SERVICE}"]))
    monkeypatch.setattr(smoke_tool, "run_checks", lambda *args: [("concourse version", None)])
    monkeypatch.setattr(smoke_tool, "end_to_end", lambda *args: pytest.fail("the build ran without the cluster"))
    monkeypatch.setenv("CONCOURSE_USERNAME", "u")
    monkeypatch.setenv("CONCOURSE_PASSWORD", "p")
    outputs = kubectl / "outputs.json"
    release = {"charts": {"concourse": "20.1.3"}, "images": {"vault": "2.0.0"}}
    urls = {f"{k}Url": f"https://{k}.example.org" for k in ("concourse", "vault", "grafana")}
    outputs.write_text(json.dumps({**urls, "releaseSet": release, "concourseWorkers": 1}))
    assert smoke_tool.main(["--outputs", str(outputs), "--port-forward"]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("smoke failed at cluster access: kubectl port-forward to monitoring/service/")


def test_the_smoke_task_makes_a_kubeconfig_then_runs_the_smoke_with_port_forwards(tmp_path: Path):
    """ci/tasks/smoke.sh under stub pulumi and .venv/bin/python: after the Azure login it writes the cluster's
    kubeconfig (tools.cluster_access) to a file it exports as KUBECONFIG, and the smoke runs with --port-forward
    and that KUBECONFIG."""
    root = tmp_path / "checkout"
    (root / "ci" / "tasks").mkdir(parents=True)
    for name in ("smoke.sh", "azure-login.sh"):
        (root / "ci" / "tasks" / name).write_text((PROJECT_DIR / "ci" / "tasks" / name).read_text())
    log = tmp_path / "log"
    stub = f'#!/bin/sh\necho "$(basename "$0") $* KUBECONFIG=${{KUBECONFIG:-}}" >>{log}\n'
    python = root / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(stub + 'case "$*" in *tools.cluster_access*) echo "apiVersion: v1";; esac\n')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(stub + 'case "$1" in stack) echo "{}";; esac\n')
    for path in (python, bin_dir / "pulumi"):
        path.chmod(0o755)
    env: dict[str, Any] = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "STACK": "staging",
        "PULUMI_BACKEND_URL": "azblob://state",
        "ARM_CLIENT_ID": "c",
        "ARM_TENANT_ID": "t",
        "AZURE_ID_TOKEN": "token",
    }
    done = subprocess.run(["bash", str(root / "ci" / "tasks" / "smoke.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = log.read_text().splitlines()
    assert [line.split()[0:2] for line in lines] == [
        ["pulumi", "install"],
        ["pulumi", "stack"],
        ["python", "-m"],
        ["python", "-m"],
    ]
    kubeconfig = lines[2].rsplit("KUBECONFIG=", 1)[1]
    assert "tools.cluster_access --outputs" in lines[2] and kubeconfig
    assert Path(kubeconfig).read_text() == "apiVersion: v1\n"
    assert "tools.smoke --outputs" in lines[3] and lines[3].split()[-2] == "--port-forward"
    assert lines[3].endswith(f"KUBECONFIG={kubeconfig}")
