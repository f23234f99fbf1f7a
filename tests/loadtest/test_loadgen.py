"""Functional tests of the load generator and the bare proxy against small in-process fakes.

No assertion here depends on how fast anything runs: counts, bytes and arithmetic only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import orjson
import pytest
from aiohttp import web

from loadtest.generator import (
    LatencySummary,
    LoadPlan,
    LoadSettings,
    LoopSleeper,
    StreamTokenClock,
    completion_tokens_in,
    open_sleeper,
    percentile,
    request_body,
    request_count,
    run_load,
)
from loadtest.harness.bare_proxy import build_app

JSON_BODY = (
    b'{"id":"chatcmpl-1",  "object":"chat.completion","choices":[{"index":0,"message":\n'
    b'{"role":"assistant","content":"h\\u00e9llo"}}] }'
)
SSE_CHUNKS = (
    b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"con',
    b'tent":"Hel"}}]}\n\ndata: {"choices":[{"index":0,"delta":{"content":"lo"}}]}\n\n',
    b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\n',
    b"data: [DONE]\n\n",
)


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on an ephemeral loopback port and yield its base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


class FakeUpstream:
    """A scripted OpenAI-ish upstream that records what it was sent."""

    def __init__(self, *, fail_every: int = 0) -> None:
        self.fail_every = fail_every
        self.hits = 0
        self.received: list[tuple[str, str, bytes, str | None, str | None]] = []
        self.release = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/stream", self.stream)
        app.router.add_post("/v1/hang", self.hang)
        return app

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        body = await request.read()
        self.received.append(
            (
                request.method,
                request.path_qs,
                body,
                request.headers.get("Content-Type"),
                request.headers.get("Authorization"),
            )
        )
        if self.fail_every and self.hits % self.fail_every == 0:
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if orjson.loads(body).get("stream"):
            return await self.stream(request)
        return web.Response(body=JSON_BODY, content_type="application/json")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for chunk in SSE_CHUNKS:
            await response.write(chunk)
            await asyncio.sleep(0)
        await response.write_eof()
        return response

    async def hang(self, request: web.Request) -> web.StreamResponse:
        await self.release.wait()
        return web.Response(status=200)


def test_schedule_sends_request_i_at_t0_plus_i_over_rate() -> None:
    settings = LoadSettings(base_url="http://x/v1", rate_per_s=250.0, duration_s=2.0, warmup_s=0.5)
    plan = LoadPlan.from_settings(settings)

    assert plan.total_requests == 625
    assert plan.warmup_requests == 125
    t0 = 1234.5
    for index in (0, 1, 7, 124, 125, 624):
        assert plan.scheduled_at(t0, index) == t0 + index / 250.0
    assert plan.offsets_s()[:4] == [0.0, 0.004, 0.008, 0.012]
    assert plan.offsets_s()[-1] == 624 / 250.0 < 2.5


def test_request_count_ignores_float_noise_at_the_boundary() -> None:
    assert request_count(10.0, 0.3) == 3
    assert request_count(3.0, 1.0) == 3
    assert request_count(3.0, 1.01) == 4
    assert request_count(1000.0, 10.0) == 10_000
    assert request_count(7.0, 0.0) == 0


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 50.5
    assert percentile(values, 90) == pytest.approx(90.1)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 100) == 100.0
    assert percentile([4.0], 99.9) == 4.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_latency_summary_reports_milliseconds() -> None:
    summary = LatencySummary.of_seconds([0.004, 0.001, 0.003, 0.002])

    assert summary is not None
    assert summary.count == 4
    assert summary.p50_ms == pytest.approx(2.5)
    assert summary.max_ms == pytest.approx(4.0)
    assert summary.mean_ms == pytest.approx(2.5)
    assert LatencySummary.of_seconds([]) is None


def test_the_token_clock_times_non_empty_content_deltas_across_split_chunks() -> None:
    clock = StreamTokenClock()
    for at, chunk in enumerate(SSE_CHUNKS):
        clock.feed(chunk, float(at))
    # The role chunk's empty content is no token; the split one is timed when its line ends.
    assert clock.times == [2.0, 2.0]
    assert clock.completion_tokens == 2
    whole = StreamTokenClock()
    stream = b"".join(SSE_CHUNKS)
    for i in range(len(stream)):  # one byte at a time: the same tokens
        whole.feed(stream[i : i + 1], 0.0)
    assert (whole.tokens, whole.completion_tokens) == (2, 2)


def test_output_tokens_are_read_from_the_usage_an_answer_reports() -> None:
    assert completion_tokens_in(b'{"usage": {"completion_tokens": 17, "total_tokens": 20}}') == 17
    assert completion_tokens_in(JSON_BODY) is None


def test_request_body_asks_for_usage_only_when_streaming() -> None:
    plain = orjson.loads(request_body(LoadSettings(base_url="http://x/v1", model="m")))
    stream = orjson.loads(
        request_body(LoadSettings(base_url="http://x/v1", model="m", kind="chat-stream"))
    )

    assert plain == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 16,
    }
    assert stream["stream"] is True
    assert stream["stream_options"] == {"include_usage": True}


@pytest.mark.asyncio
async def test_sleepers_never_return_before_their_deadline() -> None:
    for sleeper in (open_sleeper(), LoopSleeper()):
        try:
            for delay_s in (0.0, 0.0002, 0.0015, -1.0):
                deadline = time.monotonic() + delay_s
                await sleeper.sleep_until(deadline)
                assert time.monotonic() >= deadline
        finally:
            sleeper.close()


@pytest.mark.asyncio
async def test_run_counts_completed_and_failed_requests() -> None:
    upstream = FakeUpstream(fail_every=3)
    async with serving(upstream.app()) as base:
        settings = LoadSettings(
            base_url=f"{base}/v1", rate_per_s=300.0, duration_s=0.1, warmup_s=0.0, api_key="k1"
        )
        result = await run_load(settings)

    assert upstream.hits == 30
    assert result.requests == 30
    assert result.ok == 20
    assert result.errors == 10
    assert result.errors_by_kind == {"http_500": 10}
    assert result.latency is not None and result.latency.count == 20
    assert result.latency_from_send is not None and result.latency_from_send.count == 20
    assert result.send_lag is not None and result.send_lag.count == 30
    assert result.ttft is None and result.ttft_from_send is None
    assert {entry[4] for entry in upstream.received} == {"Bearer k1"}


@pytest.mark.asyncio
async def test_run_leaves_warmup_requests_out_of_the_stats() -> None:
    upstream = FakeUpstream()
    async with serving(upstream.app()) as base:
        settings = LoadSettings(
            base_url=f"{base}/v1", rate_per_s=200.0, duration_s=0.05, warmup_s=0.05
        )
        result = await run_load(settings)

    assert upstream.hits == 20
    assert result.requests == 10
    assert result.ok == 10


@pytest.mark.asyncio
async def test_streaming_run_records_ttft_for_every_success() -> None:
    upstream = FakeUpstream(fail_every=3)
    async with serving(upstream.app()) as base:
        settings = LoadSettings(
            base_url=f"{base}/v1",
            kind="chat-stream",
            rate_per_s=300.0,
            duration_s=0.1,
            warmup_s=0.0,
        )
        result = await run_load(settings)

    assert (result.ok, result.errors) == (20, 10)
    assert result.ttft is not None and result.ttft.count == 20
    assert result.latency is not None and result.latency.count == 20
    # Two content tokens a stream: one TPOT and one inter-token gap each; the usage says 2.
    assert result.tpot is not None and result.tpot.count == 20
    assert result.itl is not None and result.itl.count == 20
    assert result.output_tokens_per_s == pytest.approx(20 * 2 / 0.1)
    # No SLO stated: every success is good.
    assert result.goodput_per_s == result.ok_rate_per_s and result.slo == {}


def _short_stream(base: str, *, ttft_slo_ms: float) -> LoadSettings:
    return LoadSettings(
        base_url=f"{base}/v1",
        kind="chat-stream",
        rate_per_s=200.0,
        duration_s=0.05,
        warmup_s=0.0,
        ttft_slo_ms=ttft_slo_ms,
    )


@pytest.mark.asyncio
async def test_goodput_counts_only_the_successes_that_meet_every_slo() -> None:
    upstream = FakeUpstream()
    async with serving(upstream.app()) as base:
        lenient = await run_load(_short_stream(base, ttft_slo_ms=60_000.0))
        # No request reaches its first token within a nanosecond.
        strict = await run_load(_short_stream(base, ttft_slo_ms=1e-6))
    assert lenient.ok == strict.ok == 10
    assert lenient.goodput_per_s == lenient.ok_rate_per_s and lenient.slo == {"ttft_ms": 60_000.0}
    assert strict.goodput_per_s == 0.0


@pytest.mark.asyncio
async def test_requests_still_running_after_the_drain_bound_are_errors() -> None:
    upstream = FakeUpstream()
    hang_app = upstream.app()
    hang_app.router.add_post("/hang/chat/completions", upstream.hang)
    async with serving(hang_app) as base:
        settings = LoadSettings(
            base_url=f"{base}/hang",
            rate_per_s=100.0,
            duration_s=0.05,
            warmup_s=0.0,
            drain_timeout_s=0.05,
        )
        result = await run_load(settings)
        upstream.release.set()

    assert result.requests == 5
    assert result.ok == 0
    assert result.errors_by_kind == {"unfinished": 5}


@asynccontextmanager
async def proxied(upstream: FakeUpstream) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    async with (
        serving(upstream.app()) as upstream_base,
        serving(build_app(upstream_base)) as proxy_base,
        aiohttp.ClientSession(auto_decompress=False) as client,
    ):
        yield client, proxy_base


@pytest.mark.asyncio
async def test_bare_proxy_forwards_a_json_body_byte_for_byte() -> None:
    upstream = FakeUpstream()
    sent = b'{"model": "m",\n "messages": [{"role": "user", "content": "hi"}]}'
    headers = {"Content-Type": "application/json", "Authorization": "Bearer k"}
    async with (
        proxied(upstream) as (client, proxy_base),
        client.post(
            f"{proxy_base}/v1/chat/completions?trace=1", data=sent, headers=headers
        ) as response,
    ):
        received = await response.read()
        status, content_type = response.status, response.headers["Content-Type"]

    assert (status, content_type, received) == (200, "application/json", JSON_BODY)
    assert upstream.received == [
        ("POST", "/v1/chat/completions?trace=1", sent, "application/json", "Bearer k")
    ]


@pytest.mark.asyncio
async def test_bare_proxy_streams_sse_byte_for_byte() -> None:
    upstream = FakeUpstream()
    async with (
        proxied(upstream) as (client, proxy_base),
        client.post(f"{proxy_base}/v1/stream", data=b"{}") as response,
    ):
        received = await response.read()
        status, content_type = response.status, response.headers["Content-Type"]

    assert (status, content_type) == (200, "text/event-stream")
    assert received == b"".join(SSE_CHUNKS)


@pytest.mark.asyncio
async def test_bare_proxy_passes_upstream_errors_through() -> None:
    upstream = FakeUpstream(fail_every=1)
    async with (
        proxied(upstream) as (client, proxy_base),
        client.post(f"{proxy_base}/v1/chat/completions", data=b"{}") as response,
    ):
        status = response.status
        body = await response.json()

    assert status == 500
    assert body == {"error": {"message": "boom"}}


def test_a_sized_prompt_has_its_size_and_a_prefill_ends_the_messages() -> None:
    settings = LoadSettings(base_url="http://x/v1", prompt_bytes=20_000, prefill="Sure,")
    messages = orjson.loads(request_body(settings))["messages"]
    assert len(messages[0]["content"].encode()) == 20_000
    assert messages[1] == {"role": "assistant", "content": "Sure,"}
    plain = orjson.loads(request_body(LoadSettings(base_url="http://x/v1")))["messages"]
    assert plain == [{"role": "user", "content": "hi"}]
