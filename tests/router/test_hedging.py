"""Hedged requests on the real stack: after the pick's p95 first-byte time a second attempt starts
on the next endpoint, the first to answer wins and the other's upstream connection is closed.

The regions are loopback servers (us-east 2 ms away, eu-west 50 ms, ap-south 100 ms); tenants
route by latency, so us-east is the pick and eu-west the next endpoint, by margins that a scheduling
hiccup on a busy test machine does not overturn. "Slow" is us-east taking a second to its first
byte, fifteen times eu-west's whole answer: no assertion rests on a race that close.

The race's rules (when a hedge starts, when it does not, a hedge that fails) are tested exactly,
on scripted upstreams and a fake clock, in `test_forward_scripted.py`; these keep what only the
real stack shows: the answer through the client, and upstream connections closed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from loadtest.mock_cloud.settings import RegionSettings
from tests.stack import Stack, running_stack
from tests.tenant_policies import write_policies

REGIONS = (
    RegionSettings(name="us-east", rtt_ms=2.0),
    RegionSettings(name="eu-west", rtt_ms=50.0),
    RegionSettings(name="ap-south", rtt_ms=100.0),
)

CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 4,
}
SLOW_TTFT_MS = 1000.0
ROUTING = "models:\n  - alias: gpt-4o-mini\nrouting:\n  objective: latency\n"
HEDGING = ROUTING + "  hedging: {enabled: true, max_extra_cost_share: 0.5}\n"


def _key(tenant: str) -> str:
    return f"sk-{tenant}"


def _overrides(directory: Path, **bodies: str) -> dict[str, Any]:
    write_policies(directory, bodies, explain=True)
    return {
        "policies": {"directory": str(directory), "watch": False},
        # The slow answer must not time out: whoever waits for it gets it.
        "routing": {"first_byte_timeout_s": 10, "deadline_s": 20},
    }


async def _us_east_model(stack: Stack) -> dict[str, Any]:
    view = await stack.admin_endpoints()
    (us_east,) = [e for e in view["endpoints"] if e["name"] == "us-east"]
    model: dict[str, Any] = us_east["models"]["gpt-4o-mini"]
    return model


async def _ask(stack: Stack, tenant: str, stream: bool) -> tuple[str, str]:
    """One request in full: the endpoint that answered and the reason."""
    client = stack.client(api_key=_key(tenant))
    raw = await client.chat.completions.with_raw_response.create(**CHAT, stream=stream)
    if stream:
        chunks = [chunk async for chunk in raw.parse()]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        assert raw.parse().choices[0].message.content
    return raw.headers["x-router-endpoint"], raw.headers["x-router-reason"]


async def _probed(stack: Stack) -> bool:
    """Every region's RTT measured, so none is predicted optimistically as never seen."""
    view = await stack.admin_endpoints()
    rtt_ms = {e["name"]: e["rtt"]["value_ms"] for e in view["endpoints"]}
    return None not in rtt_ms.values() and rtt_ms["ap-south"] > rtt_ms["eu-west"] > 25.0


async def _warm_up(stack: Stack, tenant: str, stream: bool) -> None:
    """Normal traffic until us-east's p95 window holds enough first bytes to hedge on."""
    await _wait_until(lambda: _probed(stack))
    window = "ttft_samples" if stream else "latency_samples"
    for _ in range(200):
        if (await _us_east_model(stack))["p95"][window] >= 20:
            return
        await _ask(stack, tenant, stream)
    raise AssertionError("us-east never collected 20 first-byte samples")


