"""A large body is scanned for PII off the event loop, a small one in place: the structure that
keeps one request from holding every other one (tests/privacy/test_scan_is_linear.py bounds the
work itself)."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import make_mocked_request
from opentelemetry.trace import INVALID_SPAN

from router.context import RequestContext
from router.privacy.request_redaction import RedactedRequest, redact_request
from router.stages.privacy import SCAN_ON_LOOP_MAX_BYTES, PrivacyStage
from router.wire.requests import Operation, parse_request


def _context(text: str) -> RequestContext:
    raw = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": text}]})
    return RequestContext(
        request=make_mocked_request("POST", "/v1/chat/completions"),
        parsed=parse_request(Operation.CHAT, raw),
        span=INVALID_SPAN,
        started_s=0.0,
        deadline_s=60.0,
    )


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
    assert await PrivacyStage(scan)(ctx) is None
    (thread,) = scan.threads
    assert (thread is threading.current_thread()) is on_loop
    assert ctx.decision.privacy.endswith("pii=email")  # scanned all the same


@pytest.mark.asyncio
async def test_a_large_body_still_gets_the_tenants_action() -> None:
    ctx = _context("card 4111 1111 1111 1111 " * 2000)
    assert len(ctx.parsed.raw) > SCAN_ON_LOOP_MAX_BYTES
    assert await PrivacyStage()(ctx) is None
    assert ctx.pii is not None and ctx.pii.kinds == ("card",)
