"""The HTTP server: the aiohttp app, its routes, the error middleware and the lifespan.

The app is built once from the node config and frozen; long-lived parts (registry, transport,
prober, tracer) are opened and closed in `cleanup_ctx`. A request is authenticated from its
headers, then its body is read and parsed here (each read bounded by `server.body_read_timeout_s`),
then it is handed to the pipeline; every error on the way becomes an OpenAI error body in one
middleware. The front door's limits and stamps are in `router.front_door`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from time import perf_counter
from typing import Any

from aiohttp import HttpVersion10, HttpVersion11, hdrs, web
from aiohttp.web_log import AccessLogger
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import Status, StatusCode

from router.admin_api import add_admin_routes
from router.answer import Answer, Translation
from router.answer_writer import write_answer
from router.authentication import Authenticator
from router.cache.answer_cache import AnswerCache
from router.cache.shared import SharedCache
from router.clock import Clock, MonotonicClock
from router.config.loader import LoadedNodeConfig
from router.connection_budget import max_client_connections
from router.context import RequestContext
from router.dashboard_api import add_dashboard_routes
from router.edge_supervisor import EdgeWorkerSupervisor
from router.embeddings import RouterEmbedder
from router.endpoints.prober import Prober
from router.endpoints.registry import Registry
from router.endpoints.transport import Transport
from router.errors import (
    AuthenticationFailed,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    RouterError,
    status_of,
)
from router.forwarding.cascade import CascadeJudge
from router.front_door import (
    CappedSite,
    ConnectionCap,
    front_door,
    parser_refusals,
    request_id,
    stamp_response,
)
from router.front_door_handler import EdgeRequestHandler, check_head
from router.limits.budget_watch import BudgetWatch
from router.limits.fallback import FallbackLimits
from router.limits.memory import MemoryLimits
from router.limits.redis_backend import RedisLimits
from router.limits.settlements import Settlements
from router.messages_ingress import MESSAGES_PATHS, parse_count_tokens, parse_messages
from router.models_api import add_model_routes
from router.pipeline import Pipeline
from router.policy.hedge_budget import HedgeBudget
from router.policy.store import PolicyStore
from router.pool_membership import PoolMembership
from router.ports import listening_socket
from router.privacy.action_counts import PrivacyActionCounts
from router.readiness import waiting_for
from router.redis_client import redis_client
from router.responses_ingress import parse_responses
from router.routing.affinity import AffinityTable
from router.routing.shared_affinity import SharedAffinity
from router.stages.admission import AdmissionStage
from router.stages.affinity import AffinityStage
from router.stages.auth import AuthStage
from router.stages.cache import CacheStage
from router.stages.content_log import ContentLogStage
from router.stages.forward import ForwardStage
from router.stages.privacy import PrivacyStage
from router.stages.route import RouteStage
from router.state import JSON, STATE, RouterState
from router.telemetry.access_log import AccessLog
from router.telemetry.cache_metrics import cache_instruments
from router.telemetry.content import LoggedContent, logged_content
from router.telemetry.dashboard_feed import DashboardFeed
from router.telemetry.endpoint_metrics import EndpointMetrics
from router.telemetry.gc_pauses import GcPauses
from router.telemetry.kept_traces import write_kept_trace
from router.telemetry.loop_lag import LoopLagMonitor
from router.telemetry.metrics import Metrics
from router.telemetry.otlp_metrics import otlp_push, otlp_reader
from router.telemetry.privacy_metrics import privacy_instruments
from router.telemetry.request_metrics import RequestMetrics
from router.telemetry.request_outcome import CLIENT_DISCONNECTED, error_type_of
from router.telemetry.tracing import build_tracing, tracing_instruments
from router.wire.large_bodies import LargeBodyWork
from router.wire.messages.errors import anthropic_error_body
from router.wire.requests import Operation, ParsedRequest, parse_request
from router.wrong_hits_api import add_wrong_hit_routes

log = logging.getLogger("edge_router.server")
# aiohttp reads a shutdown timeout of 0 as "wait for ever": a drain of 0 means this instead.
_LEAST_DRAIN_S = 0.001


def error_response(error: RouterError, path: str = "") -> web.Response:
    """The error as the API at `path` writes its errors: Anthropic's shape on the Messages API's
    paths, OpenAI's everywhere else."""
    body = anthropic_error_body(error) if path in MESSAGES_PATHS else error.to_body()
    return web.Response(
        status=status_of(error), body=body, content_type=JSON, headers=error.headers()
    )


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> RouterError:
    if exc.status == 405:
        return MethodNotAllowed(
            f"Method {request.method} is not allowed for {request.path}.",
            allow=exc.headers.get("Allow", ""),
        )
    if exc.status == 413:
        return PayloadTooLarge("The request body is larger than this router accepts.")
    if exc.status == 404:
        return NotFound(f"Invalid URL ({request.method} {request.path})", code="unknown_url")
    error = RouterError(exc.reason or "HTTP error")
    error.status = exc.status  # type: ignore[misc]  # an instance-level status for the odd case
    return error


