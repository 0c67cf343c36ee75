"""`make scan` (tools/scan.py): checkov's findings judged against the reviewed exception list.

The machinery runs the real checkov (`.venv-checkov`, which `make test` installs) on manifests this test writes itself,
so CI needs no charts. The scan of the real stacks runs where the charts are, like tests/test_real_charts.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.test_real_charts import STACKS
from tools import charts, offline, render, scan

WILDCARD_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "planted"},
    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}],
}
PLANTED = ("CKV_K8S_49", "ClusterRole/planted")


def write(folder: Path, *objects: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "planted.yaml").write_text("".join(f"---\n{json.dumps(o)}\n" for o in objects))
    return folder


def exceptions_file(path: Path, entries: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"exceptions": entries}))
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not scan.CHECKOV.exists():
        pytest.fail(f"{scan.CHECKOV} is missing: `make test` creates it from requirements-checkov.txt")
    return write(tmp_path_factory.mktemp("manifests"), WILDCARD_ROLE)


_FINDINGS: dict[tuple[Path, Path], list[scan.Finding]] = {}
"""checkov's findings by (folder, checkov), for `one_checkov_run`."""


@pytest.fixture
def one_checkov_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real checkov runs once per folder for the module's tests: the planted folder never changes, and one run
    takes tens of seconds. Each test still judges that run's findings through the code under test (scan.main)."""
    real = scan.run_checkov

    def run_checkov(folder: Path, checkov: Path = scan.CHECKOV) -> list[scan.Finding]:
        if (folder, checkov) not in _FINDINGS:
            _FINDINGS[folder, checkov] = real(folder, checkov)
        return list(_FINDINGS[folder, checkov])

    monkeypatch.setattr(scan, "run_checkov", run_checkov)


@pytest.mark.usefixtures("one_checkov_run")
def test_checkov_reports_the_planted_wildcard_role(planted: Path):
    assert {(f.check, f.object) for f in scan.run_checkov(planted)} == {PLANTED}


