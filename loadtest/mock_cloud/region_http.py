"""The HTTP face of one region: OpenAI's and Anthropic's endpoints, with simulated latency and
faults.

One catch-all route dispatches by path itself, so unknown URLs get an API's error body rather than
aiohttp's plain-text 404, and the per-request path stays short. The order of events per request is
fixed: count, read and record the body, maybe hang, sample the round trip, maybe inject an error,
check that the region speaks the API and the key, let the region's fault mode (`faults`) act on a
generation request, then answer. Errors take the shape of the API the path belongs to:
Anthropic's on the Messages paths (whose key is in `x-api-key` or a bearer token), OpenAI's
elsewhere. Delays that are zero are skipped entirely; the benchmark runs the mock
with all delays at zero and a sleep(0) per request would still cost a trip through the event loop.

Chat, Responses and Messages prompts go through the region's prompt cache; while it is on
(`prompt_cache`), their answers say the request's own simulated time to first token in
`x-mock-ttft-ms`, so a test compares it instead of timing the wire.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Mapping
from typing import Final

from aiohttp import web

from .errors import ApiError, Dialect, RequestRejected, injected_error
from .faults import (
    FaultAction,
    FaultAnswer,
    hang,
    request_fault,
    reset_connection,
    stream_fault,
)
from .native_apis import JsonReply, NativeApis, Reply
from .parsing import embeddings_request, generation, json_object
from .prompt_cache import chat_prompt
from .region_state import AuthVerdict, RegionState, api_key_verdict, auth_verdict
from .settings import RegionSettings
from .streaming import EventStream, answer_delay_s, write_events
from .wire import (
    Billed,
    CompletionStream,
    Kind,
    completion_body,
    embedding_vector,
    embeddings_body,
    model_body,
)

_GENERATION_PATHS: Final[dict[str, Kind]] = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completion",
}
# The paths of the APIs a region may not speak (`RegionSettings.apis`).
_API_OF_PATH: Final = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/messages": "messages",
    "/v1/messages/count_tokens": "messages",
}
_ANTHROPIC_PATHS: Final = frozenset(("/v1/messages", "/v1/messages/count_tokens"))
# The generation requests a fault mode acts on, by API (`RegionSettings.fault`).
_FAULT_PATHS: Final = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/messages": "messages",
}
_KNOWN_PATHS: Final = frozenset(("/v1/completions", "/v1/embeddings", "/v1/models", *_API_OF_PATH))
_MODELS_PREFIX: Final = "/v1/models/"
_ID_PREFIX: Final[dict[Kind, str]] = {"chat": "chatcmpl", "completion": "cmpl"}
TTFT_HEADER: Final = "x-mock-ttft-ms"


class _ClientGone(Exception):
    """A write found the client's connection closed; the prepared response goes back to aiohttp."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__()
        self.response = response


