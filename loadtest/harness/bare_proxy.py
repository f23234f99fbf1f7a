"""The floor a Python proxy pays: a bare aiohttp pass-through to one upstream.

No parsing, no routing, no retries. It forwards the method, path and query, the body and the
`Content-Type` (plus `Authorization`, which any real proxy must carry or replace) over one pooled
keep-alive `ClientSession`, and streams the answer back chunk by chunk as it arrives. Whatever
latency this adds over talking to the upstream directly is the cost of aiohttp + uvloop themselves;
the router's overhead is judged against it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Final

import aiohttp
import yarl
from aiohttp import hdrs, web

UPSTREAM_SESSION: Final = web.AppKey("upstream_session", aiohttp.ClientSession)
UPSTREAM_BASE_URL: Final = web.AppKey("upstream_base_url", str)

_FORWARDED_REQUEST_HEADERS: Final = (hdrs.CONTENT_TYPE, hdrs.AUTHORIZATION)
_FORWARDED_RESPONSE_HEADERS: Final = (hdrs.CONTENT_TYPE, hdrs.CONTENT_LENGTH, hdrs.CONTENT_ENCODING)


def build_app(upstream_base_url: str) -> web.Application:
    """An app forwarding every path to `upstream_base_url` (scheme://host:port, no path)."""
    app = web.Application()
    app[UPSTREAM_BASE_URL] = upstream_base_url.rstrip("/")
    app.cleanup_ctx.append(_upstream_session)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


async def _upstream_session(app: web.Application) -> AsyncIterator[None]:
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60.0),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=5.0),
        cookie_jar=aiohttp.DummyCookieJar(),
        # The body is passed through untouched, so ask for it uncompressed and never decode it.
        auto_decompress=False,
        skip_auto_headers=(hdrs.ACCEPT_ENCODING,),
    )
    app[UPSTREAM_SESSION] = session
    yield
    await session.close()


async def forward(request: web.Request) -> web.StreamResponse:
    app = request.app
    url = yarl.URL(app[UPSTREAM_BASE_URL] + request.raw_path, encoded=True)
    headers = {
        name: value
        for name in _FORWARDED_REQUEST_HEADERS
        if (value := request.headers.get(name)) is not None
    }
    body = await request.read()
    try:
        upstream = await app[UPSTREAM_SESSION].request(
            request.method, url, data=body, headers=headers
        )
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return web.json_response(
            {"error": {"message": f"upstream unreachable: {exc!r}", "type": "bad_gateway"}},
            status=502,
        )
    async with upstream:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name in _FORWARDED_RESPONSE_HEADERS:
            if (value := upstream.headers.get(name)) is not None:
                response.headers[name] = value
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
    return response


def _parse_host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


async def serve(listen_host: str, listen_port: int, upstream_base_url: str) -> None:
    """Serve until SIGINT or SIGTERM."""
    runner = web.AppRunner(build_app(upstream_base_url), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, listen_host, listen_port, backlog=4096)
        await site.start()
        print(
            f"bare proxy listening on http://{listen_host}:{listen_port} -> {upstream_base_url}",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    import uvloop

    parser = argparse.ArgumentParser(
        prog="python -m loadtest.harness.bare_proxy",
        description="Bare aiohttp pass-through proxy: the floor for the router's overhead.",
    )
    parser.add_argument(
        "--listen", type=_parse_host_port, default=("127.0.0.1", 8090), help="HOST:PORT"
    )
    parser.add_argument(
        "--upstream", required=True, help="scheme://host:port, no path: http://127.0.0.1:9101"
    )
    args = parser.parse_args(argv)
    host, port = args.listen
    uvloop.run(serve(host, port, args.upstream))
    return 0


if __name__ == "__main__":
    sys.exit(main())
