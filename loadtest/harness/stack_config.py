"""What the stacks the suite starts are made from: the local demo's files (`deploy/local/`: the
simulated cloud's three regions, the node config, the policies) and the node config each stack
makes of them, the demo's rewired to where the stack put each part (`Wiring`), each run there
(`InPlace`). Shared by the local stack (`loadtest.harness.stack`) and the one over the network
test bed (`loadtest.harness.network_stack`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from loadtest.harness.proxy_settings import REPO_ROOT

DEMO_DIR: Final = REPO_ROOT / "deploy" / "local"
POLICIES_DIR: Final = REPO_ROOT / "policies"
# The demo's key (its hash is in policies/default.yaml) and the tenant it belongs to.
DEMO_KEY: Final = "sk-edge-demo"
DEMO_TENANT: Final = "default"
# The model the demo's edge worker serves (deploy/local/node.yaml, the alias of the same name).
LOCAL_MODEL: Final = "smollm2-135m-instruct"


# An argv turned into the one that runs it where a part lives (`ip netns exec NS ...`).
InPlace = Callable[[Sequence[str]], list[str]]


def as_is(argv: Sequence[str]) -> list[str]:
    """A part that runs in the suite's own namespace: its argv unchanged."""
    return list(argv)


class StackError(RuntimeError):
    """The stack could not start, or a part of it did not do what was asked."""


@dataclass(frozen=True, slots=True)
class Wiring:
    """Where a stack put each part, as the router reaches it, and where the router listens."""

    router_host: str
    router_port: int
    # Each region's API base URL (`http://host:port/v1`), by the region's name.
    region_urls: dict[str, str]
    redis_url: str
    # The edge worker the router spawns listens on its own loopback, on this port.
    edge_worker_port: int


def demo_cloud() -> dict[str, Any]:
    """The demo's simulated cloud (`deploy/local/mock-cloud.yaml`)."""
    return yaml_mapping(DEMO_DIR / "mock-cloud.yaml")


def demo_node() -> dict[str, Any]:
    """The demo's node config (`deploy/local/node.yaml`)."""
    return yaml_mapping(DEMO_DIR / "node.yaml")


def demo_region_names() -> list[str]:
    return [str(region["name"]) for region in demo_cloud()["regions"]]


def node_config(demo: dict[str, Any], wiring: Wiring, policy_dir: Path) -> dict[str, Any]:
    """The demo's node config rewired to a stack: endpoints at its regions and its worker,
    limits in its Redis, the copied policy directory."""
    config = dict(demo)
    config["server"] = {
        **demo.get("server", {}),
        "host": wiring.router_host,
        "port": wiring.router_port,
        # Stopped at the end of a run: what is still in flight is cut after 2 s, not 25.
        "drain_timeout_s": 2,
    }
    endpoints = []
    for endpoint in demo["endpoints"]:
        url = wiring.region_urls.get(endpoint["name"])
        if endpoint.get("locality") == "edge":
            url = f"http://127.0.0.1:{wiring.edge_worker_port}/v1"
        if url is None:
            raise StackError(f"{DEMO_DIR}/node.yaml: endpoint {endpoint['name']!r} is no region")
        endpoints.append({**endpoint, "base_url": url})
    config["endpoints"] = endpoints
    config["limits"] = {"backend": "redis", "redis": {"url": wiring.redis_url}}
    config["edge_worker"] = {**demo.get("edge_worker", {}), "port": wiring.edge_worker_port}
    config["policies"] = {**demo.get("policies", {}), "directory": str(policy_dir)}
    return config


def mock_cloud_argv(config_file: Path) -> list[str]:
    return [sys.executable, "-m", "loadtest.mock_cloud", "--config", str(config_file)]


def yaml_mapping(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise StackError(f"{path}: expected a mapping")
    return data
