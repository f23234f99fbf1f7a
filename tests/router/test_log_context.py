"""Every log line written while a request is handled carries that request's id: the same id as
its `x-request-id` and its access-log line (router/telemetry/log_context.py)."""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import pytest

import router.server
from router.telemetry.log_context import LOG_FORMAT, RequestIdFilter
from tests.stack import API_KEY, running_stack


@pytest.mark.asyncio
async def test_a_line_logged_within_a_request_carries_its_id(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any) -> NoReturn:
        raise RuntimeError("a bug in the router")

    monkeypatch.setattr(router.server, "parse_request", broken)
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestIdFilter())
    caplog.handler.setFormatter(logging.Formatter(LOG_FORMAT))
    async with running_stack() as stack:
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with stack.http.post(
            f"{stack.url}/v1/chat/completions", json=chat, headers=headers
        ) as response:
            assert response.status == 500
            request_id = response.headers["x-request-id"]
        lines = stack.access_log_lines()
    (record,) = [r for r in caplog.records if "unexpected error while serving" in r.getMessage()]
    assert getattr(record, "request_id", None) == request_id
    assert f"request_id={request_id}" in caplog.text
    assert [line["request_id"] for line in lines if line["status"] == 500] == [request_id]
    outside = [r for r in caplog.records if "accepting at most" in r.getMessage()]
    assert outside and all(getattr(r, "request_id", "") is None for r in outside)