class RegionHandler:
    def __init__(self, state: RegionState) -> None:
        self._state = state
        self._region = state.settings.name
        self._json_headers = {"Content-Type": "application/json", "x-mock-region": self._region}
        self._sse_headers = {
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "x-mock-region": self._region,
        }
        self._ids = itertools.count(1)
        self._native = NativeApis(state, self._ids)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        stats = self._state.stats
        stats.requests_total += 1
        stats.by_path[request.path] = stats.by_path.get(request.path, 0) + 1
        stats.in_flight += 1
        try:
            response = await self._answer(request)
        except asyncio.CancelledError:
            # The runner cancels handlers whose client disconnected (handler_cancellation=True).
            stats.cancelled += 1
            raise
        except _ClientGone as gone:
            stats.cancelled += 1
            return gone.response
        else:
            stats.completed += 1
            return response
        finally:
            stats.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        state = self._state
        settings = state.settings
        dialect: Dialect = "anthropic" if request.path in _ANTHROPIC_PATHS else "openai"
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            too_large = ApiError(413, exc.text or "Request entity too large")
            return await self._json(too_large.body(dialect), 413, 0.0)
        headers = request.headers
        # Anthropic reads `x-api-key`, or else `Authorization: Bearer` (which its Python client
        # sends since 2.x); OpenAI reads the latter only.
        if dialect == "anthropic" and "x-api-key" in headers:
            credential = "x-api-key"
            auth = api_key_verdict(headers["x-api-key"], settings.api_key)
        else:
            credential = "authorization"
            auth = auth_verdict(headers.get("Authorization"), settings.api_key)
        state.record(
            request.method, request.path, request.query_string, headers, auth, body, credential
        )
        rng = state.rng
        if settings.timeout_rate and rng.random() < settings.timeout_rate:
            state.stats.timeouts_injected += 1
            # Never resolved: the wait ends when the client gives up and the handler is cancelled.
            await asyncio.get_running_loop().create_future()
        rtt_s = state.sample_rtt_s(settings)
        if settings.error_rate and rng.random() < settings.error_rate:
            state.stats.errors_injected += 1
            error = injected_error(settings.error_status, dialect)
            return await self._json(error.body(dialect), error.status, rtt_s)
        try:
            api = _API_OF_PATH.get(request.path)
            if api is not None and api not in settings.apis:
                raise _not_found(request, dialect)
            if settings.api_key is not None and auth != "valid":
                raise _unauthorized(auth, dialect)
            fault_api = _FAULT_PATHS.get(request.path) if settings.fault is not None else None
            if fault_api is not None and request.method == "POST":
                fault = request_fault(settings, state.faults, fault_api, body)
                if fault is not None:
                    state.stats.faults_injected += 1
                    if isinstance(fault, FaultAnswer):
                        error = fault.error
                        return await self._json(
                            error.body(dialect), error.status, rtt_s, headers=fault.headers
                        )
                    settings = await _act(request, fault, settings)
            return await self._route(request, settings, body, rtt_s)
        except RequestRejected as rejected:
            return await self._json(rejected.error.body(dialect), rejected.status, rtt_s)

    async def _route(
        self, request: web.Request, settings: RegionSettings, body: bytes, rtt_s: float
    ) -> web.StreamResponse:
        method, path = request.method, request.path
        if method == "POST" and (kind := _GENERATION_PATHS.get(path)):
            return await self._generate(request, settings, body, kind, rtt_s)
        if method == "POST" and path == "/v1/responses":
            reply = self._native.responses(settings, body, self._inband_error)
            return await self._reply(request, reply, settings, rtt_s)
        if method == "POST" and path == "/v1/messages":
            reply = self._native.messages(request.headers, settings, body, self._inband_error)
            return await self._reply(request, reply, settings, rtt_s)
        if method == "POST" and path == "/v1/messages/count_tokens":
            reply = self._native.count_tokens(request.headers, settings, body)
            return await self._reply(request, reply, settings, rtt_s)
        if method == "POST" and path == "/v1/embeddings":
            return await self._embeddings(settings, body, rtt_s)
        if method == "GET" and path == "/v1/models":
            return await self._json(self._state.models_body, 200, rtt_s)
        if method == "GET" and path.startswith(_MODELS_PREFIX):
            model_id = path[len(_MODELS_PREFIX) :]
            if model_id not in settings.models:
                raise RequestRejected(
                    404,
                    f"The model '{model_id}' does not exist",
                    param="model",
                    code="model_not_found",
                )
            return await self._json(model_body(model_id), 200, rtt_s)
        known = path in _KNOWN_PATHS or path.startswith(_MODELS_PREFIX)
        raise RequestRejected(405 if known else 404, f"Invalid URL ({method} {path})")

    async def _generate(
        self, request: web.Request, settings: RegionSettings, body: bytes, kind: Kind, rtt_s: float
    ) -> web.StreamResponse:
        data = json_object(body)
        g = generation(data, kind, settings)
        prompt = chat_prompt(data) if kind == "chat" and settings.prompt_cache else []
        served = self._state.serve_prompt(settings, prompt, g.prompt_tokens)
        if served.cached_tokens:
            g = dataclasses.replace(g, cached_tokens=served.cached_tokens)
        response_id = f"{_ID_PREFIX[kind]}-{self._region}-{next(self._ids)}"
        created = int(time.time())
        if g.stream:
            stream = CompletionStream(g, self._region, response_id, created)
            inband_error = self._inband_error(settings)
            return await self._stream(
                request, stream, settings, rtt_s, inband_error, served.ttft_ms
            )
        delay_s = rtt_s + answer_delay_s(settings, g.tokens, served.ttft_ms)
        body = completion_body(g, self._region, response_id, created)
        ttft_ms = _said_ttft_ms(settings, served.ttft_ms)
        return await self._json(body, 200, delay_s, ttft_ms, billed=g.billed())

    async def _embeddings(
        self, settings: RegionSettings, body: bytes, rtt_s: float
    ) -> web.StreamResponse:
        req = embeddings_request(json_object(body), settings.models)
        dimensions = req.dimensions or settings.embedding_dimensions
        vectors = [embedding_vector(data, dimensions) for data in req.inputs]
        answer = embeddings_body(req.model, vectors, req.encoding_format, req.prompt_tokens)
        return await self._json(answer, 200, rtt_s + settings.ttft_ms / 1000)

    async def _json(
        self,
        body: bytes,
        status: int,
        delay_s: float,
        ttft_ms: float | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        billed: Billed | None = None,
    ) -> web.Response:
        """`ttft_ms`, when given, is said in `TTFT_HEADER`; `headers` are added; `billed`, the
        usage the body reports, is billed once the answer is due (a client gone before is not)."""
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        if billed is not None:
            self._state.stats.bill(billed)
        all_headers = self._json_headers
        if ttft_ms is not None or headers:
            all_headers = {**all_headers, **(headers or {})}
            if ttft_ms is not None:
                all_headers[TTFT_HEADER] = _ms_text(ttft_ms)
        return web.Response(body=body, status=status, headers=all_headers)

    async def _reply(
        self, request: web.Request, reply: Reply, settings: RegionSettings, rtt_s: float
    ) -> web.StreamResponse:
        if isinstance(reply, JsonReply):
            ttft_ms = None if reply.ttft_ms is None else _said_ttft_ms(settings, reply.ttft_ms)
            delay_s = rtt_s + reply.delay_s
            return await self._json(reply.body, 200, delay_s, ttft_ms, billed=reply.billed)
        return await self._stream(
            request, reply.stream, settings, rtt_s, reply.inband_error, reply.ttft_ms
        )

    async def _stream(
        self,
        request: web.Request,
        stream: EventStream,
        settings: RegionSettings,
        rtt_s: float,
        inband_error: bool,
        ttft_ms: float,
    ) -> web.StreamResponse:
        if rtt_s > 0:
            await asyncio.sleep(rtt_s)
        headers = self._sse_headers
        if settings.prompt_cache:
            headers = {**headers, TTFT_HEADER: _ms_text(ttft_ms)}
        response = web.StreamResponse(headers=headers)
        fault = stream_fault(settings) if request.path in _FAULT_PATHS else None
        if fault is not None:
            self._state.stats.faults_injected += 1
        if fault == "missing_done":
            response.force_close()  # the connection closes as the body ends, in good order
        try:
            await response.prepare(request)
            await write_events(response, stream, settings, inband_error, ttft_ms, fault)
            if fault == "stream_cut":
                # Closed mid-body: the written events are flushed, the terminating chunk never is.
                if request.transport is not None:
                    request.transport.close()
                await hang()
            elif fault == "stall":
                await hang()
            else:
                await response.write_eof()
                # Billed once the usage was written: never for a cut, stalled or failed stream.
                if stream.billed is not None:
                    self._state.stats.bill(stream.billed)
        except ConnectionResetError:
            raise _ClientGone(response) from None
        return response

    def _inband_error(self, settings: RegionSettings) -> bool:
        """Whether a stream about to start fails in band (`inband_error_rate`); never while a
        stream fault is set, so that a stream suffers one fault at a time."""
        if stream_fault(settings) is not None:
            return False
        rate = settings.inband_error_rate
        if rate and self._state.rng.random() < rate:
            self._state.stats.inband_errors_injected += 1
            return True
        return False


