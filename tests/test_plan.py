"""The offline plan end to end: both stacks plan, the CLI prints a tree and writes JSON, config errors exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR
from tools import offline, plan


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_offline_plan_runs_each_stack_end_to_end(stack: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "plan.json"
    assert plan.main([stack, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"Offline plan of stack '{stack}'" in printed
    assert "Resources per type:" in printed
    assert "waits on:" in printed
    data = json.loads(out.read_text())
    types = {r["type"] for r in data["resources"]}
    assert "cdstack:index:CdStack" in types
    assert "azure-native:resources:ResourceGroup" in types
    assert data["outputs"]["concourseUrl"].startswith("https://ci.")
    for resource in data["resources"]:
        assert set(resource["options"]) >= {"protect", "ignoreChanges", "provider"}


def test_plan_command_reports_config_error_without_traceback(tmp_path: Path):
    bad = (PROJECT_DIR / "Pulumi.staging.yaml").read_text().replace("minCount: 2", "minCount: 9")
    (tmp_path / "Pulumi.broken.yaml").write_text(bad)
    result = subprocess.run(
        [sys.executable, "-m", "tools.plan", "broken", "--project-dir", str(tmp_path)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Pulumi.broken.yaml" in result.stderr
    assert "cdstack:cluster.workerPool.minCount: got 9" in result.stderr
    assert "must be <= maxCount (4)" in result.stderr
    assert result.stdout == ""


def test_readme_configuration_reference_matches_the_models():
    from tools import config_reference

    assert config_reference.readme_block() == config_reference.reference(), (
        "README.md's configuration reference is stale: run `make docs`"
    )


def test_longest_chain_of_waits_runs_from_the_resource_group_through_vault_to_the_teams(plan_of):
    path = [f"{r.type.rsplit(':', 1)[-1]}::{r.name}" for r in plan.critical_path(offline.run_stack("prod"))]
    assert path[0] == "ResourceGroup::resource-group"
    assert path[-1] == "Team::team-payments"
    # Vault's release waits for its listener's certificate, at the end of the internal CA's chain of waits.
    vault_side = [
        "Certificate::vault-server-tls-certificate",
        "Release::vault",
        "vault::vault",
        "Secret::concourse-web-secret",
        "Release::concourse",
    ]
    positions = [path.index(step) for step in vault_side]
    assert positions == sorted(positions), path