@pytest.mark.usefixtures("one_checkov_run")
def test_a_finding_no_exception_names_fails_the_scan(planted: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    other = {"check": "CKV_K8S_49", "object": "ClusterRole/another", "why": "x", "stacks": ["elsewhere"]}
    exceptions = exceptions_file(tmp_path / "e.yaml", [other])
    assert scan.main(["prod", "--manifests", str(planted), "--exceptions", str(exceptions)]) == 1
    out = capsys.readouterr().out
    assert "unexplained: CKV_K8S_49 ClusterRole/planted" in out
    assert "findings 1, excepted 0, unexplained 1, stale 0" in out


@pytest.mark.usefixtures("one_checkov_run")
def test_an_excepted_finding_passes(planted: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    entry = {"check": PLANTED[0], "object": PLANTED[1], "why": "planted for the test"}
    exceptions = exceptions_file(tmp_path / "e.yaml", [entry])
    assert scan.main(["prod", "--manifests", str(planted), "--exceptions", str(exceptions)]) == 0
    assert "findings 1, excepted 1, unexplained 0, stale 0" in capsys.readouterr().out


@pytest.mark.usefixtures("one_checkov_run")
def test_an_exception_whose_check_no_longer_fires_is_an_error(planted: Path, tmp_path: Path, capsys):
    entries = [
        {"check": PLANTED[0], "object": PLANTED[1], "why": "planted for the test"},
        {"check": "CKV_K8S_155", "object": PLANTED[1], "why": "the role no longer touches webhooks"},
    ]
    exceptions = exceptions_file(tmp_path / "e.yaml", entries)
    assert scan.main(["prod", "--manifests", str(planted), "--exceptions", str(exceptions)]) == 1
    out = capsys.readouterr().out
    assert "stale exception: CKV_K8S_155 on ClusterRole/planted" in out
    assert "findings 1, excepted 1, unexplained 0, stale 1" in out


def test_an_exception_for_another_stack_neither_excepts_nor_goes_stale():
    finding = scan.Finding(PLANTED[0], "n", PLANTED[1])
    waiver = scan.Waiver(PLANTED[0], PLANTED[1], "only in prod", frozenset({"prod"}))
    verdict = scan.judge([finding], [waiver], "staging")
    assert (verdict.unexplained, verdict.stale) == ([finding], [])
    assert scan.judge([], [waiver], "prod").stale == [waiver]


def test_an_exception_about_a_part_the_stack_leaves_out_neither_excepts_nor_goes_stale():
    """A lean stack (parts.<part>: false) renders none of the part's objects: their exceptions do not apply to it."""
    finding = scan.Finding(PLANTED[0], "n", PLANTED[1])
    waiver = scan.Waiver(PLANTED[0], PLANTED[1], "ChartMuseum's", part="chartmuseum")
    assert scan.judge([], [waiver], "infra", ["chartmuseum"]).stale == []
    assert scan.judge([finding], [waiver], "infra", ["chartmuseum"]).unexplained == [finding]
    assert scan.judge([], [waiver], "staging", []).stale == [waiver]
    assert scan.judge([finding], [waiver], "staging", ["influxdb"]).excepted == [finding]


def test_a_graph_checks_pod_is_named_after_its_workload_not_its_labels():
    names = {("monitoring", "telegraf"), ("monitoring", "telegraf-extra")}
    resource = "Pod.monitoring.telegraf.app.kubernetes.io/name-telegraf.helm.sh/chart-telegraf-1.8.0"
    assert scan.object_id(resource, names) == "Pod/monitoring/telegraf"
    assert scan.object_id("ClusterRole.default.planted") == "ClusterRole/planted"
    assert scan.object_id("Deployment.ingress.traefik") == "Deployment/ingress/traefik"


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ({"check": "CKV_K8S_16", "object": "StatefulSet/concourse/concourse-worker"}, "`why` is None"),
        ({"check": "CKV_K8S_16", "object": "concourse-worker", "why": "builds"}, "is not Kind/namespace/name"),
        ({"check": "CKV_K8S_16", "object": "Pod/a/b", "why": "w", "reason": "x"}, "unknown key(s) ['reason']"),
        ({"check": "CKV_K8S_16", "object": "Pod/a/b", "why": "w", "stacks": "prod"}, "a list of stack names"),
        ({"check": "CKV_K8S_16", "object": "Pod/a/b", "why": "w", "part": "kibana"}, "one of elasticsearch, influxdb"),
    ],
)
def test_a_malformed_exception_names_the_file_the_entry_and_the_key(tmp_path: Path, entry: dict, complaint: str):
    path = exceptions_file(tmp_path / "e.yaml", [entry])
    with pytest.raises(scan.ExceptionsError) as error:
        scan.load_exceptions(path)
    assert str(error.value).startswith(f"{path}: exceptions[0]: ") and complaint in str(error.value)


def test_the_same_exception_twice_is_refused(tmp_path: Path):
    entry = {"check": PLANTED[0], "object": PLANTED[1], "why": "w"}
    with pytest.raises(scan.ExceptionsError, match=r"exceptions\[1\]: CKV_K8S_49 on ClusterRole/planted is listed"):
        scan.load_exceptions(exceptions_file(tmp_path / "e.yaml", [entry, entry]))


def test_the_committed_exception_list_loads_and_gives_every_entry_a_reason():
    assert all(len(w.why) > 20 for w in scan.load_exceptions())


@pytest.mark.parametrize("stack", STACKS)
def test_the_real_stack_has_no_unexplained_finding_and_no_stale_exception(stack: str, tmp_path: Path):
    absent = render.missing_charts(stack)
    if absent:
        pytest.skip(f"real charts absent ({', '.join(absent)}): {charts.GET_THEM}")
    if not scan.CHECKOV.exists():
        pytest.fail(f"{scan.CHECKOV} is missing: `make test` creates it from requirements-checkov.txt")
    scan.write_stack(stack, tmp_path)
    parts_off = offline.load_config(stack).parts.off()
    verdict = scan.judge(scan.run_checkov(tmp_path / stack), scan.load_exceptions(), stack, parts_off)
    assert verdict.ok, "\n".join(scan.report(verdict))
