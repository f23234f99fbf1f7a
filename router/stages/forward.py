"""Forwarding: the terminal stage. Calls the plan's endpoints in order until one answers.

Fail over to the next endpoint on a retryable error as long as no byte has reached the client,
within the request's deadline and attempt budget (`ctx.deadline_s`, `ctx.max_attempts`: the node's,
or the tenant's where its policy sets them), never to the same endpoint twice in a row. A
stream is committed to the client only once the upstream's first chunk has arrived, so a failure
before it is still invisible to the client. Measurements (TTFT, latency, in-flight, health) are
recorded here, on the endpoint that produced them.

Where a tenant's policy enables hedging, each attempt goes through `Hedger`, which may race it
against a second one (`router.forwarding.hedging`); the attempt itself is the same code either way,
with a `Race` to claim the answer from once its first byte is there.

Forwarding is only forwarding: it answers with the upstream's `Answer` (a JSON body, or a stream
that owns the attempt until it ends: its connection, span and measurements) and knows nothing of
what the stages before it do to that answer on the way back (restore, capture, log). Judges
given at build time (`AttemptJudge`: the cascade's) may refuse an attempt's answer before it is
committed, which fails over like an upstream error. Request half and record half (the hedging
tenant's spend, once the answer was sent); per-request state: `HEDGE_SLOT`.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from router.answer import Answer
from router.clock import Clock
from router.context import HEDGE_CANCELLED, Attempt, RequestContext, SlotKey
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
    UpstreamStreamError,
    UpstreamTimeout,
)
from router.forwarding.attempt_plan import AttemptPlan
from router.forwarding.hedging import HedgeAllowance, Hedger, Race
from router.forwarding.upstream_format import UpstreamFormat, format_for, translated_to
from router.policy.hedge_budget import HedgeBudget
from router.telemetry.spans import traceparent_of
from router.telemetry.tracing import Tracing
from router.wire.native import AnswerForm, native_response_id, native_stream_response_id
from router.wire.native_usage import (
    NativeStreamUsageCounter,
    native_response_model_in,
    usage_from_native_body,
)
from router.wire.sse import StreamEnding, StreamUsageCounter, response_model_in
from router.wire.stream_start import stream_start
from router.wire.usage import Usage, usage_from_body

# The hedging allowance of a request this stage answered (its spend is recorded when it ends).
HEDGE_SLOT: SlotKey[HedgeAllowance] = SlotKey("forward.hedge")


class AttemptJudge(Protocol):
    """A check of an attempt's JSON answer before it is committed to the client."""

    def asks_logprobs(self, ctx: RequestContext, target: Target) -> bool:
        """Whether this attempt is judged (and so needs the tokens' log-probabilities)."""
        ...

    def judge(self, ctx: RequestContext, endpoint: str, answer: Any, body: bytes) -> bytes:
        """The body to send on; raises an `UpstreamError` (retryable) to fail over instead."""
        ...