def _check_framing(request: web.Request) -> None:
    """HTTP/0.9 (no headers, so no key and no length) and `Transfer-Encoding` on HTTP/1.0 (which
    has no chunked framing: a proxy in front would read the body another way, the classic
    smuggling set-up) are refused, as nginx and Envoy refuse them; so is a head whose header
    fields exceed `server.max_header_total_bytes` together (431)."""
    if request.version < HttpVersion10:
        raise InvalidRequest("HTTP/0.9 is not served: send HTTP/1.0 or later.")
    if request.version == HttpVersion10 and "Transfer-Encoding" in request.headers:
        raise InvalidRequest("Transfer-Encoding is not allowed on HTTP/1.0.")
    check_head(request, request.app[STATE].loaded.config.server.max_header_total_bytes)


@web.middleware
async def openai_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        _check_framing(request)
        return await handler(request)
    except RequestTimeout as error:
        return await _answer_and_close(request, error_response(error, request.path))
    except RouterError as error:
        return error_response(error, request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_from_http_exception(request, exc), request.path)
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("unexpected error while serving %s %s", request.method, request.path)
        failure = RouterError("The server had an error processing your request.")
        return error_response(failure, request.path)


async def _answer_and_close(request: web.Request, response: web.Response) -> web.Response:
    """Send `response` now and close the connection, without aiohttp's lingering read of the rest
    of a body the client stalls on (up to 10 s more of a held connection)."""
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()  # flushes what was written, then closes
    return response


