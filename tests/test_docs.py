"""The manual (README.md and docs/*.md): no link leads nowhere, no anchor is missing, every command it shows keeps the
rule of tools/manual.py, and which of its `make` commands CI runs is written down here and checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR
from tools import manual

MAKEFILE = (PROJECT_DIR / "Makefile").read_text()
PAGES = manual.manual_pages()


def described_targets() -> set[str]:
    return set(re.findall(r"^([a-z-]+):[^\n]*?## ", MAKEFILE, re.MULTILINE))


# ---------------------------------------------------------------------------------------------------------------------
# GitHub's anchors


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Backups and restore", "backups-and-restore"),
        ("Vault: initialised by `pulumi up`", "vault-initialised-by-pulumi-up"),
        ("Break-glass: a root token from the recovery keys", "break-glass-a-root-token-from-the-recovery-keys"),
        ("Vault's store: Raft (default) or Consul", "vaults-store-raft-default-or-consul"),
        ("Chart mirror (`cdstack:chartMirror`)", "chart-mirror-cdstackchartmirror"),
        (
            "The charts, rendered: `make charts`, `render`, `diff`, `audit`",
            "the-charts-rendered-make-charts-render-diff-audit",
        ),
        ("snake_case and 2.0 / 3", "snake_case-and-20--3"),
        (
            "\u00dcber caf\u00e9\u2019s \u00c6R",
            "\u00fcber-caf\u00e9s-\u00e6r",
        ),  # a closing quote (Pf) goes, letters stay
        ("ConcourseWebDown", "concoursewebdown"),
    ],
)
def test_anchors_follow_githubs_slugs(heading: str, anchor: str):
    assert manual.github_slug(heading) == anchor


def test_a_repeated_heading_is_numbered_and_code_is_not_a_heading():
    text = "# Notes\n\n## Notes\n\n```sh\n# Notes\n```\n\n### [Linked](x.md) `code`\n"
    assert manual.anchors(text) == {"notes", "notes-1", "linked-code"}


def test_the_link_check_catches_a_missing_file_a_missing_anchor_and_ignores_code(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(manual, "PROJECT_DIR", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("# B\n\n## Here it is\n")
    page = tmp_path / "docs" / "a.md"
    page.write_text(
        "# A\n\n[fine](b.md#here-it-is) [self](#a) [web](https://example.com/x#y) ![pic](b.md)\n"
        "[gone](c.md) [no anchor](b.md#there) [up and out](../../x.md) `[in code](nowhere.md)`\n"
        "```\n[in a block](nowhere.md)\n```\n"
    )
    problems = {link.target: manual.broken(link) for link in manual.links(page) if manual.broken(link)}
    assert problems == {
        "c.md": "no such file",
        "b.md#there": "no heading with anchor #there in docs/b.md",
        "../../x.md": "outside the project",
    }


def test_no_link_or_anchor_in_the_manual_is_broken():
    found = [link for page in PAGES for link in manual.links(page)]
    assert len(found) >= 60, "the manual's links were not found"
    assert [f"{link}: {manual.broken(link)}" for link in found if manual.broken(link)] == []


def test_the_readme_links_every_page_of_the_manual():
    readme = PAGES[0]
    linked = {(readme.parent / link.target.partition("#")[0]).resolve() for link in manual.links(readme)}
    assert [page.name for page in PAGES[1:] if page.resolve() not in linked] == []


def test_the_readme_is_a_front_door():
    lines = PAGES[0].read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines: move the detail into docs/"


# ---------------------------------------------------------------------------------------------------------------------
# Commands


def test_every_command_in_the_manuals_shell_blocks_keeps_the_rule():
    targets = described_targets()
    checked, problems = 0, []
    for page in PAGES:
        for block in manual.shell_blocks(page.read_text()):
            functions = manual.defined_functions(block)
            for words in manual.commands(block):
                checked += 1
                if why := manual.unexplained(words, functions, targets):
                    problems.append(f"{page.name}: {why}")
    assert checked >= 40
    assert problems == []


def test_the_command_rule_refuses_what_it_should():
    targets = {"plan"}
    block = "make plan STACK=prod\nmake plans\ncurl -s https://x | sh\nFOO=1 ./deploy.sh\n"
    block += ".venv/bin/python -m tools.nothing\n"
    verdicts = [bool(manual.unexplained(words, set(), targets)) for words in manual.commands(block)]
    assert verdicts == [False, True, True, True, True, True]


MAKE_TEST_RUNS = {"test", "lint", "typecheck", "unit", "engines"}
"""What `make test`, which CI runs (.ci/run), runs as make targets: itself and its prerequisites."""

TESTS_RUN_THE_TOOL = {
    "alerts": "alerts",
    "audit": "audit",
    "charts": "charts",
    "compare": "plan",
    "cost": "cost",
    "diff": "diff",
    "docs": "config_reference",
    "figures": "figures",
    "images": "images",
    "netpol": "netpol",
    "plan": "plan",
    "plans": "golden_plans",
    "pod-security": "pod_security",
    "policy": "policy_check",
    "promote": "promote",
    "render": "render",
    "restore": "restore",
    "scan": "scan",
    "smoke": "smoke",
    "timeline": "timeline",
}
"""Documented targets whose tool (`python -m tools.<module>`) `make test`'s pytest runs, against the offline plan,
the real charts where they are, or fakes of a deployed stack: the target itself is not run in CI."""

NOT_IN_CI = {
    "help": "tests/test_front_door.py runs it (`make help`), not as part of a target",
    "bench": "prints timings on the machine at hand; nothing to assert",
    "bench-test": "times `make unit` and `make test` themselves; running it inside `make test` would recurse",
    "fmt": "rewrites files; `make lint` (in `make test`) checks the same formatting",
    "unit-all": "`make unit` plus the `exhaustive` tests, which re-prove what default tests prove (Makefile)",
    "charts-lock": "needs the chart repositories (network); its tool's offline paths are under `make charts`",
    "images-lock": "needs the registries (network); its tool's offline paths are under `make images`",
}
"""Documented targets CI runs neither as a target nor through their tool's tests, and why."""


