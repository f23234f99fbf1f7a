"""An edge worker serving the prepared models on a loopback port, in the test's event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from edge_worker.server import WorkerModels, build_worker_app
from edge_worker.serving import ServeSettings, open_models
from tests.edge_worker.prepared import store


@asynccontextmanager
async def running_worker(models: WorkerModels | None = None) -> AsyncIterator[str]:
    """The worker's base URL (`http://host:port`); `models` default to the prepared store's.
    A client that goes away cancels its handler, as with `edge-worker serve`."""
    app = build_worker_app(models or open_models(ServeSettings(store=store())))
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