async def _read_body(request: web.Request, max_bytes: int, read_timeout_s: float) -> bytes:
    """The body, at most `max_bytes`; 408 when the client sends nothing for `read_timeout_s`
    (nginx's client_body_timeout is likewise a bound between two reads, not on the whole body)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(
            f"The request body is {request.content_length} bytes; this router accepts at most "
            f"{max_bytes}."
        )
    body = bytearray()
    while True:
        try:
            async with asyncio.timeout(read_timeout_s):
                chunk = await request.content.readany()
        except TimeoutError:
            raise RequestTimeout(
                f"The request body stalled: nothing arrived for {read_timeout_s:g} s."
            ) from None
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")


async def _continue_if_authenticated(request: web.Request) -> None:
    """`Expect: 100-continue`: the go-ahead only for a known key. Without one the client gets its
    401 from the handler as the final answer instead (RFC 9110, 10.1.1) and never sends its body.
    Other expectations are ignored (RFC 9110 lets a server answer them with 417, or not)."""
    if request.version != HttpVersion11 or request.headers[hdrs.EXPECT].lower() != "100-continue":
        return
    try:
        request.app[STATE].authenticate.identify(request)
    except AuthenticationFailed:
        return
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the answer proper has not started (as aiohttp's own does)


# A request body read as the pipeline's request (Chat Completions' for a translated API), and how
# its answer goes back to that API's format (None: it is in it already).
IngressParse = Callable[[bytes], tuple[ParsedRequest, Translation | None]]


def _openai_format(operation: Operation) -> IngressParse:
    def parse(raw: bytes) -> tuple[ParsedRequest, Translation | None]:
        return parse_request(operation, raw), None

    return parse


async def _answer(
    pipeline: Pipeline, ctx: RequestContext, translation: Translation | None
) -> Answer:
    """The pipeline's answer in the client's API; or, where the pipeline failed, the one its
    ingress gives itself (`Translation.fallback`)."""
    try:
        answer = await pipeline.run(ctx)
    except RouterError as error:
        fallback = None if translation is None else translation.fallback(error)
        if fallback is None:
            raise
        return fallback
    if translation is not None:
        translation.apply(answer)
    return answer


def _operation_handler(
    parse: IngressParse, large_bodies: LargeBodyWork
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        config = state.loaded.config
        started = perf_counter()
        # Before a byte of the body: a missing or unknown key costs the router only its headers.
        state.authenticate.identify(request)
        raw = await _read_body(
            request, config.server.max_body_bytes, config.server.body_read_timeout_s
        )
        parsed, translation = await large_bodies.run_for(len(raw), parse, raw)
        head_s = perf_counter() - started
        name = f"{parsed.operation.otel_name} {parsed.model}"
        with state.tracing.request_span(name, request.headers.get("traceparent")) as span:
            ctx = RequestContext(
                request=request,
                parsed=parsed,
                span=span,
                started_s=state.clock.now(),
                native=None if translation is None else translation.native(request.headers),
            )
            status, error_type = 500, "internal_error"
            try:
                answer = await _answer(state.pipeline, ctx, translation)
                status, error_type = 200, ""
                return await write_answer(request, ctx, answer)
            except asyncio.CancelledError:
                error_type = CLIENT_DISCONNECTED  # the client left before its answer
                raise
            except RouterError as error:
                status, error_type = status_of(error), str(error.code or type(error).__name__)
                span.set_status(Status(StatusCode.ERROR, error.message))
                span.set_attribute("error.type", str(error.code))
                refusal = error_response(error, request.path)
                if ctx.decision.reason:  # routed: say where it went and why, errors included
                    refusal.headers.update(ctx.decision.headers())
                return refusal
            finally:
                state.pipeline.done(ctx)
                error_type = error_type_of(ctx, error_type)  # a stream broken after its start
                content = logged_content(ctx)  # None unless the tenant opted in
                elapsed_s = perf_counter() - started
                first_byte_s = None if ctx.first_byte_at is None else ctx.first_byte_at - started
                if span.is_recording():
                    span.set_attributes(_request_attributes(ctx, status))
                    if content is not None:
                        span.set_attributes(content.span_attributes())
                else:
                    times = (elapsed_s, first_byte_s, head_s)
                    _keep_trace(state, ctx, status, error_type, content, times)
                state.request_metrics.record(ctx, error_type, elapsed_s, first_byte_s)
                state.dashboard.record(
                    ctx,
                    request_id(request),
                    state.clock.wall(),
                    status,
                    error_type,
                    elapsed_s,
                    first_byte_s,
                    head_s,
                )
                if state.access_log is not None:
                    state.access_log.record(ctx, status, elapsed_s * 1000.0, content)

    return handle


def _keep_trace(
    state: RouterState,
    ctx: RequestContext,
    status: int,
    error_type: str,
    content: LoggedContent | None,
    times: tuple[float, float | None, float],
) -> None:
    """A request the sampling ratio left out: traced now all the same when it failed or was
    slow (`router.telemetry.kept_traces`). `times`: elapsed, first byte, head, in seconds."""
    elapsed_s, first_byte_s, head_s = times
    kept = state.tracing.why_kept(error_type, elapsed_s, first_byte_s)
    if kept is None:
        return
    attributes = _request_attributes(ctx, status)
    if content is not None:
        attributes.update(content.span_attributes())
    error = error_type or None
    tracer = state.tracing.tracer
    if tracer is not None:
        write_kept_trace(tracer, ctx, kept, attributes, error, elapsed_s, head_s)


def _request_attributes(ctx: RequestContext, status: int) -> dict[str, str | int | float | bool]:
    """The request span's attributes: what was asked, what was decided, what it used."""
    decision = ctx.decision
    attributes: dict[str, str | int | float | bool] = {
        "gen_ai.operation.name": ctx.parsed.operation.otel_name,
        "gen_ai.request.model": ctx.parsed.model,
        "http.request.method": ctx.request.method,
        "router.tenant": ctx.tenant,
        "http.response.status_code": status,
        "router.served_by": decision.served_by,
        "router.endpoint": decision.endpoint,
        "router.region": decision.region,
        "router.reason": decision.reason_text(),
        "router.attempts": len(decision.attempts),
        "router.stream": ctx.parsed.stream,
    }
    if decision.privacy:
        attributes["router.privacy"] = decision.privacy
    if decision.cache:  # the cache's verdict: hit-exact, hit-semantic, miss, bypass
        attributes["router.cache"] = decision.cache
    if decision.rate_limit_headers:  # the tenant's limits were checked and let it through
        attributes["router.limits"] = "admitted"
    if decision.response_model:
        attributes["gen_ai.response.model"] = decision.response_model
    if decision.ttft_ms is not None:
        attributes["router.ttft_ms"] = decision.ttft_ms
    if ctx.usage is not None:
        attributes["gen_ai.usage.input_tokens"] = ctx.usage.input_tokens
        attributes["gen_ai.usage.output_tokens"] = ctx.usage.output_tokens
    for stage, elapsed_ms in ctx.stage_ms.items():  # the runner's timing of each request half
        attributes[f"router.stage.{stage}_ms"] = elapsed_ms
    return attributes


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    waiting = waiting_for(state.registry, state.embedder)
    return web.json_response(
        {"status": "waiting" if waiting else "ready", "waiting_for": waiting},
        status=503 if waiting else 200,
    )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _lifespan(app: web.Application) -> AsyncIterator[None]:
    """Everything the app starts is registered on one exit stack as it starts, so a part that
    fails to start (the embedder, the shared tier) stops what started before it. Stopped in
    reverse: in-flight settlements and indexing drain first, the transport and tracing last."""
    state = app[STATE]
    async with contextlib.AsyncExitStack() as running:
        running.callback(state.tracing.shutdown)
        running.push_async_callback(state.transport.close)
        running.push_async_callback(asyncio.to_thread, state.metrics.shutdown)  # OTLP flush
        if state.limits.shared is not None:
            running.push_async_callback(state.limits.shared.close)
            running.push_async_callback(state.limits.close)  # before the backend it probes
        for shared in state.shared_affinity:
            running.push_async_callback(shared.close)
            running.push_async_callback(shared.flush)  # before the close above
            _run_until_stopped(running, shared.run(), "affinity-share")
        await state.transport.start()
        if state.tracing.pipe is not None:  # stopped after the drains below: their spans go too
            _run_until_stopped(running, state.tracing.pipe.run(), "span-export")
        gc_pauses = GcPauses(state.metrics)
        gc_pauses.install()
        running.callback(gc_pauses.remove)
        _run_until_stopped(running, gc_pauses.run(), "gc-pauses")
        if state.access_log is not None:
            await running.enter_async_context(state.access_log.running())
        if state.embedder is not None:
            await state.embedder.start()
            running.push_async_callback(state.embedder.close)
        if state.cache.shared is not None:
            await state.cache.shared.start()  # warms up before the router takes traffic
            running.push_async_callback(state.cache.shared.close)
        if state.edge_worker is not None:
            _run_until_stopped(running, state.edge_worker.run(), "edge-worker")
        store = state.policy_store
        if store is not None and state.loaded.config.policies.watch:
            _run_until_stopped(running, store.watch(), "policy-watch")
        _run_until_stopped(running, LoopLagMonitor(state.metrics, state.clock).run(), "loop-lag")
        if state.metrics_push is not None:
            _run_until_stopped(running, state.metrics_push.run(), "otlp-metrics")
        prober = Prober(state.registry, state.transport, state.loaded.config.health)
        _run_until_stopped(running, prober.run(), "endpoint-prober")
        running.push_async_callback(state.cache.drain)
        running.push_async_callback(state.settlements.drain)
        yield


