"""The dashboard's feed keeps a bounded amount whatever the traffic: the last requests, two
minutes of seconds, and a capped number of tenants; the seconds it reports are the last two
minutes, with the empty ones as zeros."""

from __future__ import annotations

import pytest

from router.context import Attempt
from router.telemetry import dashboard_feed
from router.telemetry.dashboard_feed import RECENT, SECONDS, DashboardFeed
from router.wire.usage import Usage
from tests.request_context import chat_context

BODY = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'


def _record(feed: DashboardFeed, at_s: float, tenant: str = "acme", rid: str = "r") -> None:
    ctx = chat_context(BODY, tenant=tenant)
    ctx.decision.served_by, ctx.decision.endpoint = "cloud", "us-east"
    ctx.decision.attempts.append(Attempt("us-east", "ok", 8.0, 0.2))
    ctx.stage_ms.update({"auth": 0.01, "route": 0.05, "forward": 8.1})
    ctx.usage = Usage(10, 20)
    feed.record(ctx, rid, at_s, 200, "", 0.0095, None, 0.0003)


def test_the_feed_keeps_the_last_requests_and_seconds_only() -> None:
    feed = DashboardFeed()
    for index in range(RECENT + 50):
        _record(feed, 1000.0 + index, rid=f"r{index}")
    assert feed.request("r0") is None  # pushed out
    last = feed.request(f"r{RECENT + 49}")
    assert last is not None
    snapshot = feed.snapshot(1000.0 + RECENT + 49)
    assert len(snapshot["seconds"]) == SECONDS
    assert all(s["served_by"]["cloud"] == 1 for s in snapshot["seconds"])
    assert len(snapshot["recent"]) == 50


def test_a_quiet_second_is_reported_as_zero_and_a_requests_waterfall_is_in_order() -> None:
    feed = DashboardFeed()
    _record(feed, 1000.2, rid="only")
    seconds = feed.snapshot(1010.0)["seconds"]
    by_t = {s["t"]: s for s in seconds}
    assert by_t[1000]["served_by"]["cloud"] == 1 and by_t[1005]["served_by"]["cloud"] == 0
    assert by_t[1000]["added_p50_ms"] == pytest.approx(1.5)  # 9.5 ms in all, 8 ms upstream
    detail = feed.request("only")
    assert detail is not None
    assert [s["name"] for s in detail["stages"]] == ["auth", "route", "forward"]
    starts = [s["start_ms"] for s in detail["stages"]]
    assert starts == sorted(starts) and starts[0] == pytest.approx(0.3)
    (attempt,) = detail["attempts"]
    assert attempt["start_ms"] == pytest.approx(0.5) and attempt["duration_ms"] == 8.0


def test_tenants_past_the_cap_are_not_added(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard_feed, "MAX_TENANTS", 3)
    feed = DashboardFeed()
    for tenant in ("a", "b", "c", "d", "e"):
        _record(feed, 1000.0, tenant=tenant)
    assert [t["tenant"] for t in feed.snapshot(1000.0)["tenants"]] == ["a", "b", "c"]
