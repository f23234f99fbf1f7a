"""The lean client of `loadtest/studies/cache_hits.py`: chat requests built once as whole HTTP/1.1
requests, sent over keep-alive asyncio connections whose answers httptools parses, each timed
from the request's write to the parser's end-of-message callback (the answer's last byte).

Why not aiohttp's client or the openai package: their per-request machinery is not the router's
and is of the order of the exact hit being measured (aiohttp's client alone cost the router about
150 µs per request, docs/benchmarks.md); this costs a write, a parse and a future.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Final, cast

import httptools
import orjson

from loadtest.harness.proxy_settings import LOOPBACK

API_KEY: Final = "sk-cache-bench"
MODEL: Final = "gpt-4o-mini"
# The mock cloud's answer length (its `completion_tokens`): a request does not ask for it with
# `max_tokens`, since an answer cut at that limit (`length`) is never cached.
ANSWER_TOKENS: Final = 128


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    cache: str  # the x-router-cache response header ("" when absent)
    body: bytes
    latency_s: float  # from the request's write to the answer's last byte


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one exchange at a time; the answer is parsed
    by httptools and timed in the parser's callback, when its last byte has arrived."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._reply: asyncio.Future[Reply] | None = None
        self._cache = b""
        self._body = bytearray()
        self._sent_s = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(ConnectionError(f"unparseable answer: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"connection closed: {exc}"))

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"x-router-cache":
            self._cache = value

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        latency_s = time.perf_counter() - self._sent_s
        if self._reply is not None and not self._reply.done():
            status = self._parser.get_status_code()
            reply = Reply(status, self._cache.decode(), bytes(self._body), latency_s)
            self._reply.set_result(reply)

    async def exchange(self, request: bytes) -> Reply:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("connection closed")
        self._reply = asyncio.get_running_loop().create_future()
        self._cache, self._body = b"", bytearray()
        self._sent_s = time.perf_counter()
        self._transport.write(request)
        return await self._reply

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _fail(self, error: Exception) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.set_exception(error)


async def connect(port: int) -> Connection:
    _, protocol = await asyncio.get_running_loop().create_connection(Connection, LOOPBACK, port)
    return protocol


def chat_request(
    port: int,
    question: str,
    *,
    stream: bool = False,
    temperature: float = 0.0,
    directive: str | None = None,
) -> bytes:
    """The whole HTTP request for one chat completion, built once and sent as is."""
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": question}],
        "temperature": temperature,
    }
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    payload = orjson.dumps(body)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n"
    )
    if directive:
        head += f"x-router-cache: {directive}\r\n"
    return (head + "\r\n").encode() + payload


def problem_of(reply: Reply, expect: str, stream: bool) -> str | None:
    """Why an answer is not the one the series expects, or None when it is."""
    if reply.status != 200:
        return f"http {reply.status}"
    if reply.cache != expect:
        return f"x-router-cache: {reply.cache or '(none)'}"
    complete = (
        reply.body.endswith(b"data: [DONE]\n\n") if stream else b'"chat.completion"' in reply.body
    )
    return None if complete else "incomplete body"
