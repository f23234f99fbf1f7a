# The two commands: `make run` (set up, then start the router on its embedded default) and
# `make test` (set up, then run the whole test suite: lint, types, tests). `.ci/run` runs `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

# The first target is the default: `make` alone lists the targets, as `make help` does.
help: ## list the targets and what each does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: help setup system-deps image-deps prepare-env prepare models run test lint typecheck unit bench bench-tracing bench-affinity bench-faults clean dashboards image image-test

# The router with its dev tools, and the load-test suite (its own distribution, loadtest/), both
# editable: `make run` starts the suite's simulated cloud, and the tests and studies use both.
$(STAMP): pyproject.toml loadtest/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' -e ./loadtest
	touch $(STAMP)

setup: $(STAMP) ## the serving virtualenv .venv (the router and the load-test suite, editable, with dev tools)

# Debian packages the tests use: a real redis-server for limits shared between router processes.
# Installed once (as root, or through sudo); tests start their own servers on free ports.
system-deps: ## Debian's redis-server, prometheus (with promtool) and chromium for the tests (apt-get, as root or through sudo)
	@{ command -v redis-server && command -v prometheus && command -v promtool && command -v chromium; } >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
			redis-server prometheus chromium; \
	}

# What `make image` builds with: podman (with its recommended helpers, as tested here: buildah,
# uidmap, the network plugins its build steps use), runc and mmdebstrap for the Debian bases.
image-deps: ## Debian's podman, runc and mmdebstrap for make image (apt-get, as root or through sudo)
	@{ command -v podman && command -v runc && command -v mmdebstrap; } >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
			podman buildah mmdebstrap crun runc uidmap; \
	}

# The Grafana dashboard and the alerting rules are code (router/telemetry/grafana.py, alerts.py);
# the committed files are what it writes, and a test fails when they drift.
dashboards: setup ## write deploy/grafana/edge-router.json and deploy/prometheus/alerts.yml from code
	$(PY) -m router.telemetry.grafana > deploy/grafana/edge-router.json
	$(PY) -m router.telemetry.alerts > deploy/prometheus/alerts.yml

