# The front door. `make plan` and `make test` work on a fresh machine: both create .venv and install the pinned
# requirements first (only when requirements*.txt changed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= staging

.PHONY: plan test lint typecheck unit bench cost timeline figures

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

cost: $(VENV)/.installed ## monthly cost per line item at the pool's min/max (STACK=prod, or STACK="staging prod")
	$(PY) -m tools.cost $(STACK) $(if $(RENDERED),--rendered $(RENDERED),)

timeline: $(VENV)/.installed ## modelled first `up` with its critical path; a Gantt chart in docs/ (STACK=prod)
	$(PY) -m tools.timeline $(STACK) --picture docs

figures: $(VENV)/.installed ## regenerate the README's cost ranges and the prod timeline picture
	$(PY) -m tools.figures --write

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@
