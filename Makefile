# The front door. `make plan` and `make test` work on a fresh machine: both create .venv and install the pinned
# requirements first (only when requirements*.txt changed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= staging

.PHONY: plan test lint typecheck unit bench restore

plan: $(VENV)/.installed ## offline plan of a stack (STACK=staging by default)
	$(PY) -m tools.plan $(STACK) $(if $(JSON),--json $(JSON),)

test: lint typecheck unit ## everything CI runs

unit: $(VENV)/.installed
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/pyright

bench: $(VENV)/.installed ## offline plan time and peak memory per stack
	$(PY) -m tools.bench

restore: $(VENV)/.installed ## restore WHAT=vault|elasticsearch|postgres of STACK from its newest backup [AT=<snapshot or ISO time>] [DRY_RUN=1]
	$(PY) -m tools.restore $(STACK) $(WHAT) $(if $(AT),--at $(AT),) $(if $(DRY_RUN),--dry-run,)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@
