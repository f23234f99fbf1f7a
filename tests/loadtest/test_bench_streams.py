"""The stream-capacity benchmark's configs and arithmetic, and its client processes (the
generator's `stream_holders`) holding the benchmark's own streams from a mock region configured
as the benchmark configures it, on loopback; the benchmark itself runs from the command line,
never here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
import pytest_asyncio

from loadtest.generator.held_streams import HeldSample
from loadtest.generator.stream_holders import StreamHolders, split
from loadtest.mock_cloud import MockCloud
from loadtest.mock_cloud.settings import cloud_settings_from_mapping
from loadtest.studies.streams import (
    API_KEY,
    MODEL,
    held_without_errors,
    holder_settings,
    kib_per_stream,
    listen_overflows,
    merge_samples,
    mock_config,
    node_config,
    parse_steps,
    percentile,
    stream_request,
    table_row,
)
from router.config.model import NodeConfig


def test_mock_config_is_valid_and_sends_one_chunk_per_interval() -> None:
    settings = cloud_settings_from_mapping(mock_config("region-0", 9101, 9100, 2.0))
    region = settings.regions[0]
    assert (region.port, region.ttft_ms, region.tokens_per_s) == (9101, 0, 0.5)
    assert region.completion_tokens * 2.0 > 3600  # no stream ends within an hour
    assert settings.record_limit == 0


def test_node_config_leaves_the_connection_limits_to_the_router_with_nothing_on_the_side() -> None:
    node = NodeConfig.model_validate(node_config(8080, [9101, 9102], 10_000))
    assert node.server.max_connections is None
    assert not node.server.access_log
    assert not node.cache.enabled and not node.cache.semantic
    assert not node.edge_worker.spawn and not node.edge_worker.embed_in_router
    assert [e.max_concurrency for e in node.endpoints] == [None, None]
    assert node.routing.capacity_queue == 10_000
    assert [str(e.base_url) for e in node.endpoints] == [
        "http://127.0.0.1:9101/v1",
        "http://127.0.0.1:9102/v1",
    ]
    assert node.routing.deadline_s > 3600
    assert node.auth.api_keys == [API_KEY]
    assert node.routing.connect_timeout_s == 2.0  # the router's own default unless asked


def test_node_config_passes_a_connect_timeout_on() -> None:
    node = NodeConfig.model_validate(node_config(8080, [9101], 100, connect_timeout_s=10.0))
    assert node.routing.connect_timeout_s == 10.0


def test_stream_request_is_a_streamed_chat_completion_of_the_benchmarks_model() -> None:
    request = stream_request("http://127.0.0.1:8080")
    assert request.url == "http://127.0.0.1:8080/v1/chat/completions"
    body = orjson.loads(request.body)
    assert body["stream"] is True and body["model"] == MODEL


def test_holder_sessions_have_room_for_every_stream_and_outlast_the_run() -> None:
    settings = holder_settings(10_000)
    assert settings.api_key == API_KEY
    assert settings.max_connections == 10_000
    assert settings.request_timeout_s > 3600


def test_steps_are_increasing_and_end_at_the_target() -> None:
    assert parse_steps(None, 10_000) == [1000, 5000, 10_000]
    assert parse_steps("5000,1000,20000", 8000) == [1000, 5000, 8000]
    assert parse_steps(None, 300) == [300]


def test_split_shares_differ_by_at_most_one() -> None:
    assert split(10, 3) == [4, 3, 3]
    assert sum(split(9_999, 4)) == 9_999


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.99) == 0.0


def test_kib_per_stream_is_growth_over_streams_added() -> None:
    assert kib_per_stream(110 * 1024**2 + 32 * 1024 * 1000, 110 * 1024**2, 1000, 0) == 32.0
    assert kib_per_stream(2048 * 1024, 1024 * 1024, 2000, 1000) == pytest.approx(1.024)
    assert kib_per_stream(1, 1, 10, 10) == 0.0


def test_merge_samples_separates_refusals_from_errors() -> None:
    merged = merge_samples(
        [
            HeldSample({"streaming": 10, "refused (503)": 2}, 9, {}),
            HeldSample({"streaming": 5, "status 502": 1}, 5, {"status 502": "no"}),
        ]
    )
    assert (merged["streaming"], merged["receiving"], merged["refused"]) == (15, 14, 2)
    assert merged["errors"] == {"status 502": 1}


def test_listen_overflows_reads_the_tcpext_row() -> None:
    netstat = (
        "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n"
        "TcpExt: 0 33 33\n"
        "IpExt: InNoRoutes\nIpExt: 0\n"
    )
    assert listen_overflows(netstat) == 33
    assert listen_overflows("") == 0


@pytest_asyncio.fixture
async def region() -> AsyncIterator[MockCloud]:
    """The benchmark's mock region (ports taken from the system), an event every 20 ms."""
    settings = cloud_settings_from_mapping(mock_config("region-0", 0, 0, 0.02))
    async with MockCloud(settings, seed=0) as cloud:
        yield cloud


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll until `check` holds; the bound only turns a hang into a failure."""
    for _ in range(500):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting until {what}")


@pytest.mark.asyncio
async def test_client_processes_hold_the_benchmarks_streams_and_count_those_receiving(
    region: MockCloud,
) -> None:
    upstream = region.regions["region-0"]
    root = upstream.base_url.removesuffix("/v1")
    holders = StreamHolders(2, holder_settings(10), stream_request(root))
    try:
        ramp_s = await holders.open(7, 2, 10.0)
        assert ramp_s > 0
        assert len(holders.processes) == 2 and all(p.is_alive() for p in holders.processes)
        assert upstream.stats.in_flight == 7
        opened = merge_samples(await holders.sample())
        assert (opened["streaming"], opened["receiving"], opened["refused"]) == (7, 0, 0)
        assert opened["errors"] == {}
        # Split 4 and 3: each process holds its own share.
        assert sorted(sum(s.outcomes.values()) for s in await holders.sample()) == [3, 4]
        await holders.mark()

        async def all_receiving() -> bool:
            return bool(merge_samples(await holders.sample())["receiving"] == 7)

        await until(all_receiving, "every stream received after the mark")
        await holders.close()

        async def all_closed() -> bool:
            return upstream.stats.in_flight == 0

        await until(all_closed, "the mock saw every stream close")
        assert upstream.stats.cancelled == 7
    finally:
        holders.stop()
    assert not any(p.is_alive() for p in holders.processes)


def _step(**changes: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "streams": 1000,
        "receiving": 1000,
        "refused": 0,
        "errors": {},
        "error_bodies": {},
        "healthz_failures": 0,
        "healthz_p50_ms": 1.0,
        "healthz_p99_ms": 5.0,
        "healthz_max_ms": 9.0,
        "polls": 800,
        "rss_bytes": 142 * 1024**2,
        "fds": 2019,
        "peak_fds": 2020,
        "router_cpu_pct": 10.0,
        "mock_cpu_pct": 5.0,
        "client_cpu_pct": 2.0,
        "ramp_s": 1.0,
        "listen_overflows": 0,
        "ramp_healthz_max_ms": 20.0,
    }
    return step | changes


def test_a_step_is_held_only_without_any_error_or_a_late_probe() -> None:
    assert held_without_errors(_step())
    assert not held_without_errors(_step(receiving=999))
    assert not held_without_errors(_step(refused=1))
    assert not held_without_errors(_step(errors={"status 502": 1}))
    assert not held_without_errors(_step(healthz_failures=1))
    assert not held_without_errors(_step(healthz_max_ms=1500.0))


def test_table_row_shows_growth_per_stream() -> None:
    idle = {"rss_bytes": 110 * 1024**2, "fds": 19}
    row = table_row(_step(), idle, None)
    assert row.startswith("| 1000 | 1000 | 0 | 0 | 142 | 32.8 | – | 2019 (2020) | 800 (0) |")
    assert row.endswith("| 1.0 / 20 / 0 |")
    later = table_row(_step(streams=5000, rss_bytes=262 * 1024**2), idle, _step())
    assert "| 31.1 | 30.7 |" in later
