"""A minimal OTLP/HTTP trace receiver for measuring what tracing costs the router.

It accepts `POST /v1/traces` (protobuf or JSON), counts requests and bytes, and answers 200 with
an empty export response, so the router's real OTLP exporter runs end to end on loopback. It
keeps nothing; `GET /stats` reports the counts.

    python -m loadtest.studies.otlp_sink --listen 127.0.0.1:4318
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web

from router.cli import until_stopped

_STATS = web.AppKey("stats", dict[str, int])


async def _traces(request: web.Request) -> web.Response:
    body = await request.read()
    stats = request.app[_STATS]
    stats["exports"] += 1
    stats["bytes"] += len(body)
    return web.Response(body=b"", content_type=request.content_type or "application/x-protobuf")


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STATS])


def sink_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[_STATS] = {"exports": 0, "bytes": 0}
    app.router.add_post("/v1/traces", _traces)
    app.router.add_get("/stats", _stats)
    return app


async def _serve(host: str, port: int) -> None:
    runner = web.AppRunner(sink_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    print(f"otlp sink on http://{host}:{port}/v1/traces", flush=True)
    await until_stopped()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:4318")
    host, _, port = parser.parse_args().listen.rpartition(":")
    asyncio.run(_serve(host, int(port)))


if __name__ == "__main__":
    main()
