# The front door. `make plan` and `make test` work on a fresh machine: both create .venv and install the pinned
# requirements first (only when requirements*.txt changed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= staging

.PHONY: plan test lint typecheck unit bench charts charts-lock render diff audit

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

charts: $(VENV)/.installed ## pull every pinned chart into the cache and check it against charts.lock
	$(PY) -m tools.charts pull

charts-lock: $(VENV)/.installed ## pull every pinned chart and (re)write charts.lock with their digests
	$(PY) -m tools.charts lock

render: $(VENV)/.installed ## manifests of every Helm release of STACK into rendered/ (RELEASE=<name> for one)
	$(PY) -m tools.render $(STACK) $(if $(RELEASE),--release $(RELEASE),)

diff: $(VENV)/.installed ## per-release manifest diff: A=staging B=prod, or STACK=prod REF=<git ref>
	$(PY) -m tools.diff $(if $(REF),--stack $(STACK) --ref $(REF),--a $(A) --b $(B))

audit: $(VENV)/.installed ## schema, values schema, dead settings, scheduling, capacity, references, ordering of STACK
	$(PY) -m tools.audit $(STACK)

bench: $(VENV)/.installed ## offline plan time and peak memory per stack
	$(PY) -m tools.bench

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@
