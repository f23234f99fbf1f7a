"""Forwarding: the terminal stage. Calls the plan's endpoints in order until one answers.

Fail over to the next endpoint on a retryable error as long as no byte has reached the client,
within the request's deadline and attempt budget (`ctx.deadline_s`, `ctx.max_attempts`: the node's,
or the tenant's where its policy sets them), never to the same endpoint twice in a row. A
stream is committed to the client only once the upstream's first chunk has arrived, so a failure
before it is still invisible to the client. Measurements (TTFT, latency, in-flight, health) are
recorded here, on the endpoint that produced them.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter

import orjson
from aiohttp import web
from opentelemetry import propagate
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from router.clock import Clock
from router.context import Attempt, RequestContext
from router.endpoints.health import FailureKind
from router.endpoints.http1 import Http1Response
from router.endpoints.registry import Registry, Target
from router.endpoints.transport import Transport
from router.errors import (
    NoEligibleEndpoint,
    UpstreamConnectError,
    UpstreamError,
    UpstreamRejected,
    UpstreamStatusError,
    UpstreamTimeout,
)
from router.telemetry.tracing import Tracing
from router.wire.sse import StreamUsageCounter, error_event, response_model_in
from router.wire.usage import usage_from_body


@dataclass(slots=True)
class _Outcome:
    """What one attempt came to: completed, failed with `error`, or neither (cancelled)."""

    completed: bool = False
    error: UpstreamError | None = None
    ttft_ms: float | None = None


SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


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
    ) -> None:
        self._registry = registry
        self._transport = transport
        self._tracing = tracing
        self._clock = clock

    async def __call__(self, ctx: RequestContext) -> web.StreamResponse:
        if not ctx.plan:
            raise NoEligibleEndpoint(f"No endpoint can serve model `{ctx.parsed.model}`.")
        last_error: UpstreamError | None = None
        previous: str | None = None
        attempts = 0
        for target in ctx.plan:
            if attempts >= ctx.max_attempts:
                break
            if target.endpoint.name == previous:
                continue
            remaining_s = ctx.deadline_s - self._clock.now()
            if remaining_s <= 0:
                break
            attempts += 1
            previous = target.endpoint.name
            try:
                return await self._attempt(ctx, target, remaining_s)
            except UpstreamError as error:
                if not error.retryable:
                    raise
                last_error = error
        if last_error is None:
            raise UpstreamTimeout("The request's deadline passed before an attempt.", endpoint="")
        raise last_error

    async def _attempt(
        self, ctx: RequestContext, target: Target, remaining_s: float
    ) -> web.StreamResponse:
        endpoint, stats = target.endpoint, target.stats
        health = self._registry.health.get(endpoint.name)
        trial = health.admits_trial()
        if trial:
            health.begin_trial()
        parsed = ctx.parsed
        endpoint.in_flight += 1
        stats.begin()
        started = perf_counter()
        outcome = _Outcome()
        with self._tracing.span(
            f"{parsed.operation.otel_name} {target.upstream_model}", SpanKind.CLIENT
        ) as span:
            headers: dict[str, str] | None = None
            if span.is_recording():
                _annotate_attempt(span, ctx, target)
                headers = {}
                propagate.inject(headers)
            try:
                async with self._transport.post(
                    endpoint,
                    parsed.operation.path,
                    parsed.body_for(target.upstream_model),
                    remaining_s,
                    headers,
                ) as response:
                    self._decide(ctx, target)
                    if parsed.stream:
                        answer = await self._stream(ctx, target, response, started, outcome)
                    else:
                        answer = await self._json(ctx, target, response, outcome)
            except UpstreamError as error:
                outcome.error = error
                span.set_status(Status(StatusCode.ERROR, error.message))
                span.set_attribute("error.type", str(error.code))
                raise
            finally:
                endpoint.in_flight -= 1
                self._settle(ctx, target, outcome, (perf_counter() - started) * 1000.0)
                if trial:
                    # Frees the slot when the attempt ended without a verdict (client gone).
                    health.cancel_trial()
            if span.is_recording():
                _annotate_result(span, ctx)
                if outcome.error is not None:  # the stream broke after its first byte
                    span.set_status(Status(StatusCode.ERROR, outcome.error.message))
                    span.set_attribute("error.type", f"{outcome.error.code}_mid_stream")
            return answer

    def _settle(
        self, ctx: RequestContext, target: Target, outcome: _Outcome, elapsed_ms: float
    ) -> None:
        """Feed the attempt's result to the estimators, health and the decision record."""
        name = target.endpoint.name
        streaming = ctx.parsed.stream
        error = outcome.error
        if isinstance(error, UpstreamRejected):
            # The upstream refused the request itself (a client error it caught): the endpoint
            # works, so it must not count toward ejection, or any client could eject endpoints.
            target.stats.abandon()
            self._registry.health.record_success(name)
            self._decide(ctx, target)  # the client gets this endpoint's answer
            ctx.decision.attempts.append(Attempt(name, str(error.code), elapsed_ms))
        elif error is not None:
            target.stats.end(
                ok=False, elapsed_ms=elapsed_ms, ttft_ms=outcome.ttft_ms, streaming=streaming
            )
            self._registry.health.record_failure(name, _failure_kind(error))
            suffix = "_mid_stream" if outcome.ttft_ms is not None else ""
            ctx.decision.attempts.append(Attempt(name, f"{error.code}{suffix}", elapsed_ms))
        elif outcome.completed:
            target.stats.end(
                ok=True, elapsed_ms=elapsed_ms, ttft_ms=outcome.ttft_ms, streaming=streaming
            )
            if not streaming:  # a stream's success was recorded at its first byte
                self._registry.health.record_success(name)
            ctx.decision.attempts.append(Attempt(name, "ok", elapsed_ms))
        else:
            # Cancelled or the client went away: no verdict on the endpoint, no latency sample.
            target.stats.abandon()
            ctx.decision.attempts.append(Attempt(name, "client_disconnected", elapsed_ms))

    def _decide(self, ctx: RequestContext, target: Target) -> None:
        decision = ctx.decision
        decision.served_by = "cloud"
        decision.endpoint = target.endpoint.name
        decision.upstream_model = target.upstream_model
        decision.region = target.endpoint.region

    async def _json(
        self,
        ctx: RequestContext,
        target: Target,
        response: Http1Response,
        outcome: _Outcome,
    ) -> web.StreamResponse:
        name = target.endpoint.name
        body = await Transport.read_body(response, name)
        try:
            parsed_body = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamConnectError(
                f"endpoint {name} answered with a body that is not JSON", endpoint=name
            ) from None
        ctx.usage = usage_from_body(parsed_body)
        if isinstance(parsed_body, dict) and isinstance(parsed_body.get("model"), str):
            ctx.decision.response_model = parsed_body["model"]
        outcome.completed = True
        return web.Response(
            body=body, content_type="application/json", headers=ctx.decision.headers()
        )

    async def _stream(
        self,
        ctx: RequestContext,
        target: Target,
        response: Http1Response,
        started: float,
        outcome: _Outcome,
    ) -> web.StreamResponse:
        name = target.endpoint.name
        chunks = Transport.chunks(response, name)
        first = await anext(chunks, b"")
        if not first:
            raise UpstreamConnectError(
                f"endpoint {name} closed the stream before its first byte", endpoint=name
            )
        outcome.ttft_ms = ctx.decision.ttft_ms = (perf_counter() - started) * 1000.0
        ctx.decision.response_model = response_model_in(first)
        # The endpoint is serving: that ends a half-open trial now, not when a long stream ends.
        self._registry.health.record_success(name)
        # From here on the client has bytes: no more fail-over for this request.
        client = web.StreamResponse(headers={**SSE_HEADERS, **ctx.decision.headers()})
        await client.prepare(ctx.request)
        counter = StreamUsageCounter()
        try:
            counter.feed(first)
            await client.write(first)
            async for chunk in chunks:
                counter.feed(chunk)
                await client.write(chunk)
        except ConnectionResetError:
            # The client went away: leaving the transport's context closes the upstream
            # connection, which stops the upstream's generation. Not the endpoint's fault.
            return client
        except UpstreamError as error:
            outcome.error = error
            await client.write(error_event(error))
            await client.write_eof()
            return client
        finally:
            ctx.usage = counter.usage(ctx.parsed.estimated_input_tokens)
        outcome.completed = True
        await client.write_eof()
        return client


def _annotate_attempt(span: Span, ctx: RequestContext, target: Target) -> None:
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


def _annotate_result(span: Span, ctx: RequestContext) -> None:
    if ctx.decision.response_model:
        span.set_attribute("gen_ai.response.model", ctx.decision.response_model)
    if ctx.usage is not None:
        span.set_attribute("gen_ai.usage.input_tokens", ctx.usage.input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", ctx.usage.output_tokens)
