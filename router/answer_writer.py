"""Writes a pipeline's `Answer` to the client: the one place an answer becomes aiohttp's.

A JSON answer goes out whole, through its filters. A stream is relayed chunk by chunk through its
filters (none: passed through untouched), then the filters finish: what they held back is sent
and they learn whether the stream ended normally. When the stream breaks after its first byte
(an upstream error, too late to fail over), what the filters held back is sent, then a terminal
error event that the OpenAI clients raise as an `APIError`. When the client goes away, the stream
is closed, which closes the upstream connection and so stops its generation. The stream's
`aclose` is always awaited, after the filters finished.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from time import perf_counter

from aiohttp import web

from router.answer import Answer, AnswerFilter, Chunks
from router.context import RequestContext
from router.errors import UpstreamError
from router.wire.sse import SSE_HEADERS

JSON = "application/json"


async def write_answer(
    request: web.Request, ctx: RequestContext, answer: Answer
) -> web.StreamResponse:
    headers = {**ctx.decision.headers(), **answer.headers}
    chunks = answer.chunks
    if chunks is None:
        return web.Response(body=answer.filtered_body(), content_type=JSON, headers=headers)
    try:
        response = web.StreamResponse(headers={**SSE_HEADERS, **headers})
        await response.prepare(request)
        await _relay(response, ctx, answer, chunks)
    finally:
        await chunks.aclose()
    return response


async def _relay(
    response: web.StreamResponse, ctx: RequestContext, answer: Answer, chunks: Chunks
) -> None:
    filters = answer.filters
    finished = False
    try:
        async for chunk in chunks:
            if filters:
                chunk = _feed(filters, chunk)
                if not chunk:
                    continue
            if ctx.first_byte_at is None:
                ctx.first_byte_at = perf_counter()
            await response.write(chunk)
        finished = True
        held = _finish(filters, complete=True)
        if held:
            await response.write(held)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away: not the endpoint's fault, nothing more to send
    except UpstreamError as error:
        finished = True
        held = _finish(filters, complete=False)
        with contextlib.suppress(ConnectionResetError):
            await response.write(held + answer.terminal_error(error))
            await response.write_eof()
    finally:
        if not finished:  # the client left (or the handler was cancelled)
            _finish(filters, complete=False)


def _feed(filters: Sequence[AnswerFilter], chunk: bytes) -> bytes:
    for answer_filter in filters:
        chunk = answer_filter.feed(chunk)
        if not chunk:
            return b""
    return chunk


def _finish(filters: Sequence[AnswerFilter], *, complete: bool) -> bytes:
    """Each filter's held-back bytes, passed through the filters after it, and each told."""
    out = b""
    for answer_filter in filters:
        if out:
            out = answer_filter.feed(out)
        out += answer_filter.finish(complete)
    return out
