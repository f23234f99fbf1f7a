"""The HTTP face of one region: OpenAI-compatible endpoints with simulated latency and faults.

One catch-all route dispatches by path itself, so unknown URLs get OpenAI's error body rather than
aiohttp's plain-text 404, and the per-request path stays short. The order of events per request is
fixed: count, read and record the body, maybe hang, sample the round trip, maybe inject an error,
check the key, then answer. Delays that are zero are skipped entirely; the benchmark runs the mock
with all delays at zero and a sleep(0) per request would still cost a trip through the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from functools import lru_cache
from typing import Final

from aiohttp import web

from .parsing import RequestRejected, embeddings_request, generation, json_object
from .region_state import RegionState, auth_verdict
from .settings import RegionSettings
from .wire import (
    CompletionStream,
    Kind,
    completion_body,
    embedding_vector,
    embeddings_body,
    error_body,
    model_body,
)

_GENERATION_PATHS: Final[dict[str, Kind]] = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completion",
}
_KNOWN_PATHS: Final = frozenset(
    ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models")
)
_MODELS_PREFIX: Final = "/v1/models/"
_ID_PREFIX: Final[dict[Kind, str]] = {"chat": "chatcmpl", "completion": "cmpl"}


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
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            return await self._json(error_body(exc.text or "", "invalid_request_error"), 413, 0.0)
        auth = auth_verdict(request.headers.get("Authorization"), settings.api_key)
        state.record(
            request.method, request.path, request.query_string, request.headers, auth, body
        )
        rng = state.rng
        if settings.timeout_rate and rng.random() < settings.timeout_rate:
            state.stats.timeouts_injected += 1
            # Never resolved: the wait ends when the client gives up and the handler is cancelled.
            await asyncio.get_running_loop().create_future()
        rtt_s = state.sample_rtt_s(settings)
        if settings.error_rate and rng.random() < settings.error_rate:
            state.stats.errors_injected += 1
            status = settings.error_status
            return await self._json(_injected_error_body(status), status, rtt_s)
        try:
            if settings.api_key is not None and auth != "valid":
                raise _unauthorized(auth)
            return await self._route(request, settings, body, rtt_s)
        except RequestRejected as rejected:
            return await self._json(rejected.body, rejected.status, rtt_s)

    async def _route(
        self, request: web.Request, settings: RegionSettings, body: bytes, rtt_s: float
    ) -> web.StreamResponse:
        method, path = request.method, request.path
        if method == "POST" and (kind := _GENERATION_PATHS.get(path)):
            return await self._generate(request, settings, body, kind, rtt_s)
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
        g = generation(json_object(body), kind, settings)
        response_id = f"{_ID_PREFIX[kind]}-{self._region}-{next(self._ids)}"
        created = int(time.time())
        if g.stream:
            stream = CompletionStream(g, self._region, response_id, created)
            return await self._stream(request, stream, settings, rtt_s)
        delay_s = rtt_s + settings.ttft_ms / 1000
        if settings.tokens_per_s:
            delay_s += g.tokens / settings.tokens_per_s
        return await self._json(
            completion_body(g, self._region, response_id, created), 200, delay_s
        )

    async def _embeddings(
        self, settings: RegionSettings, body: bytes, rtt_s: float
    ) -> web.StreamResponse:
        req = embeddings_request(json_object(body), settings.models)
        dimensions = req.dimensions or settings.embedding_dimensions
        vectors = [embedding_vector(data, dimensions) for data in req.inputs]
        answer = embeddings_body(req.model, vectors, req.encoding_format, req.prompt_tokens)
        return await self._json(answer, 200, rtt_s + settings.ttft_ms / 1000)

    async def _json(self, body: bytes, status: int, delay_s: float) -> web.Response:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        return web.Response(body=body, status=status, headers=self._json_headers)

    async def _stream(
        self,
        request: web.Request,
        stream: CompletionStream,
        settings: RegionSettings,
        rtt_s: float,
    ) -> web.StreamResponse:
        if rtt_s > 0:
            await asyncio.sleep(rtt_s)
        response = web.StreamResponse(headers=self._sse_headers)
        try:
            await response.prepare(request)
            await _write_events(response, stream, settings)
            await response.write_eof()
        except ConnectionResetError:
            raise _ClientGone(response) from None
        return response


async def _write_events(
    response: web.StreamResponse, stream: CompletionStream, settings: RegionSettings
) -> None:
    """Time to first token, then one token every 1/tokens_per_s, on a fixed schedule.

    Each token is due at first + i * interval rather than a sleep after the previous write, so slow
    writes under load do not stretch the stream beyond the configured speed.
    """
    ttft_s = settings.ttft_ms / 1000
    if ttft_s > 0:
        await asyncio.sleep(ttft_s)
    if not settings.tokens_per_s:
        await response.write(stream.everything())
        return
    interval_s = 1 / settings.tokens_per_s
    loop = asyncio.get_running_loop()
    first_s = loop.time()
    await response.write(stream.opening() + (stream.token(0) if stream.tokens else b""))
    for i in range(1, stream.tokens):
        wait_s = first_s + i * interval_s - loop.time()
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        await response.write(stream.token(i))
    await response.write(stream.closing())


def _unauthorized(auth: str) -> RequestRejected:
    if auth == "missing":
        return RequestRejected(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    return RequestRejected(401, "Incorrect API key provided.", code="invalid_api_key")


@lru_cache(maxsize=64)
def _injected_error_body(status: int) -> bytes:
    if status == 429:
        return error_body(
            "Rate limit reached (simulated by the mock cloud).",
            "requests",
            code="rate_limit_exceeded",
        )
    if status >= 500:
        return error_body(
            "The server had an error while processing your request. Sorry about that! "
            "(simulated by the mock cloud)",
            "server_error",
        )
    return error_body(f"Simulated error {status} (mock cloud).", "invalid_request_error")
