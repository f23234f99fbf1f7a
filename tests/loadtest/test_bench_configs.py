"""The proxy benchmark's router configs (deploy/bench/) start on a machine whose model store is
empty: `make bench` must not need `make models`. A config that turns on the semantic cache, the
embedder in the router or an edge worker would make the router load a model at start-up and die
with "no manifest"; the benches that measure those write their own configs."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from loadtest.harness.processes import one_router_process
from router.config.loader import load_node_config
from tests.redis_server import free_port

BENCH_CONFIGS = sorted((Path(__file__).resolve().parents[2] / "deploy" / "bench").glob("*.yaml"))
# Only a guard against a router that hangs instead of exiting; start-up takes about a second.
_START_DEADLINE_S = 60.0


def test_there_are_bench_configs() -> None:
    assert BENCH_CONFIGS


@pytest.mark.parametrize("config", BENCH_CONFIGS, ids=lambda path: path.name)
def test_bench_config_asks_for_no_local_model(config: Path) -> None:
    node = load_node_config(config).config
    assert not (node.cache.enabled and node.cache.semantic), "the semantic cache needs the embedder"
    assert not node.edge_worker.embed_in_router
    assert not node.edge_worker.spawn
    assert [e.name for e in node.endpoints if e.locality == "edge"] == []


@pytest.mark.parametrize("config", BENCH_CONFIGS, ids=lambda path: path.name)
def test_router_starts_on_bench_config_with_an_empty_model_store(
    config: Path, tmp_path: Path
) -> None:
    store = tmp_path / "empty-store"
    store.mkdir()
    port = free_port()
    log_path = tmp_path / "router.log"
    command = one_router_process(config)
    with log_path.open("wb") as log:
        router = subprocess.Popen(
            [*command, "--port", str(port)],
            env={**os.environ, "EDGE_WORKER_STORE": str(store)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        status = _healthz_status(f"http://127.0.0.1:{port}/healthz", router)
        assert status == 200, log_path.read_text()
    finally:
        router.terminate()
        router.wait()
    assert list(store.iterdir()) == []


def _healthz_status(url: str, router: subprocess.Popen[bytes]) -> int | None:
    """The status of the first answer to `url`; None when the router exits first."""
    deadline = time.monotonic() + _START_DEADLINE_S
    while time.monotonic() < deadline:
        if router.poll() is not None:
            return None
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            time.sleep(0.05)
    return None