def _run_until_stopped(
    running: contextlib.AsyncExitStack, work: Coroutine[Any, Any, None], name: str
) -> None:
    """Run `work` as a task, cancelled when the app stops."""
    task = asyncio.create_task(work, name=name)
    running.push_async_callback(_cancel, task)


def build_app(
    loaded: LoadedNodeConfig,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    span_processor: SpanProcessor | None = None,
    access_log: AccessLog | None = None,
    pool: PoolMembership | None = None,
) -> web.Application:
    """The router app. `access_log` replaces the default stderr log (tests read their own);
    `pool`: this app is one worker of `edge-router serve --workers N`."""
    config = loaded.config
    clock = clock or MonotonicClock()
    registry = Registry(config, clock)
    transport = Transport(registry.endpoints, loaded.secrets, config.routing)
    tracing = build_tracing(config.telemetry.tracing, span_processor)
    policy_dir = loaded.policy_directory
    policy_store = PolicyStore(policy_dir) if policy_dir is not None else None
    authenticate = Authenticator(config.auth, policy_store)
    metrics_settings = config.telemetry.metrics
    otlp_endpoint = metrics_settings.otlp_endpoint
    metrics = Metrics(
        otlp_reader(otlp_endpoint, metrics_settings.otlp_interval_s) if otlp_endpoint else None
    )
    limits = FallbackLimits(
        _shared_limits(loaded),
        MemoryLimits(),
        clock,
        metrics,
        retry_interval_s=config.limits.redis.retry_interval_s,
    )
    settlements = Settlements(limits, clock)
    budgets = BudgetWatch(metrics, clock)
    wants_embedder = config.edge_worker.embed_in_router or (
        config.cache.enabled and config.cache.semantic
    )
    embedder = RouterEmbedder(config.edge_worker.store) if wants_embedder else None
    cache = AnswerCache(config.cache, clock, embedder)
    cache.shared = _shared_cache(loaded, cache, clock)
    cache_instruments(metrics, cache)
    privacy_actions = PrivacyActionCounts()
    privacy_instruments(metrics, privacy_actions)
    tracing_instruments(metrics, tracing)
    request_metrics = RequestMetrics(
        list(registry.aliases), tenant_label=config.telemetry.metrics.tenant_label
    )
    endpoint_metrics = EndpointMetrics(registry)
    metrics.add_collector(request_metrics)
    metrics.add_collector(endpoint_metrics)
    metrics_push = None
    if otlp_endpoint:
        metrics_push = otlp_push(
            otlp_endpoint,
            metrics_settings.otlp_interval_s,
            config.telemetry.tracing.service_name,
            [request_metrics, endpoint_metrics],
        )
    hedge_budget = HedgeBudget(clock)
    large_bodies = LargeBodyWork()
    affinity = config.routing.affinity
    local_affinity = AffinityTable.of_conversations(affinity, clock)
    local_producers = AffinityTable.of_responses(affinity, clock)
    shared_affinity = (
        _shared_affinity(loaded, local_affinity, affinity.ttl_s) if affinity.enabled else None
    )
    shared_producers = _shared_affinity(loaded, local_producers, affinity.responses_ttl_s)
    pipeline = Pipeline(
        [
            AuthStage(authenticate, config.routing.deadline_s),
            AdmissionStage(limits, settlements, budgets, registry, config.routing, clock, metrics),
            PrivacyStage(large_bodies=large_bodies, actions=privacy_actions),
            ContentLogStage(),
            CacheStage(cache, config.cache, clock),
            RouteStage(
                registry, config.routing, config.estimators.prior_ttft_ms, rng or random.Random()
            ),
            AffinityStage(
                affinity, shared_affinity or local_affinity, shared_producers or local_producers
            ),
            ForwardStage(registry, transport, tracing, clock, hedge_budget, [CascadeJudge()]),
        ],
        tracing.stage_span if config.telemetry.tracing.stage_spans else None,
    )
    created = int(time.time())
    app = web.Application(
        middlewares=[front_door, openai_errors], client_max_size=config.server.max_body_bytes
    )
    app.on_response_prepare.append(stamp_response)
    app[STATE] = RouterState(
        loaded=loaded,
        registry=registry,
        transport=transport,
        pipeline=pipeline,
        tracing=tracing,
        access_log=(access_log or AccessLog()) if config.server.access_log else None,
        authenticate=authenticate,
        settlements=settlements,
        budgets=budgets,
        request_metrics=request_metrics,
        dashboard=DashboardFeed(),
        metrics_push=metrics_push,
        cache=cache,
        limits=limits,
        hedge_budget=hedge_budget,
        edge_worker=EdgeWorkerSupervisor(config.edge_worker) if config.edge_worker.spawn else None,
        embedder=embedder,
        metrics=metrics,
        policy_store=policy_store,
        shared_affinity=tuple(s for s in (shared_affinity, shared_producers) if s is not None),
        clock=clock,
        models_created=created,
        pool=pool,
    )
    ingresses: dict[str, IngressParse] = {
        **{operation.path: _openai_format(operation) for operation in Operation},
        "/responses": parse_responses,
        "/messages": parse_messages,
        "/messages/count_tokens": parse_count_tokens,
    }
    for path, parse in ingresses.items():
        app.router.add_post(
            "/v1" + path,
            _operation_handler(parse, large_bodies),
            expect_handler=_continue_if_authenticated,
        )
    add_model_routes(app)
    add_wrong_hit_routes(app)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    add_admin_routes(app)
    add_dashboard_routes(app)
    app.cleanup_ctx.append(_lifespan)
    return app


