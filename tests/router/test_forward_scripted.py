"""The forwarding stage alone: scripted upstreams behind the transport's client protocol and a
fake clock, no server and no sockets. Time moves only when a test moves it, so a TTFT or a
hedge's delay is exact, and nothing waits for real time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
import pytest

from router.answer import Answer
from router.config.loader import Secrets
from router.config.model import NodeConfig
from router.context import RequestContext
from router.endpoints.estimators import RECENT_MIN_SAMPLES
from router.endpoints.registry import Registry
from router.endpoints.transport import Transport
from router.endpoints.upstream_client import ConnectFailed
from router.errors import UpstreamStreamError
from router.policy.hedge_budget import HedgeBudget
from router.stages.forward import ForwardStage
from router.telemetry.tracing import build_tracing
from tests.fake_clock import FakeClock
from tests.request_context import chat_context
from tests.tenant_policies import policy_model

JSON_ANSWER = orjson.dumps(
    {
        "id": "c",
        "object": "chat.completion",
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
)
EVENTS = [b'data: {"model":"m","choices":[{"delta":{"content":"a"}}]}\n\n', b"data: [DONE]\n\n"]


class _Response:
    """A scripted response: its chunks come from a queue the test fills (None ends it)."""

    def __init__(self, chunks: asyncio.Queue[bytes | None]) -> None:
        self._chunks = chunks
        self.finished = False

    @property
    def status(self) -> int:
        return 200

    @property
    def headers(self) -> Mapping[str, str]:
        return {}

    async def chunks(self, idle_timeout_s: float | None = None) -> AsyncIterator[bytes]:
        while (chunk := await self._chunks.get()) is not None:
            yield chunk

    async def read(self, limit: int | None = None) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    def finish(self) -> None:
        self.finished = True


class _Upstream:
    """One endpoint's client (`UpstreamClient`), answering each exchange as the test says."""

    def __init__(self) -> None:
        self.chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.exchanges = 0
        self.cancelled = asyncio.Event()
        self.fail = False
        self.responses: list[_Response] = []

    async def exchange(self, *args: Any, **kwargs: Any) -> _Response:
        self.exchanges += 1
        if self.fail:
            raise ConnectFailed("refused")
        response = _Response(self.chunks)
        self.responses.append(response)
        return response

    async def close(self) -> None:
        """Nothing to close."""


def _node() -> NodeConfig:
    priced = {"name": "m", "input_price_per_mtok": 1.0, "output_price_per_mtok": 4.0}
    endpoint = {"region": "r", "models": [priced]}
    return NodeConfig.model_validate(
        {
            "auth": {"api_keys": ["sk-test"]},
            "endpoints": [
                {"name": "near", "base_url": "http://near.invalid/v1", **endpoint},
                {"name": "far", "base_url": "http://far.invalid/v1", **endpoint},
            ],
        }
    )


class _Forwarding:
    def __init__(self) -> None:
        self.clock = FakeClock()
        config = _node()
        self.registry = Registry(config, self.clock)
        self.near, self.far = _Upstream(), _Upstream()
        transport = Transport(
            self.registry.endpoints,
            Secrets(),
            config.routing,
            clients={"near": self.near, "far": self.far},  # type: ignore[dict-item]
        )
        self.budget = HedgeBudget(self.clock)
        self.stage = ForwardStage(
            self.registry,
            transport,
            build_tracing(config.telemetry.tracing),
            self.clock,
            self.budget,
        )

    def context(
        self, *, stream: bool, hedging: bool = False, max_extra_cost_share: float = 1.0
    ) -> RequestContext:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
        hedge = {"enabled": True, "max_extra_cost_share": max_extra_cost_share}
        policy = policy_model(routing={"hedging": hedge}) if hedging else None
        ctx = chat_context(orjson.dumps(body), tenant="acme", policy=policy)
        ctx.deadline_s = self.clock.now() + 60
        targets = self.registry.targets("m")
        assert targets is not None
        ctx.plan = tuple(sorted(targets, key=lambda t: t.endpoint.name != "near"))
        return ctx


async def _drain(answer: Answer) -> bytes:
    assert answer.chunks is not None
    try:
        return b"".join([chunk async for chunk in answer.chunks])
    finally:
        await answer.chunks.aclose()


