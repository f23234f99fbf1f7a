"""A loopback server answering one POST path with fixed bytes as an SSE stream, written in
odd-sized pieces so that events arrive split across reads: for checking that the official clients
read a translated stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

_PIECE_BYTES = 37


@asynccontextmanager
async def serving_sse(path: str, body: bytes) -> AsyncIterator[str]:
    """The server's base URL (`http://127.0.0.1:<port>`) while it serves `body` at `path`."""

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for start in range(0, len(body), _PIECE_BYTES):
            await response.write(body[start : start + _PIECE_BYTES])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post(path, answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
