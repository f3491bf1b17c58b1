# The two commands of the quick start: `make demo` and `make test`.
# Both create (or reuse) a virtualenv in .venv and install what they need: the demo only what
# the exporter needs to run, the tests the test extra as well.
# The inner loop while coding: `make check` (lint, format, types, in-process tests; < 1 min).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DASHBOARD_CHECK := tests/dashboard
SDK_CHECK := tests/sdk

.PHONY: demo check test bench bench-readme docs dashboard chart-docs lint typecheck system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall when the dependency list changes.
$(VENV)/.installed-runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $(VENV)/.installed-runtime $@

system-deps:
	./scripts/install-system-deps.sh

$(DASHBOARD_CHECK)/node_modules/.installed: $(DASHBOARD_CHECK)/package-lock.json | system-deps
	npm ci --prefix $(DASHBOARD_CHECK) --no-audit --no-fund --silent
	touch $@

# The real AI SDK 5, 6 and 7, OpenTelemetry JS SDK and @vercel/otel of test_real_sdks.py.
$(SDK_CHECK)/node_modules/.installed: $(SDK_CHECK)/package-lock.json | system-deps
	npm ci --prefix $(SDK_CHECK) --no-audit --no-fund --silent
	touch $@

## Run the exporter against the bundled simulator: no API key needed.
demo: $(VENV)/.installed-runtime
	$(BIN)/vercel-ai-gateway-exporter --demo

## Lint, formatting, types and the in-process tests: the quick loop (under a minute).
check: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -m "not slow" -q

## Run the whole test suite (installs Prometheus, Alertmanager and npm packages if missing).
test: $(VENV)/.installed system-deps $(DASHBOARD_CHECK)/node_modules/.installed \
		$(SDK_CHECK)/node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

## Benchmarks, each next to a baseline measured in the same run (about 7 minutes; needs wrk).
bench: $(VENV)/.installed system-deps
	$(BIN)/python -m bench

## docs/performance.md's table: the whole set three times, medians and spreads (a quiet
## machine, about 20 minutes); exits 1 when a goal is missed in most runs.
bench-readme: $(VENV)/.installed system-deps
	$(BIN)/python -m bench --runs 3 --strict --update docs/performance.md

## Regenerate the generated parts of docs/ (metrics, options) and the chart's values table.
docs: $(VENV)/.installed
	$(BIN)/python -m tools.docs_reference --write
	$(BIN)/python -m tools.values_table --write

## Regenerate grafana/dashboards/vercel-ai-gateway.json from the grafana.dashboards package.
dashboard: $(VENV)/.installed
	$(BIN)/python -m grafana.dashboards

## Regenerate the values table of the chart's README alone.
chart-docs: $(VENV)/.installed
	$(BIN)/python -m tools.values_table --write

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(DASHBOARD_CHECK)/node_modules $(SDK_CHECK)/node_modules .pytest_cache .mypy_cache .ruff_cache