def _shared_limits(loaded: LoadedNodeConfig) -> RedisLimits | None:
    settings = loaded.config.limits
    if settings.backend != "redis":
        return None
    return RedisLimits(
        loaded.secrets.redis_url or settings.redis.url,
        key_prefix=settings.redis.key_prefix,
        timeout_s=settings.redis.timeout_ms / 1000.0,
    )


def _shared_affinity(
    loaded: LoadedNodeConfig, local: AffinityTable, ttl_s: float
) -> SharedAffinity | None:
    """Conversations' endpoints (or responses' producers) shared through Redis when the limits
    backend is Redis."""
    config = loaded.config
    if config.limits.backend != "redis":
        return None
    redis = config.limits.redis
    timeout_s = redis.timeout_ms / 1000.0
    return SharedAffinity(
        local,
        redis_client(loaded.secrets.redis_url or redis.url, timeout_s=timeout_s),
        key_prefix=redis.key_prefix,
        ttl_s=ttl_s,
        timeout_s=timeout_s,
    )


def _shared_cache(loaded: LoadedNodeConfig, cache: AnswerCache, clock: Clock) -> SharedCache | None:
    settings = loaded.config.cache
    if not (settings.enabled and settings.shared.enabled):
        return None
    return SharedCache(
        loaded.secrets.cache_redis_url or settings.shared.redis.url,
        settings.shared,
        wall=clock.wall,
        on_entry=cache.adopt,
        on_purge=cache.forget,
        on_forget=cache.forget_entry,
        warm_limit=settings.max_entries,
    )


