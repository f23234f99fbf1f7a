"""A streamed attempt waits for its first chunk what its (endpoint, model) normally takes, times a
factor, within a floor and the configured ceiling; so a region that starts hanging is left in
seconds instead of after the 60 s first-byte timeout."""

from __future__ import annotations

import asyncio

import pytest

from loadtest.mock_cloud.settings import RegionSettings
from router.config.model import EstimatorSettings, RoutingSettings
from router.endpoints.estimators import RECENT_MIN_SAMPLES as MIN_SAMPLES
from router.endpoints.estimators import EndpointModelStats
from router.endpoints.first_byte_timeout import first_byte_timeout_s
from tests.fake_clock import FakeClock
from tests.stack import running_stack

ROUTING = RoutingSettings(
    first_byte_timeout_s=60.0, first_byte_timeout_factor=4.0, first_byte_timeout_floor_s=1.0
)


def _stats(samples: int, ttft_ms: float) -> EndpointModelStats:
    stats = EndpointModelStats(EstimatorSettings(), FakeClock())
    for _ in range(samples):
        stats.begin()
        stats.end(ok=True, elapsed_ms=ttft_ms * 2, ttft_ms=ttft_ms, streaming=True)
    return stats


def test_a_cold_target_gets_the_configured_timeout() -> None:
    assert first_byte_timeout_s(_stats(MIN_SAMPLES - 1, 500.0), True, ROUTING) == 60.0


def test_a_measured_target_gets_a_multiple_of_its_p95_within_floor_and_ceiling() -> None:
    assert first_byte_timeout_s(_stats(MIN_SAMPLES, 500.0), True, ROUTING) == pytest.approx(2.0)
    assert first_byte_timeout_s(_stats(MIN_SAMPLES, 50.0), True, ROUTING) == 1.0  # the floor
    assert first_byte_timeout_s(_stats(MIN_SAMPLES, 30_000.0), True, ROUTING) == 60.0


def test_a_json_answer_keeps_the_configured_timeout() -> None:
    assert first_byte_timeout_s(_stats(MIN_SAMPLES, 500.0), False, ROUTING) == 60.0


@pytest.mark.asyncio
async def test_a_region_that_starts_hanging_is_left_after_the_derived_timeout() -> None:
    regions = (
        RegionSettings(name="us-east", rtt_ms=1.0, ttft_ms=20.0),
        RegionSettings(name="eu-west", rtt_ms=30.0, ttft_ms=20.0),
    )
    overrides = {
        "routing": {
            "first_byte_timeout_s": 30.0,
            "first_byte_timeout_floor_s": 0.5,
            "deadline_s": 60.0,
        },
        "health": {"consecutive_failures": 100},
    }
    async with running_stack(regions=regions, overrides=overrides) as stack:
        client = stack.client(default_headers={"x-router-objective": "latency"})

        async def stream() -> str:
            response = await client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            async for _chunk in response.parse():
                pass
            return response.headers["x-router-reason"]

        for _ in range(MIN_SAMPLES + 5):
            await stream()
        await stack.control("us-east", ttft_ms=120_000.0)  # hangs before its first chunk
        reason = await asyncio.wait_for(stream(), 15.0)
        assert "failover_after=us-east:upstream_timeout" in reason, reason