async def _wait_until(predicate: Callable[[], Awaitable[bool]]) -> None:
    """Poll with a bound; the bound is a safety net, not a speed assertion."""
    deadline = time.monotonic() + 5.0
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def _wait_until_cancelled(stack: Stack, region: str, count: int) -> None:
    """Until the simulator has seen `count` requests in `region` end with their client gone."""

    async def cancelled() -> bool:
        stats = await stack.region_stats(region)
        return bool(stats["cancelled"] == count and stats["in_flight"] == 0)

    await _wait_until(cancelled)


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
async def test_a_hedging_tenant_gets_the_next_endpoints_answer_and_the_slow_one_is_closed(
    tmp_path: Path, stream: bool
) -> None:
    overrides = _overrides(tmp_path, hedger=HEDGING, patient=ROUTING)
    async with running_stack(REGIONS, overrides=overrides) as stack:
        await _warm_up(stack, "hedger", stream)
        window = "ttft_samples" if stream else "latency_samples"
        before = await _us_east_model(stack)
        assert before["p95"]["ttft_ms" if stream else "latency_ms"] is not None
        await stack.control("us-east", ttft_ms=SLOW_TTFT_MS)
        stack.spans.clear()

        endpoint, reason = await _ask(stack, "hedger", stream)
        assert endpoint == "eu-west"
        assert "; hedged_after=" in reason
        assert "ms:eu-west; hedge_cancelled=us-east" in reason
        assert "failover_after" not in reason
        # The simulator saw the slow request's connection close before it answered.
        await _wait_until_cancelled(stack, "us-east", 1)

        attempts = [s for s in stack.spans.get_finished_spans() if s.kind.name == "CLIENT"]
        by_endpoint = {s.attributes["router.endpoint"]: s.attributes for s in attempts}
        assert by_endpoint["us-east"]["router.attempt.outcome"] == "hedge_cancelled"
        assert by_endpoint["us-east"]["router.hedge"] is False
        assert by_endpoint["eu-west"]["router.attempt.outcome"] == "ok"
        assert by_endpoint["eu-west"]["router.hedge"] is True
        (server,) = [s for s in stack.spans.get_finished_spans() if s.kind.name == "SERVER"]
        assert server.attributes is not None and server.attributes["router.attempts"] == 2

        # The cancelled attempt is no failure of us-east and no measured first byte, but it
        # took at least as long as it ran: us-east's estimate rises to that, so a pick that went
        # slow loses its traffic even while hedges hide its slowness.
        after = await _us_east_model(stack)
        assert after["p95"][window] == before["p95"][window]
        assert after["failures"] == before["failures"] and after["in_flight"] == 0
        estimate = "ttft" if stream else "latency"
        assert after[estimate]["cost_ms"] > before[estimate]["cost_ms"]
        assert after[estimate]["cost_ms"] >= 40.0  # the hedge delay plus eu-west's answer
        hedging = (await stack.admin("/admin/tenants/hedger/usage"))["hedging"]
        assert hedging["extra_usd"] > 0 and 0 < hedging["extra_share"] < 0.5


@pytest.mark.asyncio
async def test_a_client_that_leaves_during_a_race_closes_both_upstream_connections(
    tmp_path: Path,
) -> None:
    async with running_stack(REGIONS, overrides=_overrides(tmp_path, hedger=HEDGING)) as stack:
        await _warm_up(stack, "hedger", stream=True)
        for region in ("us-east", "eu-west"):
            await stack.control(region, ttft_ms=10_000.0)
        client = stack.client(api_key=_key("hedger"))
        request = asyncio.create_task(client.chat.completions.create(**CHAT, stream=True))

        async def both_asked() -> bool:
            stats = [await stack.region_stats(r) for r in ("us-east", "eu-west")]
            return all(s["in_flight"] == 1 for s in stats)

        await _wait_until(both_asked)  # the hedge has started: both wait for a first byte
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        await _wait_until_cancelled(stack, "us-east", 1)
        await _wait_until_cancelled(stack, "eu-west", 1)

        async def nothing_in_flight() -> bool:
            view = await stack.admin_endpoints()
            return all(e["in_flight"] == 0 for e in view["endpoints"])

        await _wait_until(nothing_in_flight)
        lines = stack.access_log_lines()
        assert "hedged_after=" in lines[-1]["reason"]
        assert "us-east:client_disconnected" in lines[-1]["reason"]
        assert "eu-west:client_disconnected" in lines[-1]["reason"]


@pytest.mark.asyncio
async def test_a_request_passed_through_in_its_own_api_is_hedged_the_same_way(
    tmp_path: Path,
) -> None:
    """A Responses stream to endpoints that speak Responses: the hedge is passed through too,
    and the winner's own events reach the client."""
    overrides = _overrides(tmp_path, hedger=HEDGING)
    native = {r.name: {"apis": ["chat", "responses"]} for r in REGIONS}
    async with running_stack(REGIONS, overrides=overrides, endpoint_fields=native) as stack:
        await _warm_up(stack, "hedger", stream=True)
        await stack.control("us-east", ttft_ms=SLOW_TTFT_MS)
        client = stack.client(api_key=_key("hedger"))
        raw = await client.responses.with_raw_response.create(
            model="gpt-4o-mini", input="hi", max_output_tokens=16, stream=True
        )
        events = [event async for event in raw.parse()]
        assert raw.headers["x-router-endpoint"] == "eu-west"
        assert "ms:eu-west; hedge_cancelled=us-east" in raw.headers["x-router-reason"]
        assert "translated" not in raw.headers["x-router-reason"]
        assert events[0].type == "response.created"
        assert events[-1].type in ("response.completed", "response.incomplete")
        await _wait_until_cancelled(stack, "us-east", 1)
        for region in ("us-east", "eu-west"):  # each attempt in Responses (among the probes)
            paths = [r["path"] for r in await stack.received(region)]
            assert paths.count("/v1/responses") == 1