async def serve(
    app: web.Application,
    listen: socket.socket | tuple[str, int],
    *,
    drain_timeout_s: float = 0.0,
) -> web.AppRunner:
    """Start the app on a bound socket or a (host, port); stop it with `await runner.cleanup()`.

    `runner.cleanup()` stops accepting at once, lets requests and streams in flight finish for up
    to `drain_timeout_s`, then cancels what is left and closes the app's parts (`_lifespan`).
    `handler_cancellation` makes a client disconnect cancel its handler, which closes the
    upstream connection and so stops generation the client no longer wants.

    The front door's connection limits (docs/security.md): the idle keep-alive timeout, header
    line and count limits (aiohttp's), the head timeout and total head size and quiet refusals
    (`EdgeRequestHandler`), and the connection cap.
    """
    state = app[STATE]
    settings = state.loaded.config.server
    # aiohttp's access logger only logs what its own parser refuses; the app logs the rest.
    refusals = None if state.access_log is None else parser_refusals(state.access_log)
    handler_settings: dict[str, Any] = {
        "access_log": None if refusals is None else logging.getLogger("edge_router.access"),
        "access_log_class": refusals or AccessLogger,
        "keepalive_timeout": settings.keepalive_timeout_s,
        "max_line_size": settings.max_header_bytes,
        "max_field_size": settings.max_header_bytes,
        "max_headers": settings.max_headers,
    }
    runner = web.AppRunner(
        app,
        handler_cancellation=True,
        shutdown_timeout=max(drain_timeout_s, _LEAST_DRAIN_S),
        **handler_settings,
    )
    await runner.setup()
    if not isinstance(listen, socket.socket):
        listen = listening_socket(listen[0], listen[1], "the router's server.port")
    server = runner.server
    assert server is not None  # set by setup()
    loop = asyncio.get_running_loop()

    def handler() -> EdgeRequestHandler:
        return EdgeRequestHandler(
            server,
            loop=loop,
            header_read_timeout_s=settings.header_read_timeout_s,
            max_header_total_bytes=settings.max_header_total_bytes,
            **handler_settings,
        )

    max_connections = max_client_connections(settings)
    cap = ConnectionCap(server, handler, max_connections, state.metrics, state.clock)
    await CappedSite(runner, listen, cap).start()
    log.info("accepting at most %d client connections (server.max_connections)", max_connections)
    return runner
