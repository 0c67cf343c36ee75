"""`python -m tools.plan A --compare B`: the releases and settings that differ between two stacks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR
from tools import compare, plan


def test_differences_by_key_path_with_plain_lists_as_one_leaf_and_null_as_unset():
    a = {"cluster": {"skuTier": "Free", "zones": ["1", "2"]}, "teams": [{"name": "x"}], "vault": {"address": None}}
    b = {"cluster": {"skuTier": "Standard", "zones": ["1", "2"]}, "teams": [{"name": "y"}], "vault": {"address": "h"}}
    assert compare.differences(a, b) == [
        ("cluster.skuTier", "Free", "Standard"),
        ("teams[0].name", "x", "y"),
        ("vault.address", compare.MISSING, "h"),
    ]


def test_compare_staging_with_prod_lists_release_and_setting_differences(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    for stack in ("staging", "prod"):
        shutil.copy(PROJECT_DIR / f"Pulumi.{stack}.yaml", tmp_path / f"Pulumi.{stack}.yaml")
    staging = tmp_path / "Pulumi.staging.yaml"
    staging.write_text(staging.read_text() + "  cdstack:charts:\n    concourse: 20.2.0\n")

    assert plan.main(["staging", "--compare", "prod", "--project-dir", str(tmp_path)]) == 0

    out = capsys.readouterr().out
    assert "Releases that differ (1):\n  chart concourse: staging 20.2.0, prod 20.1.3\n" in out
    assert '  cluster.skuTier: staging "Free", prod "Standard"' in out
    assert '  promotion.sourceStack: staging (not set), prod "organization/cdstack/staging"' in out
    assert "  production: staging false, prod true" in out
    assert "charts" not in out  # chart overrides are releases, not settings
    assert "Offline plan" not in out


def test_compare_with_a_missing_stack_file_exits_2(capsys: pytest.CaptureFixture[str]):
    assert plan.main(["staging", "--compare", "nowhere"]) == 2
    assert "Pulumi.nowhere.yaml does not exist" in capsys.readouterr().err
