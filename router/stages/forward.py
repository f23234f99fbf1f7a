"""Forwarding: the terminal stage. Calls the plan's endpoints in order until one answers.

Fail over to the next endpoint on a retryable error as long as no byte has reached the client,
within the request's deadline and attempt budget (`ctx.deadline_s`, `ctx.max_attempts`: the node's,
or the tenant's where its policy sets them), never to the same endpoint twice in a row. A
stream is committed to the client only once the upstream's first chunk has arrived, so a failure
before it is still invisible to the client. Measurements (TTFT, latency, in-flight, health) are
recorded here, on the endpoint that produced them.

Where a tenant's policy enables hedging, each attempt goes through `Hedger`, which may race it
against a second one (`router.stages.hedging`); the attempt itself is the same code either way,
with a `Race` to claim the answer from once its first byte is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter

import orjson
from aiohttp import web
from opentelemetry import propagate
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from router.cache.replay import StreamAssembler, complete_json_answer
from router.clock import Clock
from router.context import HEDGE_CANCELLED, Attempt, RequestContext
from router.endpoints.first_byte_timeout import first_byte_timeout_s
from router.endpoints.health import FailureKind
from router.endpoints.registry import Registry, Target
from router.endpoints.transport import Transport
from router.endpoints.upstream_client import UpstreamResponse
from router.errors import (
    LowConfidence,
    NoEligibleEndpoint,
    UpstreamConnectError,
    UpstreamError,
    UpstreamRejected,
    UpstreamStatusError,
    UpstreamTimeout,
)
from router.policy.hedge_budget import HedgeBudget
from router.privacy.answer_restoration import SseRestorer, restore_json_body
from router.stages.attempt_plan import AttemptPlan
from router.stages.cascade import keep_or_escalate
from router.stages.hedging import Hedger, Race
from router.telemetry.tracing import Tracing
from router.wire.sse import SSE_HEADERS, StreamUsageCounter, error_event, response_model_in
from router.wire.usage import usage_from_body


@dataclass(slots=True)
class _Try:
    """One attempt: where it went, when it started, the race it is in (if hedged), and what it
    came to: completed, failed with `error`, or neither (cancelled)."""

    target: Target
    started: float
    race: Race | None
    completed: bool = False
    error: UpstreamError | None = None
    ttft_ms: float | None = None


def _failure_kind(error: UpstreamError) -> FailureKind:
    if isinstance(error, UpstreamTimeout):
        return FailureKind.TIMEOUT
    if isinstance(error, UpstreamStatusError):
        return FailureKind.STATUS_429 if error.upstream_status == 429 else FailureKind.STATUS_5XX
    return FailureKind.CONNECT


class ForwardStage:
    name = "forward"
    terminal = True

    def __init__(
        self,
        registry: Registry,
        transport: Transport,
        tracing: Tracing,
        clock: Clock,
        hedge_budget: HedgeBudget,
    ) -> None:
        self._registry = registry
        self._transport = transport
        self._tracing = tracing
        self._clock = clock
        self._hedger = Hedger(self._attempt, registry, hedge_budget)

    async def __call__(self, ctx: RequestContext) -> web.StreamResponse:
        if not ctx.plan:
            raise NoEligibleEndpoint(f"No endpoint can serve model `{ctx.parsed.model}`.")
        allowance = self._hedger.allowance(ctx)
        plan = AttemptPlan(ctx, self._clock)
        last_error: UpstreamError | None = None
        while (step := plan.next()) is not None:
            target, remaining_s = step
            try:
                if allowance is None:
                    return await self._attempt(ctx, target, remaining_s)
                answer = await self._hedger.run(ctx, target, remaining_s, plan, allowance)
            except UpstreamError as error:
                if not error.retryable:
                    raise
                last_error = error
                continue
            self._hedger.record_spend(ctx)
            return answer
        if last_error is None:
            raise UpstreamTimeout("The request's deadline passed before an attempt.", endpoint="")
        raise last_error

    async def _attempt(
        self, ctx: RequestContext, target: Target, remaining_s: float, race: Race | None = None
    ) -> web.StreamResponse:
        endpoint, stats = target.endpoint, target.stats
        health = self._registry.health.get(endpoint.name)
        trial = health.admits_trial()
        if trial:
            health.begin_trial()
        parsed = ctx.parsed
        endpoint.in_flight += 1
        stats.begin()
        attempt = _Try(target, perf_counter(), race)
        with self._tracing.span(
            f"{parsed.operation.otel_name} {target.upstream_model}", SpanKind.CLIENT
        ) as span:
            headers: dict[str, str] | None = None
            if span.is_recording():
                _annotate_attempt(span, ctx, attempt)
                headers = {}
                propagate.inject(headers)
            try:
                async with self._transport.post(
                    endpoint,
                    parsed.operation.path,
                    parsed.body_for(target.upstream_model, with_logprobs=_cascading(ctx, target)),
                    remaining_s,
                    headers,
                    first_byte_timeout_s(target.stats, parsed.stream, self._transport.routing),
                ) as response:
                    if race is None:  # a race decides when its winner has a first byte
                        self._decide(ctx, target)
                    if parsed.stream:
                        answer = await self._stream(ctx, attempt, response)
                    else:
                        answer = await self._json(ctx, attempt, response)
            except UpstreamError as error:
                attempt.error = error
                span.set_status(Status(StatusCode.ERROR, error.message))
                span.set_attribute("error.type", str(error.code))
                raise
            finally:
                endpoint.in_flight -= 1
                self._registry.capacity.freed()
                outcome = self._settle(ctx, attempt, (perf_counter() - attempt.started) * 1000.0)
                if trial:
                    # Frees the slot when the attempt ended without a verdict (client gone).
                    health.cancel_trial()
                if race is not None and span.is_recording():
                    span.set_attribute("router.attempt.outcome", outcome)
            if span.is_recording():
                _annotate_result(span, ctx)
                if attempt.error is not None:  # the stream broke after its first byte
                    span.set_status(Status(StatusCode.ERROR, attempt.error.message))
                    span.set_attribute("error.type", f"{attempt.error.code}_mid_stream")
            return answer

    def _settle(self, ctx: RequestContext, attempt: _Try, elapsed_ms: float) -> str:
        """Feed the attempt's result to the estimators, health and the decision record; returns
        the outcome recorded."""
        target = attempt.target
        name = target.endpoint.name
        streaming = ctx.parsed.stream
        error = attempt.error
        if isinstance(error, LowConfidence):
            # The edge answered, just not confidently enough to keep: a sample, no failure.
            target.stats.end(ok=True, elapsed_ms=elapsed_ms, streaming=streaming)
            self._registry.health.record_success(name)
            outcome = str(error.code)
        elif isinstance(error, UpstreamRejected):
            # The upstream refused the request itself (a client error it caught): the endpoint
            # works, so it must not count toward ejection, or any client could eject endpoints.
            target.stats.abandon()
            self._registry.health.record_success(name)
            self._decide(ctx, target)  # the client gets this endpoint's answer
            outcome = str(error.code)
        elif error is not None:
            target.stats.end(
                ok=False, elapsed_ms=elapsed_ms, ttft_ms=attempt.ttft_ms, streaming=streaming
            )
            self._registry.health.record_failure(name, _failure_kind(error))
            suffix = "_mid_stream" if attempt.ttft_ms is not None else ""
            outcome = f"{error.code}{suffix}"
        elif attempt.completed:
            target.stats.end(
                ok=True, elapsed_ms=elapsed_ms, ttft_ms=attempt.ttft_ms, streaming=streaming
            )
            if not streaming:  # a stream's success was recorded at its first byte
                self._registry.health.record_success(name)
            outcome = "ok"
        else:
            # The client went away, or a hedge's other attempt answered first: no verdict on
            # the endpoint. Outrun by the other attempt, it was at least this slow; otherwise
            # there is no latency sample.
            race = attempt.race
            outcome = "client_disconnected" if race is None else race.cancelled_outcome(target)
            if outcome == HEDGE_CANCELLED and attempt.ttft_ms is None:
                target.stats.outrun(elapsed_ms=elapsed_ms, streaming=streaming)
            else:
                target.stats.abandon()
        ctx.decision.attempts.append(Attempt(name, outcome, elapsed_ms))
        return outcome

    def _decide(self, ctx: RequestContext, target: Target) -> None:
        decision = ctx.decision
        decision.served_by = target.endpoint.settings.locality
        decision.endpoint = target.endpoint.name
        decision.upstream_model = target.upstream_model
        decision.region = target.endpoint.region

    def _claim(self, ctx: RequestContext, attempt: _Try, race: Race) -> None:
        """A racing attempt has its first byte: it answers (the other is cancelled)."""
        race.claim(attempt.target)
        self._decide(ctx, attempt.target)

    async def _json(
        self, ctx: RequestContext, attempt: _Try, response: UpstreamResponse
    ) -> web.StreamResponse:
        name = attempt.target.endpoint.name
        body = await Transport.read_body(response, name)
        try:
            parsed_body = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamConnectError(
                f"endpoint {name} answered with a body that is not JSON", endpoint=name
            ) from None
        if _cascading(ctx, attempt.target):
            body = keep_or_escalate(ctx, parsed_body, body, name)
        if attempt.race is not None:
            self._claim(ctx, attempt, attempt.race)
        ctx.usage = usage_from_body(parsed_body)
        if ctx.cache_scope is not None and complete_json_answer(parsed_body):
            ctx.cache_answer = body  # as the upstream wrote it: placeholders, never values
        if ctx.log_content:
            ctx.logged_answer = body
        if isinstance(parsed_body, dict) and isinstance(parsed_body.get("model"), str):
            ctx.decision.response_model = parsed_body["model"]
        if ctx.restore_answer and ctx.pii is not None:
            body = restore_json_body(body, ctx.pii.redactor)
        attempt.completed = True
        return web.Response(
            body=body, content_type="application/json", headers=ctx.decision.headers()
        )

    async def _stream(
        self, ctx: RequestContext, attempt: _Try, response: UpstreamResponse
    ) -> web.StreamResponse:
        name = attempt.target.endpoint.name
        chunks = self._transport.chunks(response, name)
        first = await anext(chunks, b"")
        if not first:
            raise UpstreamConnectError(
                f"endpoint {name} closed the stream before its first byte", endpoint=name
            )
        if attempt.race is not None:
            self._claim(ctx, attempt, attempt.race)
        attempt.ttft_ms = ctx.decision.ttft_ms = (perf_counter() - attempt.started) * 1000.0
        ctx.decision.response_model = response_model_in(first)
        # The endpoint is serving: that ends a half-open trial now, not when a long stream ends.
        self._registry.health.record_success(name)
        # From here on the client has bytes: no more fail-over for this request.
        client = web.StreamResponse(headers={**SSE_HEADERS, **ctx.decision.headers()})
        await client.prepare(ctx.request)
        counter = StreamUsageCounter()
        # A miss the cache may store (or a tenant logging content): the stream is assembled into
        # the answer it amounts to.
        keep = ctx.cache_scope is not None or ctx.log_content
        assembler = StreamAssembler() if keep else None
        # A redacted request: the placeholders of the upstream's events are restored, whole even
        # when split across events. The usage counter and the cache see the upstream's bytes.
        restorer = (
            SseRestorer(ctx.pii.redactor) if ctx.restore_answer and ctx.pii is not None else None
        )
        try:
            await _relay(client, first, counter, assembler, restorer)
            async for chunk in chunks:
                await _relay(client, chunk, counter, assembler, restorer)
            if restorer is not None and (held := restorer.flush()):
                await client.write(held)
        except ConnectionResetError:
            # The client went away: leaving the transport's context closes the upstream
            # connection, which stops the upstream's generation. Not the endpoint's fault.
            return client
        except UpstreamError as error:
            attempt.error = error
            if restorer is not None:
                await client.write(restorer.flush())
            await client.write(error_event(error))
            await client.write_eof()
            return client
        finally:
            ctx.usage = counter.usage(ctx.parsed.estimated_input_tokens)
        attempt.completed = True
        if assembler is not None:
            answer = assembler.answer()
            if ctx.cache_scope is not None:
                ctx.cache_answer = answer
            if ctx.log_content:
                ctx.logged_answer = answer
        await client.write_eof()
        return client


async def _relay(
    client: web.StreamResponse,
    chunk: bytes,
    counter: StreamUsageCounter,
    assembler: StreamAssembler | None,
    restorer: SseRestorer | None,
) -> None:
    """One upstream chunk: counted, assembled for the cache, restored, sent to the client."""
    counter.feed(chunk)
    if assembler is not None:
        assembler.feed(chunk)
    if restorer is not None:
        chunk = restorer.feed(chunk)
        if not chunk:
            return
    await client.write(chunk)


def _cascading(ctx: RequestContext, target: Target) -> bool:
    """Whether this attempt is the cascade's local try (its answer is judged before it is kept)."""
    return ctx.cascade_min_confidence is not None and target.endpoint.settings.locality == "edge"


def _annotate_attempt(span: Span, ctx: RequestContext, attempt: _Try) -> None:
    target = attempt.target
    endpoint = target.endpoint
    span.set_attributes(
        {
            "gen_ai.operation.name": ctx.parsed.operation.otel_name,
            "gen_ai.provider.name": endpoint.settings.kind,
            "gen_ai.request.model": target.upstream_model,
            "server.address": endpoint.settings.base_url.host or "",
            "server.port": endpoint.settings.base_url.port or 0,
            "router.endpoint": endpoint.name,
            "router.region": endpoint.region,
        }
    )
    race = attempt.race
    if race is not None:
        span.set_attribute("router.hedge", race.hedge is target)


def _annotate_result(span: Span, ctx: RequestContext) -> None:
    if ctx.decision.response_model:
        span.set_attribute("gen_ai.response.model", ctx.decision.response_model)
    if ctx.usage is not None:
        span.set_attribute("gen_ai.usage.input_tokens", ctx.usage.input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", ctx.usage.output_tokens)