class UsageCounter(Protocol):
    """A stream's usage, counted as its chunks pass (`StreamUsageCounter` for chat), and how it
    ended once it closed."""

    def feed(self, chunk: bytes) -> None: ...

    def usage(self, estimated_input_tokens: int) -> Usage: ...

    def ending(self) -> StreamEnding: ...


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
        judges: Sequence[AttemptJudge] = (),
    ) -> None:
        self._registry = registry
        self._transport = transport
        self._tracing = tracing
        self._clock = clock
        self._judges = tuple(judges)
        self._hedger = Hedger(self._attempt, registry, hedge_budget, clock)

    async def on_request(self, ctx: RequestContext) -> Answer:
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
            ctx.put(HEDGE_SLOT, allowance)
            return answer
        if last_error is None:
            raise UpstreamTimeout("The request's deadline passed before an attempt.", endpoint="")
        raise last_error

    def on_done(self, ctx: RequestContext) -> None:
        """A hedging tenant's answered request: its spend, once its usage is known."""
        if ctx.slot(HEDGE_SLOT) is not None:
            self._hedger.record_spend(ctx)

    async def _attempt(
        self, ctx: RequestContext, target: Target, remaining_s: float, race: Race | None = None
    ) -> Answer:
        """One attempt's answer. A stream's answer owns the attempt until the stream is closed:
        its upstream connection, its span and its measurements end then."""
        endpoint = target.endpoint
        health = self._registry.health.get(endpoint.name)
        trial = health.admits_trial()
        if trial:
            health.begin_trial()
        parsed = ctx.outgoing
        endpoint.in_flight += 1
        target.stats.begin()
        attempt = _Try(target, self._clock.now(), race)
        # Not the current span: a hedged attempt begins in its own task and may end in the
        # handler's, relaying its stream.
        span = self._tracing.start_span(
            f"{parsed.operation.otel_name} {target.upstream_model}", SpanKind.CLIENT
        )
        ending = _Ending(functools.partial(self._end_attempt, ctx, attempt, trial, span))
        try:
            if span.is_recording():
                _annotate_attempt(span, ctx, attempt)
            wire = format_for(endpoint.settings, ctx.native)
            posting = self._transport.post(
                endpoint,
                wire.path(parsed.operation),
                wire.body(
                    parsed,
                    target.upstream_model,
                    with_logprobs=self._judged(ctx, target),
                    store=_store(ctx),
                ),
                remaining_s,
                _headers(wire, traceparent_of(span)),
                first_byte_timeout_s(
                    target, ctx.plan, ctx.max_attempts, parsed.stream, self._transport.routing
                ),
            )
            response = await posting.__aenter__()
            ending.posting = posting
            if race is None:  # a race decides when its winner has a first byte
                self._decide(ctx, target)
            if parsed.stream:
                chunks = ending.chunks = wire.chunks(
                    self._transport.chunks(response, endpoint.name), parsed
                )
                answer = await self._stream(ctx, attempt, wire, chunks, ending)
                _say_if_translated(ctx, wire)
                return answer
            answer = await self._json(ctx, attempt, wire, response)
            _say_if_translated(ctx, wire)
        except BaseException as error:
            if isinstance(error, UpstreamError):
                attempt.error = error
                span.set_status(Status(StatusCode.ERROR, error.message))
                span.set_attribute("error.type", str(error.code))
            await ending.close(error)
            raise
        await ending.close()
        return answer

    def _end_attempt(self, ctx: RequestContext, attempt: _Try, trial: bool, span: Span) -> None:
        """After the attempt's connection was given back or closed: its measurements and span."""
        target = attempt.target
        target.endpoint.in_flight -= 1
        self._registry.capacity.freed()
        outcome = self._settle(ctx, attempt, (self._clock.now() - attempt.started) * 1000.0)
        if trial:
            # Frees the slot when the attempt ended without a verdict (client gone).
            self._registry.health.get(target.endpoint.name).cancel_trial()
        if span.is_recording():
            if attempt.race is not None:
                span.set_attribute("router.attempt.outcome", outcome)
            _annotate_result(span, ctx)
            if attempt.error is not None and attempt.ttft_ms is not None:
                # The stream broke after its first byte.
                span.set_status(Status(StatusCode.ERROR, attempt.error.message))
                span.set_attribute("error.type", f"{attempt.error.code}_mid_stream")
        span.end()

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
            # A stream's too: its first byte ended a trial, its end is its verdict.
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
        started_ms = (attempt.started - ctx.started_s) * 1000.0
        ctx.decision.attempts.append(Attempt(name, outcome, elapsed_ms, started_ms))
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
        self, ctx: RequestContext, attempt: _Try, wire: UpstreamFormat, response: UpstreamResponse
    ) -> Answer:
        target = attempt.target
        name = target.endpoint.name
        body = await self._transport.read_body(response, name)
        try:
            body = wire.answer(body)
            parsed_body = orjson.loads(body)
        except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # a translation's too deep
            raise UpstreamConnectError(
                f"endpoint {name} answered with a body that is not JSON", endpoint=name
            ) from None
        for judge in self._judges:
            if judge.asks_logprobs(ctx, target):
                body = judge.judge(ctx, name, parsed_body, body)
        if wire.form != "chat":
            _refuse_failed_response(name, wire, parsed_body)
        if attempt.race is not None:
            self._claim(ctx, attempt, attempt.race)
        if wire.form == "chat":
            ctx.usage = usage_from_body(parsed_body)
        else:
            ctx.usage = usage_from_native_body(wire.form, parsed_body)
            ctx.response_id = native_response_id(wire.form, parsed_body)
        if isinstance(parsed_body, dict) and isinstance(parsed_body.get("model"), str):
            ctx.decision.response_model = parsed_body["model"]
        attempt.completed = True
        return Answer(body=body, form=wire.form)

    async def _stream(
        self,
        ctx: RequestContext,
        attempt: _Try,
        wire: UpstreamFormat,
        chunks: AsyncIterator[bytes],
        ending: _Ending,
    ) -> Answer:
        name = attempt.target.endpoint.name
        first = await anext(chunks, b"")
        if not first:
            raise UpstreamConnectError(
                f"endpoint {name} closed the stream before its first byte", endpoint=name
            )
        first = await _through_start(name, first, chunks, wire.form)
        if attempt.race is not None:
            self._claim(ctx, attempt, attempt.race)
        elapsed_s = self._clock.now() - attempt.started
        attempt.ttft_ms = ctx.decision.ttft_ms = elapsed_s * 1000.0
        form = wire.form
        if form == "chat":
            ctx.decision.response_model = response_model_in(first)
            counter: UsageCounter = StreamUsageCounter()
        else:
            ctx.decision.response_model = native_response_model_in(form, first)
            ctx.response_id = native_stream_response_id(form, first)
            counter = NativeStreamUsageCounter(form)
        # The endpoint is serving: that ends a half-open trial now, not when a long stream ends;
        # whether the stream succeeds is known at its end.
        self._registry.health.record_first_byte(name)
        # From here on the client has bytes: no more fail-over for this request.
        stream = _UpstreamStream(ctx, attempt, first, chunks, ending, counter)
        return Answer(chunks=stream, form=form)

    def _judged(self, ctx: RequestContext, target: Target) -> bool:
        return any(judge.asks_logprobs(ctx, target) for judge in self._judges)


