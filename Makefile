# The two commands: `make run` (set up, then start the router on its embedded default) and
# `make test` (set up, then run the whole test suite: lint, types, tests). `.ci/run` runs `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup system-deps run test lint typecheck unit bench bench-tracing clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Debian packages the tests use: a real redis-server for limits shared between router processes.
# Installed once (as root, or through sudo); tests start their own servers on free ports.
system-deps:
	@command -v redis-server >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends redis-server; \
	}

run: setup
	deploy/local/run.sh

lint: setup
	$(VENV)/bin/ruff check router edge_worker loadtest tests
	$(VENV)/bin/ruff format --check router edge_worker loadtest tests

typecheck: setup
	$(VENV)/bin/mypy

unit: setup system-deps
	$(PY) -m pytest -q

test: lint typecheck unit

# The proxy benchmark of docs/benchmarks.md (about 20 minutes; the machine should be otherwise idle).
# BENCH_CONFIG=deploy/bench/node-policies.yaml measures a tenant with every limit checked.
BENCH_CONFIG ?= deploy/bench/node.yaml
bench: setup
	mkdir -p bench-results
	$(PY) -m loadtest.bench_proxy --router-cmd "$(VENV)/bin/edge-router serve --config $(BENCH_CONFIG)" \
		--out bench-results/proxy-$(notdir $(basename $(BENCH_CONFIG))).json \
		--markdown bench-results/proxy-$(notdir $(basename $(BENCH_CONFIG))).md $(BENCH_ARGS)

# What tracing costs: the same router exporting every span over OTLP/HTTP to a local sink
# (the sink runs on the load core, like a collector elsewhere would).
# TRACING_CONFIG=deploy/bench/node-otlp-sampled.yaml measures one trace in ten.
TRACING_CONFIG ?= deploy/bench/node-otlp.yaml
bench-tracing: setup
	mkdir -p bench-results
	$(PY) -m loadtest.bench_proxy --no-search --router-cmd "sh -c 'taskset -c 1 $(PY) -m loadtest.otlp_sink & exec $(VENV)/bin/edge-router serve --config $(TRACING_CONFIG)'" \
		--out bench-results/tracing-$(notdir $(basename $(TRACING_CONFIG))).json \
		--markdown bench-results/tracing-$(notdir $(basename $(TRACING_CONFIG))).md

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
