# The two commands of the quick start: `make demo` and `make test`.
# Both create (or reuse) a virtualenv in .venv and install what they need.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DASHBOARD_CHECK := tests/dashboard

.PHONY: demo test bench chart-docs lint typecheck system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall when the dependency list changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@

system-deps:
	./scripts/install-system-deps.sh

$(DASHBOARD_CHECK)/node_modules/.installed: $(DASHBOARD_CHECK)/package-lock.json | system-deps
	npm ci --prefix $(DASHBOARD_CHECK) --no-audit --no-fund --silent
	touch $@

## Run the exporter against the bundled simulator: no API key needed.
demo: $(VENV)/.installed
	$(BIN)/vercel-ai-gateway-exporter --demo

## Run the whole test suite (installs Prometheus, Alertmanager and npm packages if missing).
test: $(VENV)/.installed system-deps $(DASHBOARD_CHECK)/node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

## Benchmarks, each next to a baseline measured in the same run (about 3 minutes; needs wrk).
bench: $(VENV)/.installed system-deps
	$(BIN)/python -m bench

## Regenerate the values table of the chart's README from values.yaml.
chart-docs: $(VENV)/.installed
	$(BIN)/python -m tests.chart.values_doc --write

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(DASHBOARD_CHECK)/node_modules .pytest_cache .mypy_cache .ruff_cache
