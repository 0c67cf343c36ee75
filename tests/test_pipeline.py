"""The infra pipeline file: its references resolve, prod waits for staging's smoke test, no literal secrets."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROJECT_DIR

CI_DIR = PROJECT_DIR / "ci"
PIPELINE = yaml.safe_load((CI_DIR / "pipeline.yml").read_text())
JOBS = {job["name"]: job for job in PIPELINE["jobs"]}
RESOURCES = {resource["name"] for resource in PIPELINE["resources"]}
NESTED = ("do", "in_parallel", "steps", "try", "on_success", "on_failure", "on_abort", "on_error", "ensure")


def steps(node: Any) -> Iterator[dict[str, Any]]:
    """Every step of a plan, nested ones (do, in_parallel, try, hooks) included, in order."""
    if isinstance(node, list):
        for item in node:
            yield from steps(item)
    elif isinstance(node, dict):
        if any(key in node for key in ("get", "put", "task", "set_pipeline")):
            yield node
        for key in NESTED:
            if key in node:
                yield from steps(node[key])


def job_steps(name: str) -> list[dict[str, Any]]:
    return list(steps(JOBS[name]["plan"]))


def upstream(name: str) -> set[str]:
    """Every job a job's inputs must have passed through, transitively."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for step in job_steps(todo.pop()):
            for passed in step.get("passed", []):
                if passed not in seen:
                    seen.add(passed)
                    todo.append(passed)
    return seen


def task_file(step: dict[str, Any]) -> Path:
    """A task's `file:` is `<input>/<path in that input>`; every input here is this repository."""
    first, _, rest = step["file"].partition("/")
    assert first in RESOURCES, f"task {step['task']} reads {step['file']} from an unknown input"
    return PROJECT_DIR / rest


def test_every_passed_names_a_job_and_every_get_put_a_resource():
    for name in JOBS:
        for step in job_steps(name):
            for passed in step.get("passed", []):
                assert passed in JOBS, f"{name}: passed: {passed} is not a job"
            for verb in ("get", "put"):
                if verb in step:
                    resource = step.get("resource", step[verb])
                    assert resource in RESOURCES, f"{name}: {verb}: {resource} is not a resource"


def test_every_task_file_and_script_exists_and_every_param_is_declared():
    tasks = [step for name in JOBS for step in job_steps(name) if "task" in step]
    assert tasks
    for step in tasks:
        path = task_file(step)
        assert path.is_file(), f"task {step['task']}: {path} does not exist"
        config = yaml.safe_load(path.read_text())
        assert config["image_resource"]["source"]["tag"], f"{path.name}: the task image must be pinned"
        assert config["image_resource"]["source"]["tag"] != "latest"
        script = PROJECT_DIR / config["run"]["path"].partition("/")[2]
        assert script.is_file() and os.access(script, os.X_OK), f"{path.name}: {script} is not an executable file"
        undeclared = set(step.get("params", {})) - set(config.get("params") or {})
        assert not undeclared, f"task {step['task']} passes params {path.name} does not declare: {undeclared}"


def test_pipeline_sets_itself_from_git_before_anything_else_runs():
    (setter,) = [name for name in JOBS if any(s.get("set_pipeline") == "self" for s in job_steps(name))]
    assert any(s.get("get") in RESOURCES and s.get("trigger") for s in job_steps(setter))
    assert [s["file"] for s in job_steps(setter) if "set_pipeline" in s] == ["cdstack/ci/pipeline.yml"]
    for name in set(JOBS) - {setter}:
        assert setter in upstream(name), f"{name} can run before the pipeline has set itself"


def commands(name: str) -> list[tuple[str | None, str | None]]:
    """(STACK, COMMAND) of each task of a job, in order."""
    return [
        (s.get("params", {}).get("STACK"), s.get("params", {}).get("COMMAND"))
        for s in job_steps(name)
        if "task" in s and "pulumi.yml" in s["file"]
    ]


def test_tests_then_staging_preview_and_up_then_smoke():
    assert "make test" in (CI_DIR / "tasks" / "test.sh").read_text()
    assert commands("staging-up") == [("staging", "preview"), ("staging", "up")]
    assert "test" in upstream("staging-up")
    assert "staging-up" in upstream("staging-smoke")
    assert all(s.get("trigger") for s in job_steps("staging-up") + job_steps("staging-smoke") if "get" in s)