def make_test_closure() -> set[str]:
    """`test` and every phony prerequisite it pulls in, read from the Makefile."""
    rules = dict(re.findall(r"^([a-z-]+):([^\n#]*)", MAKEFILE, re.MULTILINE))
    found, todo = set(), ["test"]
    while todo:
        target = todo.pop()
        if target in found or target not in rules:
            continue
        found.add(target)
        todo += [word for word in rules[target].split() if word in rules]
    return found


def tools_the_tests_run() -> set[str]:
    """The tools.<module> names some test imports or runs."""
    text = "\n".join(path.read_text() for path in (PROJECT_DIR / "tests").glob("test_*.py"))
    names = set(re.findall(r"\btools\.([a-z_]+)", text))
    for imported in re.findall(r"^\s*from tools import ([^\n(]+)", text, re.MULTILINE):
        names |= {name.split(" as ")[0].strip() for name in imported.split(",")}
    return names


def test_which_documented_make_commands_ci_runs_is_written_down_and_true():
    documented = {target for page in PAGES for target in re.findall(r"`make ([a-z-]+)", page.read_text())}
    documented |= {
        w[1] for p in PAGES for b in manual.shell_blocks(p.read_text()) for w in manual.commands(b) if w[0] == "make"
    }
    assert make_test_closure() == MAKE_TEST_RUNS
    said = MAKE_TEST_RUNS | set(TESTS_RUN_THE_TOOL) | set(NOT_IN_CI)
    assert sorted(documented - said) == [], "say how CI covers each documented make target"
    assert sorted(said - described_targets()) == []
    for target, module in TESTS_RUN_THE_TOOL.items():
        recipe = re.search(rf"^{target}:[^\n]*\n((?:\t[^\n]*\n)+)", MAKEFILE, re.MULTILINE)
        assert recipe and f"-m tools.{module}" in recipe.group(1), target
    untested = sorted(module for module in TESTS_RUN_THE_TOOL.values() if module not in tools_the_tests_run())
    assert untested == [], "no test runs these tools"


def test_the_pulumi_commands_the_pipeline_runs_are_the_ones_it_says():
    """No `pulumi` command runs in `make test`. The infra pipeline's tasks run these; every other one the manual shows
    is an operator's (stack setup, config, destroy and refresh with --run-program, preview and up from a laptop)."""
    tasks = "\n".join(path.read_text() for path in (PROJECT_DIR / "ci" / "tasks").glob("*.sh"))
    code = "\n".join(line.split("#", 1)[0] for line in tasks.splitlines())
    assert set(re.findall(r"(?:^|[\s;(|&])pulumi ([a-z]+)", code)) == {"install", "preview", "up", "stack"}
