"""Promote: copy a source stack's chart versions into a target stack file, as a commit a person reviews.

    python -m tools.promote                       staging's release set (from Pulumi.staging.yaml) into Pulumi.prod.yaml
    python -m tools.promote --release-set rs.json the release set staging actually deployed:
                                                  pulumi stack output releaseSet --json --stack <org>/cdstack/staging

The source is the target's `cdstack:promotion.sourceStack` unless `--source` names one. Without `--release-set` the
source's release set is computed offline from its stack file and the catalog, by the same function the stack
exports (components/releases.py): what git says the source runs, which the pipeline deployed before the person who
promotes saw staging healthy; the prod gate then checks it against what staging really exported.

Every chart version is written to the target's `cdstack:charts`, not only those that differ from the catalog: the
target then changes versions only through a promote commit, and a catalog bump reaches the source alone. Image tags
have no per-stack override; they follow the catalog and the gate checks them. The file is edited with ruamel.yaml's
round-trip mode: comments, order, quoting and layout of everything else stay byte for byte.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from components import catalog
from components.config.loader import ConfigError
from components.releases import release_set
from tools import offline, stackfile

CHARTS_KEY = "cdstack:charts"


class PromoteError(Exception):
    pass


def _yaml() -> YAML:
    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def check_charts(charts: Any) -> dict[str, str]:
    """A release set's chart map, refused unless every key is a catalog chart and every version exact."""
    if not isinstance(charts, dict) or not charts:
        raise PromoteError(f"the source release set has no chart versions (got {json.dumps(charts)})")
    problems = [
        f"{key}: {version!r}"
        for key, version in charts.items()
        if key not in catalog.CHARTS or not isinstance(version, str) or not catalog.VERSION.match(version)
    ]
    if problems:
        raise PromoteError("the source release set has unknown charts or inexact versions: " + ", ".join(problems))
    return dict(sorted(charts.items()))


def promote_text(text: str, charts: dict[str, str], source: str) -> tuple[str, list[str]]:
    """The stack file `text` with `cdstack:charts` set to `charts`, and one line per key that changed.

    A complete release set (every catalog chart) replaces the pins, dropping those of charts the catalog no longer
    has. A partial one (`{"charts": {"traefik": "41.5.0"}}`) changes only the charts it names: a missing chart
    means "not part of this promotion", never "unpin it"."""
    yaml = _yaml()
    document = yaml.load(text)
    config = document["config"]
    changes: list[str] = []
    current = config.get(CHARTS_KEY)
    if current is None:
        current = CommentedMap()
        position = list(config).index("cdstack:promotion") + 1 if "cdstack:promotion" in config else len(config)
        config.insert(position, CHARTS_KEY, current)
        config.yaml_set_comment_before_after_key(
            CHARTS_KEY, before=f"Chart versions promoted from {source} by tools/promote.py.", indent=2
        )
    complete = set(catalog.CHARTS) <= set(charts)
    for key in [k for k in current if k not in charts and complete]:
        changes.append(f"{CHARTS_KEY}.{key}: {current[key]} -> (removed)")
        del current[key]
    for key, version in charts.items():
        before = current.get(key)
        if before == version:
            continue
        shown = before if before is not None else f"(catalog {catalog.CHARTS[key].version})"
        changes.append(f"{CHARTS_KEY}.{key}: {shown} -> {version}")
        current[key] = version
    if not changes:
        return text, []
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue(), changes


def source_stack_of(target_file: Path) -> str:
    config = _yaml().load(target_file.read_text())["config"]
    source = (config.get("cdstack:promotion") or {}).get("sourceStack")
    if not source:
        raise PromoteError(f"{target_file.name} has no cdstack:promotion.sourceStack; name the source with --source")
    return str(source)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.promote", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--target", default="prod", help="stack whose file is written (default prod)")
    parser.add_argument("--source", help="source stack name (default: the target's promotion.sourceStack)")
    parser.add_argument(
        "--release-set", metavar="FILE", help="JSON of the source's releaseSet stack output ('-' reads stdin)"
    )
    parser.add_argument("--project-dir", type=Path, default=offline.PROJECT_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    target_file = args.project_dir / f"Pulumi.{args.target}.yaml"
    try:
        source = args.source or source_stack_of(target_file)
        if args.release_set:
            raw = sys.stdin.read() if args.release_set == "-" else Path(args.release_set).read_text()
            charts = check_charts(json.loads(raw).get("charts"))
        else:
            source_name = source.rsplit("/", 1)[-1]
            charts = check_charts(release_set(offline.load_config(source_name, args.project_dir))["charts"])
        text, changes = promote_text(target_file.read_text(), charts, source)
        # Both stack files are at hand: refuse to promote into a stack that collides with another one. (A target
        # that is invalid on its own, say pinning a chart the catalog dropped, is what promote repairs; its plan
        # reports anything else.)
        try:
            cross_stack = offline.cross_stack_errors(args.target, args.project_dir)
        except ConfigError:
            cross_stack = []
        if cross_stack:
            raise PromoteError("\n".join(str(error) for error in cross_stack))
    except (PromoteError, ConfigError, stackfile.StackFileError, OSError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not changes:
        print(f"{target_file.name} already runs {source}'s chart versions; nothing changed.")
        return 0
    target_file.write_text(text)
    print(f"{target_file.name}: chart versions from {source}")
    if not set(catalog.CHARTS) <= set(charts):
        print(f"  (a partial release set: {len(charts)} of {len(catalog.CHARTS)} charts; the other pins are unchanged)")
    for line in changes:
        print(f"  {line}")
    print("Review and commit the change; the prod job deploys it after staging's smoke test.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