def _store(ctx: RequestContext) -> bool | None:
    """What the tenant lets a provider keep: `store: false` when its policy says
    `privacy.provider_storage: never` (a client's `store: true` included), else the request's
    own (None)."""
    policy = ctx.policy
    if policy is None or policy.privacy.provider_storage != "never":
        return None
    return False


def _headers(wire: UpstreamFormat, traceparent: str | None) -> Mapping[str, str] | None:
    """The attempt's headers beyond the endpoint's own: its format's, and the trace's."""
    headers = wire.headers()
    if traceparent is None:
        return headers
    return (
        {"traceparent": traceparent} if headers is None else {**headers, "traceparent": traceparent}
    )


def _say_if_translated(ctx: RequestContext, wire: UpstreamFormat) -> None:
    """The reason says when the answering endpoint was spoken to in another format than the
    request arrived in."""
    translated = translated_to(wire, ctx.native)
    if translated is not None:
        ctx.decision.reason += f"; translated={translated}"


def _refuse_failed_response(name: str, wire: UpstreamFormat, body: Any) -> None:
    """A native JSON answer that says it failed (a Responses `status: failed`) is the attempt's
    failure: fail over, as for an error status."""
    if wire.form != "responses" or not isinstance(body, dict) or body.get("status") != "failed":
        return
    error = body.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    said = message[:200] if isinstance(message, str) else "no message"
    raise UpstreamStreamError(
        f"endpoint {name} answered with a failed response: {said}", endpoint=name
    )


_START_READS = 32
_DONE = b"data: [DONE]\n\n"


