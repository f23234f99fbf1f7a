"""A collector's OTLP/HTTP endpoint on a loopback port, for tests of what the router exports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def otlp_receiver(
    path: str, handle: Callable[[web.Request], Awaitable[web.Response]]
) -> AsyncIterator[str]:
    """`POST path` answered by `handle`; yields the endpoint's URL."""
    app = web.Application()
    app.router.add_post(path, handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}{path}"
    finally:
        await runner.cleanup()
