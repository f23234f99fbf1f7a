"""Routing on real measurements: traffic follows latency, avoids broken regions, honours tags."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import openai
import pytest

from loadtest.mock_cloud.settings import RegionSettings
from tests.stack import Stack, running_stack

CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "hello"}],
    "max_tokens": 4,
}
LATENCY_FIRST = {"x-router-objective": "latency"}
# Fast decay so a recovered region wins again within a second or two of real time.
QUICK_ESTIMATORS = {"estimators": {"peak_ewma_tau_s": 0.3}}


async def _served_by(stack: Stack, count: int, **headers: str) -> Counter[str]:
    client = stack.client(default_headers={**LATENCY_FIRST, **headers})
    served: Counter[str] = Counter()
    for _ in range(count):
        raw = await client.chat.completions.with_raw_response.create(**CHAT)
        served[raw.headers["x-router-endpoint"]] += 1
    return served


async def _wait_until(predicate: Any, timeout_s: float = 5.0) -> None:
    """Poll a condition with a bound; the bound is a safety net, not a speed assertion."""
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def _probed_rtt_at_least(stack: Stack, endpoint: str, rtt_ms: float) -> bool:
    view = await stack.admin_endpoints()
    (measured,) = [e["rtt"]["value_ms"] for e in view["endpoints"] if e["name"] == endpoint]
    return measured is not None and measured >= rtt_ms


@pytest.mark.asyncio
async def test_traffic_moves_to_the_lowest_latency_region_and_back() -> None:
    # RTTs far apart, so a loaded test machine's scheduling jitter cannot reorder the regions.
    regions = (
        RegionSettings(name="us-east", rtt_ms=2.0),
        RegionSettings(name="eu-west", rtt_ms=40.0),
        RegionSettings(name="ap-south", rtt_ms=80.0),
    )
    async with running_stack(regions=regions, overrides=QUICK_ESTIMATORS) as stack:
        # Idle estimates decay toward the probed RTT, so let the probes measure every region.
        await _wait_until(lambda: _probed_rtt_at_least(stack, "ap-south", 60.0))
        await _served_by(stack, 6)  # every region measured at least once
        assert (await _served_by(stack, 20))["us-east"] >= 18

        await stack.control("us-east", rtt_ms=200.0)
        await _wait_until(lambda: _probed_rtt_at_least(stack, "us-east", 120.0))
        await _served_by(stack, 10)  # the slow answers raise us-east's estimate
        served = await _served_by(stack, 20)
        # Away from the slow region: mostly to the next nearest, never back to the slow one.
        assert served["us-east"] <= 1 and served["eu-west"] >= 12, served

        await stack.control("us-east", rtt_ms=2.0)

        async def us_east_wins_again() -> bool:
            return (await _served_by(stack, 5))["us-east"] == 5

        await _wait_until(us_east_wins_again)


@pytest.mark.asyncio
async def test_no_request_fails_while_the_preferred_region_is_killed_under_load() -> None:
    # Ejections double while the region stays down; capped at 1 s, the wait for its re-admission
    # after it is back does not grow with how long the down phase took on a loaded machine.
    overrides = {"health": {"base_ejection_s": 0.5, "max_ejection_s": 1.0, "probe_interval_s": 0.1}}
    async with running_stack(overrides=overrides) as stack:
        client = stack.client(default_headers=LATENCY_FIRST)
        results: list[str] = []
        failures: list[BaseException] = []
        stop = asyncio.Event()

        async def steady_load(stream: bool) -> None:
            while not stop.is_set():
                try:
                    if stream:
                        chunks = await client.chat.completions.create(**CHAT, stream=True)
                        async for _ in chunks:
                            pass
                        results.append("stream")
                    else:
                        raw = await client.chat.completions.with_raw_response.create(**CHAT)
                        results.append(raw.headers["x-router-endpoint"])
                except openai.OpenAIError as exc:
                    failures.append(exc)

        def completed(count: int) -> Any:
            async def reached() -> bool:
                return len(results) >= count

            return reached

        workers = [asyncio.create_task(steady_load(stream=i % 2 == 1)) for i in range(6)]
        await _wait_until(completed(30), timeout_s=10.0)
        await stack.control("us-east", down=True)
        killed_at = len(results)
        await _wait_until(completed(killed_at + 80), timeout_s=10.0)
        # Skip answers to requests that were already in flight when the region went down.
        served_while_down = Counter(results[killed_at + 12 :])
        await stack.control("us-east", down=False)
        back_at = len(results)

        async def us_east_serves_again() -> bool:
            return "us-east" in results[back_at:]

        # Re-admitted after its ejection: a half-open trial succeeds and traffic comes back.
        await _wait_until(us_east_serves_again, timeout_s=10.0)
        stop.set()
        await asyncio.gather(*workers)

        assert failures == []
        assert served_while_down["us-east"] == 0, served_while_down
        # Which region takes over is the balancer's call on latencies measured under this test's
        # own load: one slow answer from eu-west makes ap-south look faster for seconds.
        assert served_while_down["eu-west"] + served_while_down["ap-south"] > 0, served_while_down


@pytest.mark.asyncio
async def test_privacy_tags_keep_traffic_on_endpoints_that_carry_them() -> None:
    async with running_stack() as stack:
        assert await _served_by(stack, 10, **{"x-router-privacy-tags": "eu-resident"}) == {
            "eu-west": 10
        }
        assert await _served_by(stack, 5, **{"x-router-privacy-tags": "hipaa"}) == {"ap-south": 5}
        hipaa_only = stack.client(default_headers={"x-router-privacy-tags": "hipaa"})
        raw = await hipaa_only.chat.completions.with_raw_response.create(**CHAT)
        assert raw.headers["x-router-reason"] == "objective=balanced; only=ap-south"
        received = [
            r for r in await stack.received("us-east") if r["path"].endswith("/chat/completions")
        ]
        assert received == []


@pytest.mark.asyncio
async def test_an_upstream_failure_before_the_first_byte_fails_over_and_says_so() -> None:
    async with running_stack() as stack:
        await stack.control("us-east", error_rate=1.0)
        client = stack.client(default_headers=LATENCY_FIRST)
        raw = await client.chat.completions.with_raw_response.create(**CHAT)
        assert raw.headers["x-router-endpoint"] != "us-east"
        assert "failover_after=us-east:upstream_status_500" in raw.headers["x-router-reason"]

        stream = await client.chat.completions.with_raw_response.create(**CHAT, stream=True)
        assert stream.headers["x-router-endpoint"] != "us-east"
        assert [c async for c in stream.parse()]


@pytest.mark.asyncio
async def test_a_client_disconnect_mid_stream_cancels_the_upstream_call() -> None:
    slow = (
        RegionSettings(name="us-east", tokens_per_s=20.0, completion_tokens=400),
        RegionSettings(name="eu-west", rtt_ms=50.0),
    )
    async with running_stack(regions=slow) as stack:
        client = stack.client(default_headers=LATENCY_FIRST)
        stream = await client.chat.completions.create(**{**CHAT, "max_tokens": 400}, stream=True)
        received = 0
        async for _ in stream:
            received += 1
            if received == 3:
                break
        await stream.close()

        async def upstream_cancelled() -> bool:
            stats = await stack.region_stats("us-east")
            return int(stats["cancelled"]) == 1 and int(stats["in_flight"]) == 0

        await _wait_until(upstream_cancelled)
        endpoints = (await stack.admin_endpoints())["endpoints"]
        assert all(e["in_flight"] == 0 for e in endpoints)
        us_east = next(e for e in endpoints if e["name"] == "us-east")
        assert us_east["health"]["state"] == "healthy"


@pytest.mark.asyncio
async def test_a_stream_cut_after_its_first_byte_ends_with_an_error_event() -> None:
    slow = (RegionSettings(name="us-east", tokens_per_s=20.0, completion_tokens=400),)
    async with running_stack(regions=slow) as stack:
        stream = await stack.client().chat.completions.create(
            **{**CHAT, "max_tokens": 400}, stream=True
        )
        with pytest.raises(openai.APIError):
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    await stack.control("us-east", down=True)
        (attempt,) = [s for s in stack.spans.get_finished_spans() if s.kind.name == "CLIENT"]
        assert attempt.status.status_code.name == "ERROR"
        assert attempt.attributes["error.type"] == "upstream_connect_error_mid_stream"


@pytest.mark.asyncio
async def test_each_request_has_a_server_span_with_a_child_span_per_attempt() -> None:
    async with running_stack() as stack:
        await stack.control("us-east", error_rate=1.0)
        client = stack.client(default_headers=LATENCY_FIRST)
        await client.chat.completions.create(**CHAT)
        spans = stack.spans.get_finished_spans()
        (server,) = [s for s in spans if s.kind.name == "SERVER"]
        attempts = [s for s in spans if s.kind.name == "CLIENT"]
        assert attempts[0].attributes["router.endpoint"] == "us-east"
        assert len(attempts) == 2
        assert all(
            a.parent is not None and a.parent.span_id == server.context.span_id for a in attempts
        )
        assert attempts[0].attributes["error.type"] == "upstream_status_500"
        assert server.name == "chat gpt-4o-mini"
        attributes = server.attributes
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
        assert attributes["gen_ai.response.model"] == "gpt-4o-mini"
        assert attributes["gen_ai.usage.output_tokens"] == 4
        assert attributes["router.endpoint"] == attempts[1].attributes["router.endpoint"]
        assert attempts[1].attributes["server.address"] == "127.0.0.1"
        assert attempts[1].attributes["gen_ai.usage.input_tokens"] > 0
        # The runner's timing of each request half that ran, the forwarding stage's included.
        timed = {k for k in attributes if k.startswith("router.stage.")}
        assert {"router.stage.auth_ms", "router.stage.route_ms", "router.stage.forward_ms"} <= timed
        assert attributes["router.stage.forward_ms"] >= 0


@pytest.mark.asyncio
async def test_admin_view_shows_measured_rtt_ttft_and_health() -> None:
    async with running_stack() as stack:
        client = stack.client()
        for _ in range(3):
            stream = await client.chat.completions.create(**CHAT, stream=True)
            async for _chunk in stream:
                pass

        async def probed() -> bool:
            view = await stack.admin_endpoints()
            return all(e["rtt"]["samples"] > 0 for e in view["endpoints"])

        await _wait_until(probed)
        view = await stack.admin_endpoints()
        served = [e for e in view["endpoints"] if e["models"]["gpt-4o-mini"]["requests"] > 0]
        assert served and served[0]["models"]["gpt-4o-mini"]["ttft"]["samples"] > 0
        assert {e["health"]["state"] for e in view["endpoints"]} == {"healthy"}
        assert view["aliases"]["gpt-4o"][0]["model"] == "gpt-4o"
        async with stack.http.get(f"{stack.url}/readyz") as ready:
            assert ready.status == 200
        async with stack.http.get(f"{stack.url}/healthz") as live:
            assert live.status == 200


@pytest.mark.asyncio
async def test_access_log_line_explains_the_decision_without_prompts_or_keys() -> None:
    async with running_stack() as stack:
        await stack.control("us-east", error_rate=1.0)
        client = stack.client(default_headers=LATENCY_FIRST)
        secret_prompt = "my secret prompt 1234"
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": secret_prompt}]
        )
        with pytest.raises(openai.AuthenticationError):
            await stack.client(api_key="sk-leaked-key").chat.completions.create(**CHAT)
        lines = stack.access_log_lines()
        assert [entry["status"] for entry in lines] == [200, 401]
        line = lines[0]
        assert line["endpoint"] != "us-east" and line["served_by"] == "cloud"
        assert "failover_after=us-east:upstream_status_500" in line["reason"]
        assert line["output_tokens"] == 16 and line["usage_counted"] is False
        written = stack.access_log_stream.getvalue()
        assert b"secret prompt" not in written
        assert b"sk-leaked-key" not in written and b"sk-test-router" not in written