async def _act(
    request: web.Request, action: FaultAction, settings: RegionSettings
) -> RegionSettings:
    """A fault's own action; the settings the request is then answered with. `reset` and
    `no_response` return only by cancellation, when the connection is gone."""
    if action == "reset":
        reset_connection(request.transport)
        await hang()
    elif action == "no_response":
        await hang()
    elif action == "slow_ttft":
        await asyncio.sleep(settings.fault_ttft_ms / 1000)
    elif action == "content_filter":
        return dataclasses.replace(settings, answer_kind="content_filter")
    return settings


def _said_ttft_ms(settings: RegionSettings, ttft_ms: float) -> float | None:
    """The time to first token an answer says in `TTFT_HEADER`: only while the prompt cache,
    which makes it differ from `ttft_ms`, is on."""
    return ttft_ms if settings.prompt_cache else None


def _ms_text(ms: float) -> str:
    return f"{ms:.3f}".rstrip("0").rstrip(".")


def _not_found(request: web.Request, dialect: Dialect) -> RequestRejected:
    """A path of an API the region does not speak, answered as a server without it would."""
    if dialect == "anthropic":
        return RequestRejected(404, f"Not found: {request.method} {request.path}")
    return RequestRejected(404, f"Invalid URL ({request.method} {request.path})")


def _unauthorized(auth: AuthVerdict, dialect: Dialect) -> RequestRejected:
    if dialect == "anthropic":
        message = "x-api-key header is required" if auth == "missing" else "invalid x-api-key"
        return RequestRejected(401, message)
    if auth == "missing":
        return RequestRejected(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    return RequestRejected(401, "Incorrect API key provided.", code="invalid_api_key")
