# pyright: reportMissingImports=false
# (elastalert2 lives in .venv-elastalert, not in the .venv pyright checks against; this file runs only there.)
"""Load ElastAlert 2 rule files with ElastAlert's own loader and schema, as the running ElastAlert would.

    .venv-elastalert/bin/python tools/elastalert_check.py <rules-folder>

Runs in its own virtual environment (`make .venv-elastalert/.installed`, requirements-elastalert.txt): elastalert2's
pins clash with the project's, so this file imports nothing of the project. It writes a minimal global config (the
keys `elastalert.config.load_conf` requires), loads every rule of the folder through `FileRulesLoader.load`, which
validates each against ElastAlert's schema.yaml and builds its rule type and alerters, and prints one line per rule.
Exit status 1 with ElastAlert's message (it names the file) when any rule does not load.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml
from elastalert.config import load_conf
from elastalert.util import EAException


def main() -> int:
    folder = Path(sys.argv[1]).resolve()
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "rules_folder": str(folder),
                    "scan_subdirectories": False,
                    "run_every": {"minutes": 1},
                    "buffer_time": {"minutes": 15},
                    "es_host": "elasticsearch.invalid",
                    "es_port": 9200,
                    "writeback_index": "elastalert",
                }
            )
        )
        args = argparse.Namespace(
            config=str(config), verbose=False, debug=False, es_debug=False, es_debug_trace=None, rule=None
        )
        try:
            conf = load_conf(args)
            rules = conf["rules_loader"].load(conf, args)
        except EAException as error:
            # The first line names the file; of the schema's long report, the line saying which check failed.
            lines = str(error).splitlines()
            print("elastalert: " + " | ".join(lines[:1] + [line for line in lines if line.startswith("Failed")]))
            return 1
    for rule in rules:
        print(f"loaded {Path(rule['rule_file']).name}: {rule['name']} ({rule['type'].__class__.__name__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
