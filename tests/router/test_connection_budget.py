"""An endpoint's concurrency, unset, is sized from the node config and the machine: the process's
client-connection budget (`server.max_connections`, or half the open-file limit left after the
descriptors the process keeps for its own files)."""

from __future__ import annotations

import resource
from typing import Any

import pytest

from router.clock import MonotonicClock
from router.config.model import NodeConfig
from router.connection_budget import RESERVED_DESCRIPTORS, default_max_connections
from router.endpoints.registry import Registry


def _config(server: dict[str, Any], **endpoint: Any) -> NodeConfig:
    return NodeConfig.model_validate(
        {
            "server": server,
            "auth": {"api_keys": ["sk-test"]},
            "endpoints": [
                {
                    "name": "east",
                    "base_url": "http://127.0.0.1:9/v1",
                    "region": "us-east",
                    "models": [{"name": "gpt-4o-mini"}],
                    **endpoint,
                }
            ],
        }
    )


def _concurrency(config: NodeConfig) -> int:
    return Registry(config, MonotonicClock()).endpoints["east"].max_concurrency


def test_unset_it_is_half_the_open_file_limit_left_after_the_reserve() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    expected = (
        65_536 if soft == resource.RLIM_INFINITY else max(1, (soft - RESERVED_DESCRIPTORS) // 2)
    )
    assert default_max_connections() == expected
    assert _concurrency(_config({})) == expected


def test_unset_it_follows_the_node_configs_connection_cap() -> None:
    assert _concurrency(_config({"max_connections": 3000})) == 3000


def test_set_it_is_kept_as_the_operator_wrote_it() -> None:
    assert _concurrency(_config({"max_connections": 3000}, max_concurrency=40)) == 40


@pytest.mark.parametrize("value", [0, -1])
def test_a_non_positive_value_is_refused(value: int) -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        _config({}, max_concurrency=value)