@pytest.mark.asyncio
async def test_a_streams_ttft_is_the_clocks_time_to_its_first_chunk() -> None:
    forwarding = _Forwarding()
    ctx = forwarding.context(stream=True)
    answering = asyncio.ensure_future(forwarding.stage.on_request(ctx))
    await asyncio.sleep(0)  # the attempt waits for its first chunk
    forwarding.clock.advance(0.120)
    forwarding.near.chunks.put_nowait(EVENTS[0])
    answer = await answering
    assert ctx.decision.ttft_ms == pytest.approx(120.0)
    assert ctx.decision.endpoint == "near" and ctx.decision.attempts == []  # still running
    assert forwarding.registry.endpoints["near"].in_flight == 1
    forwarding.clock.advance(0.080)
    forwarding.near.chunks.put_nowait(EVENTS[1])
    forwarding.near.chunks.put_nowait(None)
    assert await _drain(answer) == b"".join(EVENTS)
    (attempt,) = ctx.decision.attempts
    assert (attempt.endpoint, attempt.outcome) == ("near", "ok")
    assert attempt.duration_ms == pytest.approx(200.0)
    assert forwarding.registry.endpoints["near"].in_flight == 0
    assert forwarding.near.responses[0].finished


@pytest.mark.asyncio
async def test_a_stream_closed_before_its_end_is_a_client_disconnect_not_a_failure() -> None:
    forwarding = _Forwarding()
    ctx = forwarding.context(stream=True)
    forwarding.near.chunks.put_nowait(EVENTS[0])
    answer = await forwarding.stage.on_request(ctx)
    assert answer.chunks is not None
    await answer.chunks.aclose()  # the client left after the first chunk
    (attempt,) = ctx.decision.attempts
    assert attempt.outcome == "client_disconnected"
    assert forwarding.registry.health.available("near")
    assert ctx.usage is not None  # counted from what was relayed


@pytest.mark.asyncio
async def test_a_finished_stream_closed_without_done_gets_its_done() -> None:
    """The answer finished (a finish reason) but the upstream closed without `data: [DONE]`,
    which clients wait for: the router ends it, and the attempt is a success."""
    forwarding = _Forwarding()
    ctx = forwarding.context(stream=True)
    finished = b'data: {"model":"m","choices":[{"delta":{},"finish_reason":"stop"}]}\n\n'
    for chunk in (EVENTS[0], finished, None):
        forwarding.near.chunks.put_nowait(chunk)
    answer = await forwarding.stage.on_request(ctx)
    assert await _drain(answer) == EVENTS[0] + finished + b"data: [DONE]\n\n"
    (attempt,) = ctx.decision.attempts
    assert attempt.outcome == "ok"


@pytest.mark.asyncio
async def test_a_stream_closed_before_its_answer_ended_is_the_endpoints_failure() -> None:
    """Neither a finish reason nor `[DONE]`: the answer was cut, and the client must not take
    what it got for a whole one (the writer ends it with an error event)."""
    forwarding = _Forwarding()
    ctx = forwarding.context(stream=True)
    for chunk in (EVENTS[0], None):
        forwarding.near.chunks.put_nowait(chunk)
    answer = await forwarding.stage.on_request(ctx)
    with pytest.raises(UpstreamStreamError):
        await _drain(answer)
    (attempt,) = ctx.decision.attempts
    assert attempt.outcome == "upstream_stream_error_mid_stream"


@pytest.mark.asyncio
async def test_an_endpoint_that_breaks_every_stream_after_its_start_is_ejected() -> None:
    """Each stream's first byte shows the endpoint serving, but only its end says whether it
    succeeded: streams cut mid-way are failures in a row, and eject it (the fault scorecard's
    `stream_cut` kept its region in rotation while first bytes counted as successes)."""
    forwarding = _Forwarding()
    threshold = _node().health.consecutive_failures
    for _ in range(threshold):
        assert forwarding.registry.health.available("near")
        ctx = forwarding.context(stream=True)
        for chunk in (EVENTS[0], None):
            forwarding.near.chunks.put_nowait(chunk)
        answer = await forwarding.stage.on_request(ctx)
        with pytest.raises(UpstreamStreamError):
            await _drain(answer)
    assert not forwarding.registry.health.available("near")


@pytest.mark.asyncio
async def test_a_refused_connection_fails_over_before_the_first_byte() -> None:
    forwarding = _Forwarding()
    forwarding.near.fail = True
    forwarding.far.chunks.put_nowait(JSON_ANSWER)
    forwarding.far.chunks.put_nowait(None)
    ctx = forwarding.context(stream=False)
    answer = await forwarding.stage.on_request(ctx)
    assert answer.body == JSON_ANSWER and answer.source == "upstream"
    assert [(a.endpoint, a.outcome) for a in ctx.decision.attempts] == [
        ("near", "upstream_connect_error"),
        ("far", "ok"),
    ]
    assert ctx.usage is not None and ctx.usage.output_tokens == 1


