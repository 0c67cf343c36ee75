"""The manual (README.md, the front door, and the pages under docs/) read as GitHub renders it: its headings' anchors,
its links, and the commands of its shell blocks, so tests can hold every link, anchor and command to something real.

Anchors follow GitHub's slugs (github-slugger v2, which github.com uses for headings): the heading's text in lower
case; dropped are punctuation other than `-` and `_`, symbols (backticks among them), controls, format characters
and separators other than the plain space, unless the character is a letter; each space becomes `-`; a slug seen
before on the same page gets `-1`, `-2` ... Links and headings inside code (fenced blocks, inline spans) do not
count, as on GitHub.

The rule for commands: every command of a ```sh block is `make <target>` (a target `make help` describes), a
`pulumi` command, or a step an operator runs with one of `OPERATOR_TOOLS` (the clouds' and services' own CLIs and
the shell's own setup), a function the block defines, or `.venv/bin/python -m tools.<module>` for a tool whose
output goes into the environment rather than the terminal. Commands in `$(...)` count too.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from tools import offline

PROJECT_DIR = offline.PROJECT_DIR
DOCS = PROJECT_DIR / "docs"

OPERATOR_TOOLS = frozenset({"az", "kubectl", "vault", "fly", "helm", "ssh-keygen", "export", "cd", "cat", "rm"})
"""Besides make and pulumi: the Azure CLI, Kubernetes', Vault's, Concourse's and Helm's own CLIs, which an operator
runs against a deployed stack (none of them runs in CI), and the shell's setup (environment, files)."""

DROPPED_CATEGORIES = frozenset({"No", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "Cc", "Co", "Cf", "Cn"})
"""Unicode general categories github-slugger removes (with every Symbol and Separator); Pc is kept below, as it is
there (`_`), and so is Pd's plain `-`."""


def manual_pages() -> list[Path]:
    """The manual: the README (the front door) and every page under docs/."""
    return [PROJECT_DIR / "README.md", *sorted(DOCS.glob("*.md"))]


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading's text (without the count it appends to a repeated one)."""
    kept = []
    for ch in heading.lower():
        category = unicodedata.category(ch)
        dropped = (category in DROPPED_CATEGORIES and ch not in "-_") or category[0] in "SZ"
        if ch == " " or not dropped or ch.isalpha():
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def prose(text: str) -> str:
    """The text without fenced code blocks (their lines become empty, so line numbers stay)."""
    lines, fence = [], ""
    for line in text.splitlines():
        marker = re.match(r"^\s*(`{3,}|~{3,})", line)
        if fence:
            if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
                fence = ""
            lines.append("")
        elif marker:
            fence = marker.group(1)
            lines.append("")
        else:
            lines.append(line)
    return "\n".join(lines)


def heading_text(markdown: str) -> str:
    """What GitHub renders of a heading's inline Markdown: a link's text, code without its backticks."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    return re.sub(r"<[^>]+>", "", text).strip()


def anchors(text: str) -> set[str]:
    """Every heading anchor of a page, repeated slugs numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for match in re.finditer(r"^ {0,3}#{1,6}\s+(.+?)\s*#*\s*$", prose(text), re.MULTILINE):
        slug = base = github_slug(heading_text(match.group(1)))
        while slug in found:
            seen[base] = seen.get(base, 0) + 1
            slug = f"{base}-{seen[base]}"
        found.add(slug)
    return found


@dataclass(frozen=True)
class Link:
    page: Path
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(PROJECT_DIR)}:{self.line}: {self.target}"


def links(page: Path) -> list[Link]:
    """The page's Markdown links and images outside code (fenced blocks and inline spans)."""
    found = []
    for number, line in enumerate(prose(page.read_text()).splitlines(), 1):
        line = re.sub(r"(`+).*?\1", "", line)
        for match in re.finditer(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", line):
            found.append(Link(page, number, match.group(1)))
    return found


def broken(link: Link) -> str:
    """Why a relative link leads nowhere (an empty string when it is fine); web addresses are not followed."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", link.target):
        return ""
    path, _, anchor = link.target.partition("#")
    target = (link.page.parent / path if path else link.page).resolve()
    if PROJECT_DIR.resolve() not in target.parents and target != PROJECT_DIR.resolve():
        return "outside the project"
    if not target.exists():
        return "no such file"
    if anchor and target.suffix == ".md" and anchor not in anchors(target.read_text()):
        return f"no heading with anchor #{anchor} in {target.relative_to(PROJECT_DIR.resolve())}"
    return ""


def shell_blocks(text: str) -> list[str]:
    """The contents of the page's ```sh blocks."""
    return re.findall(r"^```sh\n(.*?)^```", text, re.DOTALL | re.MULTILINE)


def commands(block: str) -> list[list[str]]:
    """Each command of a shell block as words: continuations joined, comments dropped, a function definition's body
    taken as commands, `&&`, `||`, `;`, `|`, `(...)` and `$(...)` split into their commands, redirections and leading
    VAR=value assignments left out."""
    found = []
    for line in re.sub(r"\\\n", " ", block).splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line)
        line = re.sub(r"^\s*[a-z_][a-z0-9_]*\(\)\s*\{", "", line).replace("}", " ")
        parts = []
        while inner := re.search(r"\$\(([^()]*)\)", line):
            parts.append(inner.group(1))
            line = line[: inner.start()] + "SUBST" + line[inner.end() :]
        for part in [*re.split(r"&&|\|\||;|\|", line.replace("(", " ").replace(")", " ")), *parts]:
            words = shlex.split(part.replace(">", " ")) if part.strip() else []
            while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
                words = words[1:]
            if words:
                found.append(words)
    return found


def defined_functions(block: str) -> set[str]:
    return set(re.findall(r"^\s*([a-z_][a-z0-9_]*)\(\)\s*\{", block, re.MULTILINE))


def unexplained(words: list[str], functions: set[str], make_targets: set[str]) -> str:
    """Why a command breaks the rule (module docstring); an empty string when it keeps it."""
    program = words[0]
    if program == "make":
        target = next((word for word in words[1:] if "=" not in word), "")
        return "" if target in make_targets else f"make {target}: no such described target"
    if program == "pulumi" or program in OPERATOR_TOOLS or program in functions:
        return ""
    module = words[2] if program == ".venv/bin/python" and words[1:2] == ["-m"] and len(words) > 2 else ""
    if module.startswith("tools.") and (PROJECT_DIR / "tools" / f"{module[6:]}.py").exists():
        return ""
    return f"{' '.join(words)}: neither a make target, a pulumi command nor an operator's tool"
