"""The alerts table: every alert (Prometheus and ElastAlert) with its file, severity, failure mode and runbook.

    python -m tools.alerts            print the table (Markdown)       make alerts
    python -m tools.alerts --write    replace the generated block in docs/alerts.md  make alerts WRITE=1

The rows come from the rule files themselves (components/alerting.py), so the table cannot drift from what ships; a
test fails when docs/alerts.md's block is stale.
"""

from __future__ import annotations

import sys

from components import alerting
from tools import doc_blocks

BEGIN = "<!-- BEGIN GENERATED ALERTS TABLE: make alerts WRITE=1 -->"
END = "<!-- END GENERATED ALERTS TABLE -->"
PAGE = doc_blocks.DOCS / "alerts.md"


def table() -> str:
    rows = alerting.alerts() + alerting.log_alerts()
    return "\n".join([BEGIN, "", alerting.alerts_table(rows, page_dir="docs"), "", END])


def current_block() -> str:
    return doc_blocks.current(PAGE, BEGIN, END)


def main(argv: list[str] | None = None) -> int:
    return doc_blocks.main("python -m tools.alerts", PAGE, BEGIN, END, table, argv)


if __name__ == "__main__":
    sys.exit(main())
