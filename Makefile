# The front door. `make plan` and `make test` work on a fresh machine: both create .venv and install the pinned
# requirements first (only when requirements*.txt changed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ELASTALERT_VENV := .venv-elastalert
STACK ?= staging

.PHONY: plan test lint typecheck unit bench alerts rule-engines

plan: $(VENV)/.installed ## offline plan of a stack (STACK=staging by default)
	$(PY) -m tools.plan $(STACK) $(if $(JSON),--json $(JSON),)

test: lint typecheck unit ## everything CI runs

unit: $(VENV)/.installed $(ELASTALERT_VENV)/.installed rule-engines
	$(PY) -m pytest

alerts: $(VENV)/.installed ## the alerts table (alert, file, severity, failure mode, runbook); WRITE=1 updates the README
	$(PY) -m tools.alerts $(if $(WRITE),--write,)

# promtool checks and unit-tests the Prometheus rule files, amtool the Alertmanager routing. Debian's `prometheus` and
# `prometheus-alertmanager` packages ship them; CI runs as root with no stdin, so install them non-interactively
# when either is missing.
rule-engines: ## install promtool and amtool (Debian's prometheus, prometheus-alertmanager) when missing
	@command -v promtool >/dev/null && command -v amtool >/dev/null || { \
		DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus prometheus-alertmanager; }

# ElastAlert 2 (the chart's image version) in a venv of its own: its pins clash with the project's. It declares
# Python >=3.12 but its loader runs on 3.11 (tools/elastalert_check.py), hence --ignore-requires-python.
$(ELASTALERT_VENV)/.installed: requirements-elastalert.txt
	test -x $(ELASTALERT_VENV)/bin/python || $(PYTHON) -m venv $(ELASTALERT_VENV)
	$(ELASTALERT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --ignore-requires-python \
		-r requirements-elastalert.txt
	touch $@

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/pyright

bench: $(VENV)/.installed ## offline plan time and peak memory per stack
	$(PY) -m tools.bench

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@
