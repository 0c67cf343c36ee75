"""The golden plans under plans/: current for every shipped stack, the same on any machine and day, and stale with a
diff that names the resources when the graph moves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from components import clock
from tests.conftest import PROJECT_DIR
from tools import golden_plans, offline

_GOLDEN: dict[str, str] = {}
"""Golden plans this module made, by what the program was handed (see `shared_golden_plans`)."""


@pytest.fixture
def shared_golden_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    """golden_plans.golden_plan made once per process for each set of program inputs, the ones `offline.run_stack`
    hands the program (the stack's config, its secret keys, its source stack's outputs): the stale and write tests
    below plan staging six times, three times from each of two stack files, here and in a copy. The test of another
    day calls the real one."""
    real = golden_plans.golden_plan

    def golden_plan(stack: str, project_dir: Path = PROJECT_DIR) -> str:
        key = json.dumps([stack, *offline.stack_file_inputs(stack, project_dir)], sort_keys=True, default=str)
        if key not in _GOLDEN:
            _GOLDEN[key] = real(stack, project_dir)
        return _GOLDEN[key]

    monkeypatch.setattr(golden_plans, "golden_plan", golden_plan)


@pytest.mark.usefixtures("shared_golden_plans")
def test_golden_plans_are_current_for_every_shipped_stack():
    found = golden_plans.stale()
    assert not found, golden_plans.report(found)
    assert sorted(golden_plans.committed()) == [f"plans/{stack}.json" for stack in offline.stack_names()]


@pytest.mark.parametrize("name", ["plans/staging.json", "plans/prod.json"])
def test_golden_plans_name_no_machine_path_and_no_mock_secret(name: str):
    text = (PROJECT_DIR / name).read_text()
    machine = {str(PROJECT_DIR), str(Path.home())} - {"/"}
    for leak in [*machine, "offline-plan-password", "offline-plan-client-secret"]:
        assert leak not in text
    assert offline.SECRET in text  # the secrets are there, masked
    plan = json.loads(text)
    assert [r["urn"] for r in plan["resources"]] == sorted(r["urn"] for r in plan["resources"])
    assert text == json.dumps(plan, indent=2, sort_keys=True) + "\n"


def test_a_golden_plan_does_not_follow_the_calendar(monkeypatch: pytest.MonkeyPatch):
    """The client secret's rotation window moves with the date; a golden plan judged on another day would not."""
    monkeypatch.setenv(clock.ENV, "2031-06-01")
    assert golden_plans.golden_plan("staging") == (PROJECT_DIR / "plans/staging.json").read_text()
    assert clock.today().isoformat() == "2031-06-01"  # the caller's date is back


def stale_project(tmp_path: Path) -> Path:
    """A project holding staging's stack file and its freshly written golden plan."""
    shutil.copy(PROJECT_DIR / "Pulumi.staging.yaml", tmp_path)
    assert golden_plans.write(tmp_path) == {"plans/staging.json": "created"}
    assert golden_plans.stale(tmp_path) == {}
    return tmp_path


@pytest.mark.usefixtures("shared_golden_plans")
def test_a_changed_stack_makes_its_plan_stale_with_a_diff_under_the_resources_urn(tmp_path: Path):
    project = stale_project(tmp_path)
    stack_file = project / "Pulumi.staging.yaml"
    stack_file.write_text(stack_file.read_text().replace("maxCount: 4", "maxCount: 5", 1))
    (project / "plans/orphan.json").write_text("{}\n")

    found = golden_plans.stale(project)
    assert sorted(found) == ["plans/orphan.json", "plans/staging.json"]
    assert found["plans/orphan.json"] == ["plans/orphan.json belongs to no stack file (no Pulumi.orphan.yaml)"]
    diff = found["plans/staging.json"]
    pool = "urn:pulumi:staging::cdstack::cdstack:azure:Cluster$azure-native:containerservice:AgentPool::worker-pool"
    assert f"--- plans/staging.json {pool} (committed)" in diff
    # The pool's autoscaler maximum: maxCount plus workerReplicas (2), room for a new Concourse worker generation.
    assert '-    "maxCount": 6.0,' in diff and '+    "maxCount": 7.0,' in diff
    report = golden_plans.report(found)
    assert report.startswith("plans/orphan.json is stale:")
    assert report.endswith("run `make plans` and commit the diff of plans/ with the change.")

    assert golden_plans.write(project) == {"plans/orphan.json": "removed", "plans/staging.json": "written"}
    assert golden_plans.stale(project) == {}


def test_new_and_removed_resources_are_named_and_a_broken_file_is_diffed_as_text():
    old = {"stack": "s", "resources": [{"urn": "u:a", "inputs": {}}, {"urn": "u:b", "inputs": {}}], "outputs": {}}
    new = {"stack": "s", "resources": [{"urn": "u:b", "inputs": {}}, {"urn": "u:c", "inputs": {}}], "outputs": {"x": 1}}
    lines = golden_plans.diff("plans/s.json", json.dumps(old), json.dumps(new))
    assert lines[:2] == ["- removed resource u:a", "+ new resource u:c"]
    assert '+  "x": 1' in lines
    conflicted = "<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> main\n"
    text_diff = golden_plans.diff("plans/s.json", conflicted, "{}\n")
    assert "-<<<<<<< HEAD" in text_diff
    assert golden_plans.diff("plans/s.json", None, "{}\n") == ["plans/s.json is missing"]


def test_a_long_diff_is_cut_for_the_log_and_says_how_to_see_all_of_it():
    report = golden_plans.report({"plans/s.json": [f"+ new resource u:{i}" for i in range(1000)]})
    lines = report.splitlines()
    assert len(lines) <= golden_plans.MAX_DIFF_LINES + 3
    assert f"... {1002 - golden_plans.MAX_DIFF_LINES} more lines" in lines