def test_prod_jobs_come_after_staging_smoke_and_a_person_starts_them():
    prod_jobs = [name for name in JOBS if any(s.get("params", {}).get("STACK") == "prod" for s in job_steps(name))]
    assert set(prod_jobs) == {"prod-up", "prod-smoke"}
    for name in prod_jobs:
        assert "staging-smoke" in upstream(name), f"{name} does not wait for staging's smoke test"
    assert [p for s in job_steps("prod-up") for p in s.get("passed", [])] == ["staging-smoke"]
    assert not any(s.get("trigger") for s in job_steps("prod-up")), "prod-up must be started by a person"
    assert commands("prod-up") == [("prod", "preview"), ("prod", "up")]
    assert "prod-up" in upstream("prod-smoke")


def test_updates_of_one_stack_are_serialised():
    by_stack: dict[str, set[str]] = {}
    for name in JOBS:
        for stack in {s.get("params", {}).get("STACK") for s in job_steps(name)} - {None}:
            by_stack.setdefault(stack, set()).add(name)
    assert set(by_stack) == {"staging", "prod"}
    for stack, names in by_stack.items():
        shared = set.intersection(*(set(JOBS[n].get("serial_groups", [])) for n in names))
        assert shared, f"the jobs of {stack} ({sorted(names)}) share no serial group"
        others = {n for s, ns in by_stack.items() if s != stack for n in ns}
        assert not any(shared & set(JOBS[n].get("serial_groups", [])) for n in others), (
            "stacks should not block each other"
        )


# --- no literal secrets -------------------------------------------------------------------------------------------

VAR = re.compile(r"\(\([^()]+\)\)")
SENSITIVE_KEY = re.compile(r"(secret|password|passwd|token|private_key|_key$|^key$|client_id|role_id)", re.IGNORECASE)
SECRET_LOOKING = {
    "a GUID": re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    "a long hex string": re.compile(r"\b[0-9a-fA-F]{32,}\b"),
    "a long base64 string": re.compile(r"[A-Za-z0-9+/]{40,}={0,2}"),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "credentials in a URL": re.compile(r"://[^/\s:@]+:[^/\s@]+@"),
    "a Vault token": re.compile(r"\bhv[sbr]\.[A-Za-z0-9_-]{20,}"),
    "an Azure storage key or SAS": re.compile(r"(AccountKey=|[?&]sig=)"),
}
SHELL_ASSIGNMENT = re.compile(r"\b([A-Z_]*(SECRET|PASSWORD|TOKEN|KEY)[A-Z_]*)=([^\s;]+)")


def literal_secrets(path: Path) -> list[str]:
    """Things in a pipeline, task or script file that look like secrets and are not ((credential manager)) vars."""
    text = path.read_text()
    found = [f"{path.name}: {what}" for what, pattern in SECRET_LOOKING.items() if pattern.search(VAR.sub("", text))]
    if path.suffix == ".yml":

        def walk(node: Any, key: str = "") -> None:
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(v, str(k))
            elif isinstance(node, list):
                for item in node:
                    walk(item, key)
            elif SENSITIVE_KEY.search(key) and node is not None and not VAR.fullmatch(str(node)):
                found.append(f"{path.name}: {key} is a literal value, not a ((var))")

        walk(yaml.safe_load(text))
    else:
        for name, _, value in SHELL_ASSIGNMENT.findall(text):
            if not value.strip("\"'").startswith("$"):
                found.append(f"{path.name}: {name} is assigned a literal value")
    return found


def ci_files() -> list[Path]:
    return sorted(p for p in CI_DIR.rglob("*") if p.is_file())


@pytest.mark.parametrize("path", ci_files(), ids=lambda p: str(p.relative_to(CI_DIR)))
def test_no_literal_secret_in_ci_files(path: Path):
    assert literal_secrets(path) == []


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("bad.yml", "params:\n  ARM_CLIENT_SECRET: s3cr3t-value\n"),
        ("bad.yml", "params:\n  ARM_CLIENT_ID: 6f1c2a9e-3b7d-4c11-9e2a-5d8b0f4a7c31\n"),
        ("bad.yml", "source:\n  private_key: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n"),
        ("bad.yml", "source:\n  uri: https://bot:hunter2@git.example.com/cdstack.git\n"),
        ("bad.sh", "export AZURE_STORAGE_KEY=bm90LWEtcmVhbC1rZXktYnV0LWxvb2tzLWxpa2Utb25lLWZvci10aGUtdGVzdA==\n"),
        ("bad.sh", "VAULT_TOKEN=hvs.CAESIJzMx4Vb2l3eQpZZzJmcFFaVnhQ\n"),
    ],
)
def test_secret_scan_catches_planted_secrets(tmp_path: Path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    assert literal_secrets(path)