async def _through_start(
    name: str, head: bytes, chunks: AsyncIterator[bytes], form: AnswerForm = "chat"
) -> bytes:
    """The stream's first bytes, read on until its start is known (`router.wire.stream_start`);
    an error the upstream sent in band before any content is raised as this attempt's failure:
    a client error (`invalid_request_error`) as the upstream's refusal, anything else as a
    retryable failure. At most `_START_READS` reads: the work stays bounded (each look is over
    at most `PEEK_BYTES`) however finely an upstream splits its bytes."""
    pieces = [head]
    verdict = stream_start(head, form)
    for _ in range(_START_READS):
        if verdict != "read_more":
            break
        more = await anext(chunks, b"")
        if not more:
            break  # ended already: what came is relayed as it came
        pieces.append(more)
        head = b"".join(pieces)
        verdict = stream_start(head, form)
    if isinstance(verdict, dict):
        message = verdict.get("message")
        said = message[:200] if isinstance(message, str) else "no message"
        if verdict.get("type") == "invalid_request_error":
            body = orjson.dumps({"error": verdict})
            raise UpstreamRejected(
                f"endpoint {name} refused the request in its stream: {said}",
                endpoint=name,
                upstream_status=400,
                body=body,
            )
        raise UpstreamStreamError(
            f"endpoint {name} sent an error before any content: {said}", endpoint=name
        )
    return head


class _Ending:
    """What ends an attempt, in this order and each whatever the one before did: its chunks'
    reader, its upstream response (the connection given back when read to the end, closed
    otherwise), then its measurements and span. Written out: an `AsyncExitStack` here raised a
    stream's router CPU from 1.40 to 1.53 times the bare proxy's (docs/benchmarks.md, issue 16);
    written out, 1.43."""

    __slots__ = ("_end", "chunks", "posting")

    def __init__(self, end: Callable[[], None]) -> None:
        self._end = end
        self.posting: AbstractAsyncContextManager[UpstreamResponse] | None = None
        self.chunks: AsyncIterator[bytes] | None = None

    async def close(self, error: BaseException | None = None) -> None:
        try:
            if self.chunks is not None:
                await self.chunks.aclose()  # type: ignore[attr-defined]
        finally:
            try:
                if self.posting is not None:
                    if error is None:
                        await self.posting.__aexit__(None, None, None)
                    else:
                        await self.posting.__aexit__(type(error), error, error.__traceback__)
            finally:
                self._end()


class _UpstreamStream:
    """An upstream's stream after its first chunk: relayed as it arrives, its usage counted (the
    upstream's own report, or its content chunks); closing it ends the attempt."""

    __slots__ = (
        "_attempt",
        "_chunks",
        "_closed",
        "_counter",
        "_ctx",
        "_ending",
        "_first",
        "_relaying",
    )

    def __init__(
        self,
        ctx: RequestContext,
        attempt: _Try,
        first: bytes,
        chunks: AsyncIterator[bytes],
        ending: _Ending,
        counter: UsageCounter,
    ) -> None:
        self._ctx = ctx
        self._attempt = attempt
        self._first = first
        self._chunks = chunks
        self._ending = ending
        self._counter = counter
        self._relaying: AsyncGenerator[bytes, None] | None = None
        self._closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._relaying = self._relay()
        return self._relaying

    async def _relay(self) -> AsyncGenerator[bytes, None]:
        counter = self._counter
        counter.feed(self._first)
        yield self._first
        try:
            async for chunk in self._chunks:
                counter.feed(chunk)
                yield chunk
            closed_as = counter.ending()
            if closed_as == "cut":
                # Closed before its answer was: the client must not take it for a whole one.
                name = self._attempt.target.endpoint.name
                raise UpstreamStreamError(
                    f"endpoint {name} closed the stream before its answer ended", endpoint=name
                )
        except UpstreamError as error:
            self._attempt.error = error
            raise
        if closed_as == "unterminated":
            # The answer finished; only `data: [DONE]` is missing, which clients wait for.
            yield _DONE
        self._attempt.completed = True

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._relaying is not None:
            await self._relaying.aclose()
        self._ctx.usage = self._counter.usage(self._ctx.parsed.estimated_input_tokens)
        await self._ending.close()


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
