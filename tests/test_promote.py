"""The promote command on temporary copies of the stack files: only `cdstack:charts` changes, byte for byte."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from components import catalog
from tests.conftest import PROJECT_DIR
from tools import promote


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for stack in ("staging", "prod"):
        shutil.copy(PROJECT_DIR / f"Pulumi.{stack}.yaml", tmp_path / f"Pulumi.{stack}.yaml")
    return tmp_path


def without_charts(text: str) -> str:
    return "".join(lines_outside_charts(text))


def lines_outside_charts(text: str) -> list[str]:
    """Every line of a stack file except the `cdstack:charts` block (and the comment line promote puts above it)."""
    kept, inside = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("  cdstack:charts:"):
            inside = True
            continue
        if inside and line.startswith("    "):
            continue
        inside = False
        if "by tools/promote.py." in line:
            continue
        kept.append(line)
    return kept


def test_promote_copies_staging_bump_and_keeps_everything_else_byte_for_byte(
    project: Path, capsys: pytest.CaptureFixture[str]
):
    staging = project / "Pulumi.staging.yaml"
    staging.write_text(staging.read_text() + "  cdstack:charts:\n    concourse: 20.2.0\n")
    prod = project / "Pulumi.prod.yaml"
    prod.write_text(
        without_charts(prod.read_text())
        + "  cdstack:charts:\n    # pinned after the 20.1 upgrade\n    concourse: 20.1.3\n    vault: 0.34.1\n"
    )
    before = prod.read_text()
    before_staging = staging.read_text()

    assert promote.main(["--project-dir", str(project)]) == 0

    after = prod.read_text()
    printed = capsys.readouterr().out
    assert "cdstack:charts.concourse: 20.1.3 -> 20.2.0" in printed
    assert f"cdstack:charts.traefik: (catalog {catalog.CHARTS['traefik'].version}) -> 41.3.0" in printed
    assert "vault" not in printed  # unchanged keys are not reported
    assert lines_outside_charts(after) == lines_outside_charts(before)
    assert "    # pinned after the 20.1 upgrade\n    concourse: 20.2.0\n    vault: 0.34.1\n" in after
    assert staging.read_text() == before_staging
    for key, chart in catalog.CHARTS.items():
        expected = "20.2.0" if key == "concourse" else chart.version
        assert f"    {key}: {expected}\n" in after


def test_promote_into_a_file_without_charts_adds_the_block_after_promotion(project: Path):
    prod = project / "Pulumi.prod.yaml"
    without = without_charts(prod.read_text())
    prod.write_text(without)

    assert promote.main(["--project-dir", str(project)]) == 0

    after = prod.read_text()
    assert after.startswith(without)
    assert "    sourceStack: organization/cdstack/staging\n  # Chart versions promoted from" in after
    assert after.count("\n    ") - without.count("\n    ") == len(catalog.CHARTS)


def test_promote_twice_changes_nothing_the_second_time(project: Path, capsys: pytest.CaptureFixture[str]):
    assert promote.main(["--project-dir", str(project)]) == 0
    once = (project / "Pulumi.prod.yaml").read_bytes()
    assert promote.main(["--project-dir", str(project)]) == 0
    assert (project / "Pulumi.prod.yaml").read_bytes() == once
    assert "nothing changed" in capsys.readouterr().out


def test_promote_from_the_deployed_stack_output(project: Path, capsys: pytest.CaptureFixture[str]):
    deployed = {"charts": {key: c.version for key, c in catalog.CHARTS.items()} | {"vault": "0.35.0"}, "images": {}}
    output = project / "release-set.json"
    output.write_text(json.dumps(deployed))
    assert promote.main(["--project-dir", str(project), "--release-set", str(output)]) == 0
    assert "    vault: 0.35.0\n" in (project / "Pulumi.prod.yaml").read_text()
    assert "cdstack:charts.vault: " in capsys.readouterr().out


@pytest.mark.parametrize(
    "release_set",
    [{"charts": {"concourse": "^20.1"}}, {"charts": {"jenkins": "5.0.0"}}, {"concourse": "20.1.3"}],
)
def test_promote_refuses_a_bad_release_set_and_writes_nothing(
    project: Path, release_set: dict, capsys: pytest.CaptureFixture[str]
):
    before = (project / "Pulumi.prod.yaml").read_bytes()
    output = project / "release-set.json"
    output.write_text(json.dumps(release_set))
    assert promote.main(["--project-dir", str(project), "--release-set", str(output)]) == 2
    assert (project / "Pulumi.prod.yaml").read_bytes() == before
    assert capsys.readouterr().err.startswith("error: the source release set")


def test_a_partial_release_set_changes_only_the_charts_it_names(project: Path, capsys: pytest.CaptureFixture[str]):
    prod = project / "Pulumi.prod.yaml"
    before = prod.read_text()
    output = project / "release-set.json"
    output.write_text(json.dumps({"charts": {"traefik": "41.5.0"}}))

    assert promote.main(["--project-dir", str(project), "--release-set", str(output)]) == 0

    after = prod.read_text()
    assert after == before.replace("    traefik: 41.3.0\n", "    traefik: 41.5.0\n")
    assert after != before
    printed = capsys.readouterr().out
    assert "cdstack:charts.traefik: 41.3.0 -> 41.5.0" in printed
    assert "(removed)" not in printed
    assert "partial release set: 1 of 12 charts" in printed


def test_a_complete_release_set_still_drops_a_pin_the_catalog_no_longer_has(project: Path):
    prod = project / "Pulumi.prod.yaml"
    prod.write_text(prod.read_text() + "    retired-chart: 1.0.0\n")
    output = project / "release-set.json"
    output.write_text(json.dumps({"charts": {key: c.version for key, c in catalog.CHARTS.items()}}))

    assert promote.main(["--project-dir", str(project), "--release-set", str(output)]) == 0

    assert "retired-chart" not in prod.read_text()


def test_promote_refuses_a_target_that_collides_with_another_stack(project: Path, capsys: pytest.CaptureFixture[str]):
    prod = project / "Pulumi.prod.yaml"
    prod.write_text(prod.read_text().replace("domain: cd.contoso.com", "domain: staging.cd.contoso.com"))
    before = prod.read_bytes()

    assert promote.main(["--project-dir", str(project)]) == 2

    assert prod.read_bytes() == before
    err = capsys.readouterr().err
    assert "Pulumi.prod.yaml: invalid configuration" in err
    assert "cdstack:dns.domain: got 'staging.cd.contoso.com'; must differ from Pulumi.staging.yaml's dns.domain" in err
