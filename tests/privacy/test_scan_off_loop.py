"""A large body is parsed and scanned for PII off the event loop, one at a time, a small one in
place: the structure that keeps one request from holding every other one
(tests/privacy/test_scan_is_linear.py bounds the work itself, tests/privacy/test_scan_slices.py
each call of it)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import orjson
import pytest

from router.context import RequestContext
from router.privacy.findings import findings
from router.privacy.request_redaction import RedactedRequest, redact_request
from router.stages.privacy import SCAN_ON_LOOP_MAX_BYTES, PrivacyStage
from router.wire.large_bodies import ON_LOOP_MAX_BYTES, LargeBodyWork
from router.wire.requests import Operation, ParsedRequest, parse_request
from tests.request_context import chat_context

P = ParamSpec("P")
R = TypeVar("R")


def _context(text: str) -> RequestContext:
    raw = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": text}]})
    return chat_context(raw)


class _RecordingScan:
    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def __call__(self, body: dict[str, Any]) -> RedactedRequest | None:
        self.threads.append(threading.current_thread())
        return redact_request(body)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("size", "on_loop"),
    [(100, True), (SCAN_ON_LOOP_MAX_BYTES - 200, True), (SCAN_ON_LOOP_MAX_BYTES + 1, False)],
)
async def test_only_a_large_body_is_scanned_off_the_event_loop(size: int, on_loop: bool) -> None:
    scan = _RecordingScan()
    ctx = _context("write to ana@example.com " + "x" * size)
    assert await PrivacyStage(scan).on_request(ctx) is None
    (thread,) = scan.threads
    assert (thread is threading.current_thread()) is on_loop
    assert ctx.decision.privacy.endswith("pii=email")  # scanned all the same


@pytest.mark.asyncio
async def test_a_large_body_still_gets_the_tenants_action() -> None:
    ctx = _context("card 4111 1111 1111 1111 " * 2000)
    assert len(ctx.parsed.raw) > SCAN_ON_LOOP_MAX_BYTES
    assert await PrivacyStage().on_request(ctx) is None
    found = findings(ctx).found
    assert found is not None and found.kinds == ("card",)


class _RecordingWork(LargeBodyWork):
    """Records the thread each piece of work ran in, and how many ran at once at most."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[threading.Thread] = []
        self.running = self.most_at_once = 0

    async def run_for(
        self, body_bytes: int, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        def recorded(*args: P.args, **kwargs: P.kwargs) -> R:
            self.threads.append(threading.current_thread())
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            try:
                threading.Event().wait(0.01)  # long enough for the other one to start, if it can
                return function(*args, **kwargs)
            finally:
                self.running -= 1

        return await super().run_for(body_bytes, recorded, *args, **kwargs)


def _raw(size: int) -> bytes:
    text = "write to ana@example.com " + "x" * size
    return orjson.dumps({"model": "m", "messages": [{"role": "user", "content": text}]})


@pytest.mark.asyncio
@pytest.mark.parametrize(("size", "on_loop"), [(100, True), (ON_LOOP_MAX_BYTES + 1, False)])
async def test_only_a_large_body_is_parsed_off_the_event_loop(size: int, on_loop: bool) -> None:
    work = _RecordingWork()
    raw = _raw(size)
    parsed = await work.run_for(len(raw), parse_request, Operation.CHAT, raw)
    assert isinstance(parsed, ParsedRequest) and parsed.raw is raw
    (thread,) = work.threads
    assert (thread is threading.current_thread()) is on_loop


@pytest.mark.asyncio
async def test_large_bodies_are_parsed_and_scanned_one_at_a_time() -> None:
    work = _RecordingWork()
    stage = PrivacyStage(large_bodies=work)
    ctx = _context("card 4111 1111 1111 1111 " * 400)
    raw = _raw(2 * ON_LOOP_MAX_BYTES)
    await asyncio.gather(
        stage.on_request(ctx),
        work.run_for(len(raw), parse_request, Operation.CHAT, raw),
        work.run_for(len(raw), parse_request, Operation.CHAT, raw),
    )
    assert len(work.threads) == 3 and threading.current_thread() not in work.threads
    assert work.most_at_once == 1
