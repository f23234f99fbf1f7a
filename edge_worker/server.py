"""`edge-worker serve`: the local models behind an OpenAI-compatible HTTP API.

`POST /v1/chat/completions` (JSON and SSE), `POST /v1/embeddings` (float and base64) and
`GET /v1/models`, on a loopback port or a Unix socket, for the router to treat as one more
endpoint. Generation runs in the engine's threads and embedding in the batching embedder's
thread: the event loop only moves bytes. A client that goes away cancels its generation (aiohttp's
handler cancellation): its row of the batch stops at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import orjson
from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from edge_worker.embedder import BatchingEmbedder
from edge_worker.engine import Engine, QueueFull
from edge_worker.generator import Piece
from edge_worker.metrics import WorkerMetrics
from edge_worker.wire import (
    BadRequest,
    chat_completion,
    chunk,
    completion_id,
    embeddings_response,
    parse_chat,
    parse_embeddings,
    usage_chunk,
)

JSON = "application/json"
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


@dataclass(frozen=True)
class WorkerModels:
    generator_id: str
    embedder_id: str
    context_tokens: int
    engine: Engine
    embedder: BatchingEmbedder


MODELS = web.AppKey("worker_models", WorkerModels)
METRICS = web.AppKey("worker_metrics", WorkerMetrics)


def _error(status: int, message: str, kind: str, param: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": param, "code": None}}
    return web.Response(status=status, body=orjson.dumps(body), content_type=JSON)


@web.middleware
async def openai_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadRequest as bad:
        return _error(400, str(bad), "invalid_request_error", bad.param)
    except QueueFull as full:
        return _error(429, f"The local model is busy ({full}); retry later.", "requests")


async def _json_body(request: web.Request) -> object:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise BadRequest("The body is not valid JSON.") from None


def _check_model(requested: str, served: str) -> None:
    if requested != served:
        raise BadRequest(f"The model `{requested}` is not served here (`{served}` is).", "model")


async def chat_completions(request: web.Request) -> web.StreamResponse:
    models = request.app[MODELS]
    chat = parse_chat(await _json_body(request), models.context_tokens)
    _check_model(chat.model, models.generator_id)
    generator = models.engine.generator
    prompt_ids = generator.prompt_ids(chat.messages)
    if len(prompt_ids) + chat.sampling.max_tokens > models.context_tokens:
        raise BadRequest(
            f"The prompt ({len(prompt_ids)} tokens) plus max_tokens exceeds the model's "
            f"context of {models.context_tokens} tokens.",
            "messages",
        )
    pieces = models.engine.generate(prompt_ids, chat.sampling)
    request_id = completion_id()
    if not chat.stream:
        collected = [piece async for piece in pieces]
        body = chat_completion(
            request_id, chat.model, collected, len(prompt_ids), chat.sampling.logprobs
        )
        return web.Response(body=orjson.dumps(body), content_type=JSON)
    first = await anext(pieces, None)  # QueueFull surfaces here, before any byte is sent
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(request)
    await _send(response, chunk(request_id, chat.model, {"role": "assistant", "content": ""}))
    count = 0
    finish: str | None = None
    try:
        next_piece: Piece | None = first
        while next_piece is not None:
            count += 1
            finish = next_piece.finish_reason
            logprobs = [next_piece] if chat.sampling.logprobs else None
            if next_piece.text or logprobs:
                delta = {"content": next_piece.text}
                await _send(response, chunk(request_id, chat.model, delta, None, logprobs))
            next_piece = await anext(pieces, None)
    finally:
        await pieces.aclose()  # a client gone mid-stream stops the generation here
    await _send(response, chunk(request_id, chat.model, {}, finish or "length"))
    if chat.include_usage:
        await _send(response, usage_chunk(request_id, chat.model, len(prompt_ids), count))
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def _send(response: web.StreamResponse, event: dict[str, object]) -> None:
    await response.write(b"data: " + orjson.dumps(event) + b"\n\n")


async def embeddings(request: web.Request) -> web.Response:
    models = request.app[MODELS]
    wanted = parse_embeddings(await _json_body(request))
    _check_model(wanted.model, models.embedder_id)
    vectors = await models.embedder.embed(wanted.texts)
    tokens = models.embedder.token_count(wanted.texts)
    body = embeddings_response(wanted.model, vectors, wanted.base64, tokens)
    return web.Response(body=orjson.dumps(body), content_type=JSON)


async def list_models(request: web.Request) -> web.Response:
    models = request.app[MODELS]
    created = int(time.time())
    data = [
        {"id": model, "object": "model", "created": created, "owned_by": "edge-worker"}
        for model in (models.generator_id, models.embedder_id)
    ]
    return web.Response(body=orjson.dumps({"object": "list", "data": data}), content_type=JSON)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    engine = request.app[MODELS].engine
    body = {"status": "ok", "running": engine.running, "admitted": engine.admitted}
    return web.Response(body=orjson.dumps(body), content_type=JSON)


def build_worker_app(models: WorkerModels) -> web.Application:
    app = web.Application(middlewares=[openai_errors], client_max_size=4 * 1024 * 1024)
    app[MODELS] = models
    app[METRICS] = WorkerMetrics(models.engine, models.embedder)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(models.engine.close)
        await asyncio.to_thread(models.embedder.close)

    app.cleanup_ctx.append(lifespan)
    return app