# The preparation environment: torch, transformers and the onnxruntime-genai model builder, used
# only by `edge-worker prepare` (as a subprocess); the serving environment never imports them.
# The recipe and its pins live in the package (edge_worker/prepare_env.py and
# edge_worker/prepare_requirements/), so that an installed package builds it the same way;
# `edge-worker prepare` builds it too when it is missing. 1 to 1.5 minutes here (1.5 GB).
# The command writes the stamp (a hash of the pins) and does nothing when they have not changed;
# the touch tells make so when only a pin file's time changed.
PREPARE_VENV := .venv-prepare
PREPARE_STAMP := $(PREPARE_VENV)/.installed-stamp
PREPARE_PINS := $(wildcard edge_worker/prepare_requirements/*.txt)

$(PREPARE_STAMP): $(PREPARE_PINS) edge_worker/prepare_env.py | $(STAMP)
	$(VENV)/bin/edge-worker prepare-env --path $(PREPARE_VENV)
	touch $(PREPARE_STAMP)

prepare-env: $(PREPARE_STAMP) ## the preparation environment .venv-prepare (torch, transformers; 1.5 GB)

# Build the local models into the model store (default ~/.cache/edge-router/models, or
# EDGE_WORKER_STORE); does nothing when the store is complete and verified. The default builds
# only what is served; PREPARE_ARGS='--precision int4-kquant-mixed,fp32' adds the fp32 reference.
prepare: setup prepare-env ## build the local models into the model store (PREPARE_ARGS for more)
	$(VENV)/bin/edge-worker prepare $(PREPARE_ARGS)

# What `run` and `unit` need: the models, prepared when the store is empty or broken. A complete
# store costs a hash check of its files (about 2 s) and no preparation environment.
models: setup ## the local models, prepared only when the store lacks one or a file is wrong
	@$(VENV)/bin/edge-worker prepare --check >/dev/null 2>&1 || $(MAKE) --no-print-directory prepare

run: setup models ## set up, then start the simulated cloud and the router on http://127.0.0.1:8080
	deploy/local/run.sh

lint: setup ## ruff check and ruff format --check
	$(VENV)/bin/ruff check router edge_worker loadtest tests
	$(VENV)/bin/ruff format --check router edge_worker loadtest tests

typecheck: setup ## mypy --strict on router/ and edge_worker/
	$(VENV)/bin/mypy

# The network test bed (tests/network/, tests/loadtest/test_network_scenarios.py) creates network
# namespaces and TUN devices, which takes root: as another user, pytest runs through sudo (as
# system-deps does apt-get), keeping the environment, so that the model store is the user's.
unit: setup system-deps models ## pytest (the models are prepared first when the store is empty; as root, or through sudo)
	if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo --preserve-env"; fi; \
		$$SUDO $(PY) -m pytest -q

test: lint typecheck unit image-test ## set up, then the whole suite: lint, types, tests, the container image (what .ci/run runs)

# The container image (deploy/container/, docs/deploy.md#the-container-image), built with podman
# from Debian bases that deploy/container/base.sh makes with mmdebstrap (no registry). WHEELS is a
# wheel directory the preparation stage's pip looks in first (the CPU torch; /opt/wheels when it
# exists); CA_BUNDLE is the trust store pip uses while building (a secret mount, in no layer).
# --format docker: the OCI format has no HEALTHCHECK. A warm build reuses every unchanged layer.
# PODMAN_RUNTIME: runc, since crun fails on this machine's hybrid cgroups; any OCI runtime elsewhere.
IMAGE ?= edge-inference-router:0.1.0
PODMAN_RUNTIME ?= runc
comma := ,
WHEELS ?= $(wildcard /opt/wheels)
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
image: image-deps ## build the container image edge-inference-router:0.1.0 with podman (WHEELS=dir for torch; prints time and size)
	@start=$$(date +%s); deploy/container/base.sh && \
	podman build --runtime $(PODMAN_RUNTIME) --pull=never --format docker --layers \
		--file deploy/container/Containerfile --tag $(IMAGE) \
		$(if $(wildcard $(CA_BUNDLE)),--secret id=pip-ca$(comma)src=$(CA_BUNDLE)) \
		$(if $(WHEELS),--volume $(abspath $(WHEELS)):/wheels:ro) . && \
	echo "built $(IMAGE) in $$(( $$(date +%s) - start )) s; image size $$(podman image inspect --format '{{.Size}}' $(IMAGE) | numfmt --to=si)B"

# The image against the simulated cloud (deploy/container/image_test.py): chat, stream and
# embeddings through it with the openai client, /readyz, SIGTERM mid-stream; host network, a
# read-only root and /tmp as the one writable place, as in deploy/kubernetes/.
image-test: setup image ## run the image against the simulated cloud: requests, /readyz, SIGTERM mid-stream
	$(PY) deploy/container/image_test.py --image $(IMAGE) --runtime $(PODMAN_RUNTIME)

# The proxy benchmark of docs/benchmarks.md (about 20 minutes; the machine should be otherwise idle).
# BENCH_CONFIG=deploy/bench/node-policies.yaml measures a tenant with every limit checked.
BENCH_CONFIG ?= deploy/bench/node.yaml
bench: setup ## the proxy benchmark of docs/benchmarks.md (about 20 minutes, idle machine)
	mkdir -p bench-results
	$(PY) -m loadtest.harness.proxy_bench --router-cmd "$(VENV)/bin/edge-router serve --workers 1 --config $(BENCH_CONFIG)" \
		--out bench-results/proxy-$(notdir $(basename $(BENCH_CONFIG))).json \
		--markdown bench-results/proxy-$(notdir $(basename $(BENCH_CONFIG))).md $(BENCH_ARGS)

# What tracing costs: the same router exporting every span over OTLP/HTTP to a local sink
# (the sink runs on the load core, like a collector elsewhere would).
# TRACING_CONFIG=deploy/bench/node-otlp-sampled.yaml measures one trace in ten.
TRACING_CONFIG ?= deploy/bench/node-otlp.yaml
bench-tracing: setup ## what exporting every span costs (about 5 minutes)
	mkdir -p bench-results
	$(PY) -m loadtest.harness.proxy_bench --no-search --router-cmd "sh -c 'taskset -c 1 $(PY) -m loadtest.studies.otlp_sink & exec $(VENV)/bin/edge-router serve --workers 1 --config $(TRACING_CONFIG)'" \
		--out bench-results/tracing-$(notdir $(basename $(TRACING_CONFIG))).json \
		--markdown bench-results/tracing-$(notdir $(basename $(TRACING_CONFIG))).md

# Conversations that stay put (issue 18, docs/benchmarks.md): the same 200 ten-turn conversations
# through the router with routing.affinity off, then on, against three simulated regions with
# prompt caches: cached share of input, cost, TTFT, region changes. AFFINITY_ARGS adds options
# (e.g. --doc docs/benchmarks.md to write the section's table).
bench-affinity: setup ## affinity off and on: prompt-cache hits, cost and TTFT (about 2.5 minutes)
	mkdir -p bench-results
	$(PY) -m loadtest.studies.affinity --conversations 200 --turns 10 \
		--out bench-results/affinity.json --markdown bench-results/affinity.md $(AFFINITY_ARGS)

# The router's scorecard under the public fault catalogue (issue 19, docs/benchmarks.md): every
# fault scenario of the load-test suite against the router and the local demo's simulated cloud.
# PEER=litellm or PEER=portkey scores that peer instead, measured the same way (`make peers` first).
PEER ?= router
bench-faults: setup ## the fault scenarios' scorecard: pass, partial, safe or fail (about 7 minutes; PEER=litellm|portkey)
	PEER=$(PEER) deploy/bench/faults.sh

# The peers of issue 19, each in its own environment, never in .venv: the LiteLLM proxy from PyPI
# in .venv-peers/litellm, Portkey's gateway from npm in .peers/portkey, both pinned in
# deploy/bench/peers/ (where their configs are). Each is installed once, stamped like .venv, and
# again only when its pins change; a `*` .gitignore in each folder keeps them out of git.
PEERS_LITELLM := .venv-peers/litellm
PEERS_LITELLM_STAMP := $(PEERS_LITELLM)/.installed-stamp
PEERS_PORTKEY := .peers/portkey
PEERS_PORTKEY_STAMP := $(PEERS_PORTKEY)/.installed-stamp
.PHONY: peers bench-peers

$(PEERS_LITELLM_STAMP): deploy/bench/peers/litellm-requirements.txt
	$(PYTHON) -m venv $(PEERS_LITELLM)
	echo '*' > .venv-peers/.gitignore
	$(PEERS_LITELLM)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS_LITELLM)/bin/python -m pip install --quiet -r deploy/bench/peers/litellm-requirements.txt
	touch $@

# --ignore-scripts: the package's one install script runs patch-package, and the published
# package has no patches to apply; the gateway runs from its prebuilt bundle, build/start-server.js.
$(PEERS_PORTKEY_STAMP): deploy/bench/peers/portkey/package.json deploy/bench/peers/portkey/package-lock.json
	mkdir -p $(PEERS_PORTKEY)
	echo '*' > .peers/.gitignore
	cp deploy/bench/peers/portkey/package.json deploy/bench/peers/portkey/package-lock.json $(PEERS_PORTKEY)/
	cd $(PEERS_PORTKEY) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

peers: $(PEERS_LITELLM_STAMP) $(PEERS_PORTKEY_STAMP) ## the peers in their own environments: LiteLLM proxy (.venv-peers), Portkey gateway (.peers)

# The peers side by side (issue 19, docs/benchmarks.md): loadtest/scenarios/peers.yaml against
# direct, the bare proxy, the router and both peers, each started fresh and pinned to core 0 (the
# simulated cloud and the load generator on core 1), phases interleaved across targets.
# PEERS_TARGETS narrows the line-up; the JSON lines go to bench-results/peers.jsonl.
PEERS_TARGETS ?= direct,bare,router,litellm,portkey
bench-peers: setup peers ## direct, bare proxy, router, LiteLLM and Portkey side by side (about 8 minutes)
	mkdir -p bench-results
	$(PY) -m loadtest run peers --start $(PEERS_TARGETS) --router-config deploy/bench/node-faults.yaml \
		--core 0 --out bench-results/peers.jsonl
	$(PY) -m loadtest compare bench-results/peers.jsonl | tee bench-results/peers.md

# The independent privacy evaluation of issue 14 (loadtest/studies/privacy_eval/README.md), in its own
# environment so that Faker, cryptography, Presidio (with spaCy, but no spaCy model) and
# detect-secrets stay out of .venv. `privacy-eval` generates the data only when it is missing.
EVAL_VENV := .venv-eval
EVAL_STAMP := $(EVAL_VENV)/.installed-stamp
EVAL_DATA := loadtest/studies/privacy_eval/data
.PHONY: eval-env privacy-eval

$(EVAL_STAMP): loadtest/studies/privacy_eval/requirements-eval.txt pyproject.toml
	$(PYTHON) -m venv $(EVAL_VENV)
	$(EVAL_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(EVAL_VENV)/bin/python -m pip install --quiet -e . -r loadtest/studies/privacy_eval/requirements-eval.txt
	touch $(EVAL_STAMP)

eval-env: $(EVAL_STAMP) ## the evaluation virtualenv .venv-eval (Faker, cryptography, Presidio, detect-secrets)

privacy-eval: eval-env ## score the router's detectors, Presidio and detect-secrets on the evaluation's test part
	test -f $(EVAL_DATA)/test.jsonl || $(EVAL_VENV)/bin/python -m loadtest.studies.privacy_eval.generate --out $(EVAL_DATA)
	$(EVAL_VENV)/bin/python -m loadtest.studies.privacy_eval.score --part test --detector router
	$(EVAL_VENV)/bin/python -m loadtest.studies.privacy_eval.score --part test --detector presidio
	$(EVAL_VENV)/bin/python -m loadtest.studies.privacy_eval.score --part test --detector detect-secrets

clean: ## remove the virtualenvs and tool caches (the model store stays)
	rm -rf $(VENV) $(PREPARE_VENV) $(EVAL_VENV) .mypy_cache .pytest_cache .ruff_cache