@pytest.mark.asyncio
async def test_a_hedge_starts_after_the_picks_p95_and_the_first_to_answer_wins() -> None:
    forwarding = _Forwarding()
    ctx = forwarding.context(stream=False, hedging=True)
    near = ctx.plan[0]
    for _ in range(RECENT_MIN_SAMPLES):  # its recent answers took 100 ms
        near.stats.begin()
        near.stats.end(ok=True, elapsed_ms=100.0, ttft_ms=None, streaming=False)
    forwarding.budget.record_spend("acme", 1.0)  # a tenant that has spent may hedge a share
    answering = asyncio.ensure_future(forwarding.stage.on_request(ctx))
    for _ in range(5):
        await asyncio.sleep(0)
    assert forwarding.far.exchanges == 0  # no hedge before the delay, however long we wait
    forwarding.clock.advance(0.100)
    for _ in range(5):
        await asyncio.sleep(0)
    assert forwarding.far.exchanges == 1
    forwarding.far.chunks.put_nowait(JSON_ANSWER)
    forwarding.far.chunks.put_nowait(None)
    answer = await answering
    assert answer.body == JSON_ANSWER
    decision = ctx.decision
    assert decision.endpoint == "far" and decision.hedged_after_ms == pytest.approx(100.0)
    assert decision.hedge_cancelled == "near"
    assert {a.endpoint: a.outcome for a in decision.attempts} == {
        "near": "hedge_cancelled",
        "far": "ok",
    }
    assert forwarding.registry.endpoints["near"].in_flight == 0


def _measured(ctx: RequestContext, forwarding: _Forwarding, spent_usd: float = 1.0) -> None:
    """The pick's recent answers took 100 ms (a hedge's delay), and its tenant has spent."""
    near = ctx.plan[0]
    for _ in range(RECENT_MIN_SAMPLES):
        near.stats.begin()
        near.stats.end(ok=True, elapsed_ms=100.0, ttft_ms=None, streaming=False)
    forwarding.budget.record_spend("acme", spent_usd)


async def _settle() -> None:
    """Let every task that can run, run (no time passes: the clock is the test's)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def _asked_and_waited(
    forwarding: _Forwarding, ctx: RequestContext, wait_s: float
) -> asyncio.Future[Answer]:
    """The request under way, and `wait_s` gone by on the clock while it is."""
    answering = asyncio.ensure_future(forwarding.stage.on_request(ctx))
    await _settle()
    forwarding.clock.advance(wait_s)
    await _settle()
    return answering


def _answer_from(upstream: _Upstream) -> None:
    upstream.chunks.put_nowait(JSON_ANSWER)
    upstream.chunks.put_nowait(None)


@pytest.mark.asyncio
async def test_a_tenant_without_hedging_waits_for_the_slow_pick() -> None:
    forwarding = _Forwarding()
    ctx = forwarding.context(stream=False)
    _measured(ctx, forwarding)
    answering = await _asked_and_waited(forwarding, ctx, 10.0)  # a hundred times the pick's p95
    assert forwarding.far.exchanges == 0
    _answer_from(forwarding.near)
    await answering
    assert ctx.decision.endpoint == "near" and ctx.decision.hedged_after_ms is None


@pytest.mark.asyncio
async def test_a_tenant_whose_extra_cost_share_is_used_up_does_not_hedge() -> None:
    forwarding = _Forwarding()
    first = forwarding.context(stream=False, hedging=True, max_extra_cost_share=0.001)
    # A millionth of a dollar spent: one hedge's input is more than a thousandth of that.
    _measured(first, forwarding, spent_usd=1e-6)
    answering = await _asked_and_waited(forwarding, first, 0.100)
    _answer_from(forwarding.far)
    await answering
    assert first.decision.hedge_endpoint == "far"  # the first hedge, charged its input
    forwarding.stage.on_done(first)

    second = forwarding.context(stream=False, hedging=True, max_extra_cost_share=0.001)
    answering = await _asked_and_waited(forwarding, second, 10.0)
    assert forwarding.far.exchanges == 1  # no second hedge: the share is used up
    _answer_from(forwarding.near)
    await answering
    assert second.decision.endpoint == "near" and second.decision.hedged_after_ms is None


@pytest.mark.asyncio
async def test_a_hedge_that_fails_leaves_the_first_attempt_to_answer() -> None:
    forwarding = _Forwarding()
    forwarding.far.fail = True
    ctx = forwarding.context(stream=False, hedging=True)
    _measured(ctx, forwarding)
    answering = await _asked_and_waited(forwarding, ctx, 0.100)
    assert forwarding.far.exchanges == 1  # the hedge started, and failed at once
    _answer_from(forwarding.near)
    await answering
    decision = ctx.decision
    assert decision.endpoint == "near" and decision.hedge_endpoint == "far"
    assert decision.hedge_cancelled == ""
    assert [(a.endpoint, a.outcome) for a in decision.attempts] == [
        ("far", "upstream_connect_error"),
        ("near", "ok"),
    ]
