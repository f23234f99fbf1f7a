"""The processes of `loadtest/studies/cache_hits.py`: the mock cloud (one region at zero simulated
latency) and the router with the answer cache on, started on free loopback ports from configs
written to the run's temporary directory: a node config (`cache: {enabled: true, semantic:
true}`, otherwise production defaults) and one tenant policy with `cache: {enabled: true}`; and
the tenant's key and model, which the cache studies' requests carry.
"""

from __future__ import annotations

import argparse
import hashlib
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import yaml

from loadtest.harness.processes import Processes, wait_ready
from loadtest.harness.proxy_settings import LOOPBACK

TENANT: Final = "cache-bench"
API_KEY: Final = "sk-cache-bench"
MODEL: Final = "gpt-4o-mini"
# The mock cloud's answer length (its `completion_tokens`): a request does not ask for it with
# `max_tokens`, since an answer cut at that limit (`length`) is never cached.
ANSWER_TOKENS: Final = 128


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def write_configs(
    work: Path,
    ports: Sequence[int],
    store: Path | None,
    tenant_cache: Mapping[str, Any] | None = None,
) -> None:
    """The mock cloud's settings, the router's node config and the tenant's policy (its `cache`
    section `{enabled: true}` and `tenant_cache`), as files."""
    mock_port, control_port, router_port = ports
    # Zero RTT, zero TTFT and unbounded token speed: a miss costs only the simulator's own work.
    region = {
        "name": "bench",
        "port": mock_port,
        "rtt_ms": 0,
        "ttft_ms": 0,
        "tokens_per_s": 0,
        "completion_tokens": ANSWER_TOKENS,
    }
    mock = {"control": {"host": LOOPBACK, "port": control_port}, "record_limit": 0}
    _write_yaml(work / "mock_cloud.yaml", mock | {"regions": [region]})
    # Production defaults otherwise: access log on, tracing off.
    node: dict[str, Any] = {
        "server": {"host": LOOPBACK, "port": router_port},
        "policies": {"directory": str(work / "policies"), "watch": False},
        "cache": {"enabled": True, "semantic": True, "semantic_default": True},
        "endpoints": [
            {
                "name": "sim",
                "base_url": f"http://{LOOPBACK}:{mock_port}/v1",
                "region": "local",
                "max_concurrency": 4096,
                "models": [{"name": MODEL, "input_price_per_mtok": 0.15}],
            }
        ],
    }
    if store is not None:
        node["edge_worker"] = {"store": str(store.resolve())}
    _write_yaml(work / "node.yaml", node)
    key_hash = hashlib.sha256(API_KEY.encode()).hexdigest()
    policy = {
        "tenant": TENANT,
        "api_keys": [f"sha256:{key_hash}"],
        "models": [{"alias": MODEL}],
        "cache": {"enabled": True, **(tenant_cache or {})},
    }
    (work / "policies").mkdir()
    _write_yaml(work / "policies" / f"{TENANT}.yaml", policy)


def _write_yaml(path: Path, document: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def start_stack(
    processes: Processes,
    store: Path | None,
    router_cpu: int | None,
    load_cpu: int | None,
    tenant_cache: Mapping[str, Any] | None = None,
) -> int:
    """Start the mock cloud (on `load_cpu`) and the router (on `router_cpu`), their configs in
    the processes' log directory; the router's port."""
    router_port, _ = start_stack_ports(processes, store, router_cpu, load_cpu, tenant_cache)
    return router_port


def start_stack_ports(
    processes: Processes,
    store: Path | None,
    router_cpu: int | None,
    load_cpu: int | None,
    tenant_cache: Mapping[str, Any] | None = None,
) -> tuple[int, int]:
    """`start_stack`; the router's port and the mock cloud region's (to reach it directly)."""
    work = processes.log_dir
    mock_port, control_port, router_port = free_ports(3)
    write_configs(work, (mock_port, control_port, router_port), store, tenant_cache)
    node = work / "node.yaml"
    python = sys.executable
    mock_argv = [python, "-m", "loadtest.mock_cloud", "--config", str(work / "mock_cloud.yaml")]
    mock = processes.start("mock_cloud", mock_argv, load_cpu)
    wait_ready(processes, "mock_cloud", mock, f"http://{LOOPBACK}:{mock_port}/v1/models", 30.0)
    router_argv = [
        str(Path(python).parent / "edge-router"),
        "serve",
        "--workers",
        "1",
        "--config",
        str(node),
    ]
    router = processes.start("router", router_argv, router_cpu)
    wait_ready(processes, "router", router, f"http://{LOOPBACK}:{router_port}/v1/models", 120.0)
    return router_port, mock_port


def positive_ints(text: str) -> tuple[int, ...]:
    """A command-line list of positive integers, comma-separated (rates, concurrencies)."""
    values = tuple(int(part) for part in text.split(",") if part.strip())
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("expected positive integers, comma-separated")
    return values


def add_semantic_embedder(parser: argparse.ArgumentParser, help_text: str) -> None:
    """`--semantic-embedder`: the benchmark tenant's `cache.semantic_embedder`."""
    parser.add_argument(
        "--semantic-embedder",
        choices=("transformer", "static"),
        default="transformer",
        help=help_text,
    )
