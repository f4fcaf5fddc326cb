# byoc developer commands. `make demo` and `make test` work on a fresh machine (Python 3.11, Node 20).
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
AZURITE_DIR := .run/azurite
AZURITE_PID := .run/azurite.pid

.PHONY: help venv node checkov-venv azurite azurite-stop demo test lint typecheck unit bench clean

help:
	@echo "make demo   - run the main job on the local sandbox (installs what it needs)"
	@echo "make test   - ruff, import layers, mypy --strict byoc, pytest (installs what it needs)"
	@echo "make bench  - print the benchmark figures"

$(BIN)/python:
	@command -v $(PY) >/dev/null || { echo "need $(PY) (Python 3.11)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt requirements.in requirements-cli.txt requirements-test.txt requirements-dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps --config-settings editable_mode=compat -e .
	touch $@

venv: $(VENV)/.deps

$(CHECKOV_VENV)/.deps: requirements-checkov.txt
	$(PY) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

checkov-venv: $(CHECKOV_VENV)/.deps

node_modules/.bin/azurite: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

node: node_modules/.bin/azurite

# Azurite on its default ports (10000-10002), in memory; left running for later commands.
azurite: node
	@mkdir -p .run
	@if [ -f $(AZURITE_PID) ] && kill -0 $$(cat $(AZURITE_PID)) 2>/dev/null; then \
	  echo "Azurite already running (pid $$(cat $(AZURITE_PID)))"; \
	else \
	  node_modules/.bin/azurite --silent --skipApiVersionCheck --disableTelemetry --inMemoryPersistence \
	    --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 > .run/azurite.log 2>&1 & \
	  echo $$! > $(AZURITE_PID); \
	  for i in $$(seq 1 100); do (echo > /dev/tcp/127.0.0.1/10001) 2>/dev/null && break; sleep 0.2; done; \
	  echo "Azurite started (pid $$(cat $(AZURITE_PID)))"; \
	fi

azurite-stop:
	@if [ -f $(AZURITE_PID) ]; then kill $$(cat $(AZURITE_PID)) 2>/dev/null || true; rm -f $(AZURITE_PID); fi

demo: venv azurite
	$(BIN)/byoc demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy --strict byoc

unit: venv
	$(BIN)/python -m pytest tests/unit -q

test: venv node checkov-venv lint typecheck
	CHECKOV=$(CHECKOV_VENV)/bin/checkov $(BIN)/python -m pytest -q

# Quick variants (about 5 minutes in all); docs/performance.md has the full commands and figures.
# Each benchmark prints figures, then one JSON object as its last line.
BENCH_QUICK := \
	"cold_start.py --runs 3" \
	"compress.py" \
	"api_economy.py --numbers 1000 --layout contiguous --baseline-sample 5" \
	"plan_scale.py --runs 1" \
	"sbc_verify.py --runs 1" \
	"nsg_exposure.py --runs 3" \
	"throughput.py --numbers 1000 --time-scale 0.25 --no-baseline" \
	"marginal_cost.py --contiguous 1000 --scattered 1000" \
	"webhook_latency.py -n 200" \
	"time_to_routable.py -n 5 --poll-n 4 --poll-spread-s 30" \
	"rotation_outage.py --rotations 1 --step-retry-s 0.5"

bench: venv node
	@for b in $(BENCH_QUICK); do echo "== benchmarks/$$b"; $(BIN)/python benchmarks/$$b || exit 1; done

clean: azurite-stop
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .run .mypy_cache .ruff_cache .pytest_cache
