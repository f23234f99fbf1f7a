"""The one place an answer is written: a real aiohttp server on loopback, a real client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web

from router.answer import Answer
from router.answer_writer import write_answer
from router.errors import UpstreamTimeout
from tests.request_context import chat_context

RAW = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'


class _Scripted:
    """Chunks from a list; an exception in the list is raised there; records its closing."""

    def __init__(self, script: list[bytes | BaseException], gate: asyncio.Event | None = None):
        self._script = script
        self._gate = gate
        self.closed = asyncio.Event()
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for item in self._script:
            if isinstance(item, BaseException):
                raise item
            if self._gate is not None and self.sent == 1:
                await self._gate.wait()  # hold the stream after its first chunk
            self.sent += 1
            yield item

    async def aclose(self) -> None:
        self.closed.set()


class _Holding:
    """Holds back every chunk until the stream ends; records how it ended."""

    def __init__(self) -> None:
        self.held = b""
        self.ended: list[bool] = []

    def body(self, body: bytes) -> bytes:
        return body.upper()

    def feed(self, chunk: bytes) -> bytes:
        self.held += chunk
        return b""

    def finish(self, complete: bool) -> bytes:
        self.ended.append(complete)
        held, self.held = self.held, b""
        return held.upper()


def _filtered(chunks: _Scripted, answer_filter: _Holding) -> Answer:
    answer = Answer(chunks=chunks)
    answer.wrap(answer_filter)
    return answer


async def _serve(make: Callable[[], Answer]) -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await write_answer(request, chat_context(RAW), make())

    app = web.Application()
    app.router.add_post("/", handle)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/"


@pytest.mark.asyncio
async def test_a_json_answer_goes_out_through_its_filters_with_the_answers_headers() -> None:
    answer = Answer(body=b'{"a": 1}', headers={"x-router-cache-entry": "k"})
    answer.wrap(_Holding())
    runner, url = await _serve(lambda: answer)
    try:
        async with aiohttp.ClientSession() as session, session.post(url) as response:
            assert response.headers["content-type"].startswith("application/json")
            assert response.headers["x-router-cache-entry"] == "k"
            assert await response.read() == b'{"A": 1}'
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_a_stream_without_filters_is_relayed_chunk_for_chunk_and_closed() -> None:
    chunks = _Scripted([b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n"])
    runner, url = await _serve(lambda: Answer(chunks=chunks))
    try:
        async with aiohttp.ClientSession() as session, session.post(url) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert await response.read() == b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n"
        assert chunks.closed.is_set()
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_what_a_filter_held_back_goes_out_before_the_error_event_of_a_broken_stream() -> None:
    chunks = _Scripted([b"data: a\n\n", UpstreamTimeout("the upstream stalled", endpoint="e")])
    holding = _Holding()

    runner, url = await _serve(lambda: _filtered(chunks, holding))
    try:
        async with aiohttp.ClientSession() as session, session.post(url) as response:
            body = await response.read()
        assert body.startswith(b"DATA: A\n\ndata: ")
        assert b'"error"' in body and b"the upstream stalled" in body
        assert holding.ended == [False] and chunks.closed.is_set()
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_a_client_that_leaves_mid_stream_closes_the_stream_and_its_filters_end() -> None:
    gate = asyncio.Event()
    chunks = _Scripted([b"data: 1\n\n", b"data: 2\n\n"], gate)
    holding = _Holding()

    runner, url = await _serve(lambda: _filtered(chunks, holding))
    try:
        async with aiohttp.ClientSession() as session:
            response = await session.post(url)
            response.close()  # gone after the head
        await asyncio.wait_for(chunks.closed.wait(), 5)
        assert holding.ended == [False]
    finally:
        gate.set()
        await runner.cleanup()
