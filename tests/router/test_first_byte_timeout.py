"""A streamed attempt waits for its first chunk what its (endpoint, model) normally takes, times a
factor, within a floor and the configured ceiling; so a region that starts hanging is left in
seconds instead of after the 60 s first-byte timeout."""

from __future__ import annotations

import asyncio

import pytest

from loadtest.mock_cloud.settings import RegionSettings
from router.config.model import NodeConfig, RoutingSettings
from router.endpoints.estimators import RECENT_MIN_SAMPLES as MIN_SAMPLES
from router.endpoints.first_byte_timeout import first_byte_timeout_s
from router.endpoints.registry import Registry, Target
from tests.fake_clock import FakeClock
from tests.stack import running_stack

ROUTING = RoutingSettings(
    first_byte_timeout_s=60.0, first_byte_timeout_factor=4.0, first_byte_timeout_floor_s=1.0
)


def _targets(*models: str) -> list[Target]:
    """One target per named upstream model, each on its own endpoint."""
    endpoints = [
        {
            "name": f"e{index}",
            "base_url": f"http://e{index}.invalid/v1",
            "region": f"r{index}",
            "models": [{"name": model}],
        }
        for index, model in enumerate(models)
    ]
    config = NodeConfig.model_validate({"auth": {"api_keys": ["sk-t"]}, "endpoints": endpoints})
    registry = Registry(config, FakeClock())
    return [
        Target(endpoint, model, endpoint.models[model], endpoint.model_stats[model])
        for endpoint, model in zip(registry.endpoints.values(), models, strict=True)
    ]


def _measure(target: Target, samples: int, ttft_ms: float) -> Target:
    for _ in range(samples):
        target.stats.begin()
        target.stats.end(ok=True, elapsed_ms=ttft_ms * 2, ttft_ms=ttft_ms, streaming=True)
    return target


def _timeout(target: Target, plan: list[Target], streaming: bool = True) -> float:
    return first_byte_timeout_s(target, plan, 3, streaming, ROUTING)


def test_a_lone_cold_target_gets_the_configured_timeout() -> None:
    (target,) = _targets("m")
    _measure(target, MIN_SAMPLES - 1, 500.0)
    assert _timeout(target, [target]) == 60.0


def test_a_measured_target_gets_a_multiple_of_its_p95_within_floor_and_ceiling() -> None:
    slow, fast, slowest = _targets("a", "b", "c")
    assert _timeout(_measure(slow, MIN_SAMPLES, 500.0), [slow]) == pytest.approx(2.0)
    assert _timeout(_measure(fast, MIN_SAMPLES, 50.0), [fast]) == 1.0  # the floor
    assert _timeout(_measure(slowest, MIN_SAMPLES, 30_000.0), [slowest]) == 60.0


def test_a_json_answer_keeps_the_configured_timeout() -> None:
    (target,) = _targets("m")
    assert _timeout(_measure(target, MIN_SAMPLES, 500.0), [target], streaming=False) == 60.0


def test_a_cold_target_borrows_the_slowest_measured_sibling_of_its_model() -> None:
    cold, quick, slow, other_model = _targets("m", "m", "m", "x")
    _measure(quick, MIN_SAMPLES, 250.0)
    _measure(slow, MIN_SAMPLES, 1000.0)
    _measure(other_model, MIN_SAMPLES, 10_000.0)  # another model's times say nothing of this one
    assert _timeout(cold, [cold, quick, slow, other_model]) == pytest.approx(4.0)
    assert _timeout(cold, [cold, quick]) == pytest.approx(1.0)


def test_with_nothing_measured_a_cold_target_gets_its_share_of_the_ceiling() -> None:
    first, second, third = _targets("m", "m", "m")
    plan = [first, second, third]
    assert _timeout(first, plan) == pytest.approx(20.0)  # three endpoints to try: 60 s in all
    assert _timeout(first, [first, second]) == pytest.approx(30.0)
    # The same endpoint twice is one endpoint to try; at most max_attempts are tried.
    assert _timeout(first, [first, first]) == 60.0
    assert first_byte_timeout_s(first, plan, 2, True, ROUTING) == pytest.approx(30.0)
    # Never below the floor.
    tight = RoutingSettings(first_byte_timeout_s=12.0, first_byte_timeout_floor_s=10.0)
    assert first_byte_timeout_s(first, plan, 3, True, tight) == 10.0


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


@pytest.mark.asyncio
async def test_a_fresh_router_reaches_a_live_region_past_two_silent_ones_within_its_deadline() -> (
    None
):
    """Before, a cold target got the whole ceiling: the first silent region took 4 s of the
    request's 5 s and the second the rest, so the request failed without reaching the live one."""
    regions = (
        RegionSettings(name="us-east", rtt_ms=1.0, ttft_ms=20.0, fault="no_response"),
        RegionSettings(name="ap-south", rtt_ms=2.0, ttft_ms=20.0, fault="no_response"),
        RegionSettings(name="eu-west", rtt_ms=40.0, ttft_ms=20.0),
    )
    overrides = {
        "routing": {
            "first_byte_timeout_s": 4.0,
            "first_byte_timeout_floor_s": 0.5,
            "deadline_s": 5.0,
        },
        "health": {"consecutive_failures": 100},
    }
    async with running_stack(regions=regions, overrides=overrides) as stack:
        client = stack.client(default_headers={"x-router-objective": "latency"})
        response = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = [chunk async for chunk in response.parse()]
        reason = response.headers["x-router-reason"]
        assert "us-east:upstream_timeout" in reason and "ap-south:upstream_timeout" in reason, (
            reason
        )
        assert response.headers["x-router-endpoint"] == "eu-west", response.headers
        assert any(c.choices and c.choices[0].delta.content for c in chunks)
