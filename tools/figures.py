"""Generate the manual's cost, first-`up` and upgrade-`up` figures from the planned graphs, never to drift.

    python -m tools.figures            print the block (Markdown)
    python -m tools.figures --write    replace the generated block in docs/tooling.md (and redraw docs/timeline-prod.*)

A test fails when docs/tooling.md disagrees with the plans, prices and durations.
"""

from __future__ import annotations

import argparse
import sys

from tools import cost, doc_blocks, offline, timeline

DOCS = doc_blocks.DOCS
PAGE = DOCS / "tooling.md"
BEGIN = "<!-- BEGIN GENERATED COST AND TIMELINE: make figures -->"
END = "<!-- END GENERATED COST AND TIMELINE -->"
PICTURED = "prod"


def block() -> str:
    lines = [
        BEGIN,
        "| stack | monthly cost, worker pool at minimum | at maximum | items without a known price | first `up` "
        "| upgrade `up` of Concourse | then, after `up`, the old workers retire within |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for stack in offline.stack_names():
        plan = offline.run_stack(stack)
        rep = cost.report(plan, offline.load_config(stack).location)
        unknown = len(rep.unknown)
        suffix = " + unknown" if unknown else ""
        cfg = offline.load_config(stack)
        upgrade = timeline.upgrade_total(timeline.upgrade(plan, cfg))
        lines.append(
            f"| {stack} | ${rep.low:,.0f}{suffix} | ${rep.high:,.0f}{suffix} | {unknown} | "
            f"{timeline._clock(timeline.total(timeline.schedule(plan)))} | {timeline._clock(upgrade)} | "
            f"{timeline._clock(cfg.concourse.worker_drain_seconds)} |"
        )
    lines += [
        "",
        f"![Modelled first `pulumi up` of {PICTURED}](timeline-{PICTURED}.svg)",
        END,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.figures", description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--write", action="store_true", help="replace the block in docs/tooling.md and redraw the picture"
    )
    args = parser.parse_args(argv)
    new_block = block()
    if not args.write:
        print(new_block)
        return 0
    if doc_blocks.write(PAGE, BEGIN, END, new_block):
        return 2
    timeline.picture(PICTURED, timeline.schedule(offline.run_stack(PICTURED)), DOCS)
    print(f"Wrote {PAGE} and {DOCS}/timeline-{PICTURED}.svg/.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
