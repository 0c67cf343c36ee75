# The front door. `make plan` and `make test` work on a fresh machine: both create .venv and install the pinned
# requirements first (only when requirements*.txt changed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= staging

.PHONY: plan test lint typecheck unit bench policy

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

policy: $(VENV)/.installed ## run the policy pack offline over every stack's plan: violations and the pack's time
	$(PY) -m tools.policy_check

$(VENV)/.installed: requirements.txt requirements-dev.txt policy/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@
