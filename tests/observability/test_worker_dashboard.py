"""The dashboard's data of a node of `serve --workers N`, merged from every worker's: counts are
summed, latency quantiles are the worst worker's, tenants are summed then ranked, the recent
requests are the node's newest, each worker's endpoint cards are kept, and a worker that did not
answer is left out and counted. Each worker's body here is what `dashboard_api` builds from a
real feed."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from router.context import Attempt
from router.telemetry.dashboard_feed import DashboardFeed
from router.telemetry.worker_dashboard import (
    TOP_RECENT,
    TOP_TENANTS,
    merge_dashboards,
    merge_endpoint_views,
)
from router.wire.usage import Usage
from tests.request_context import chat_context

BODY = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
NOW_S = 1010.5
UPSTREAM_MS = 8.0


def _record(
    feed: DashboardFeed,
    at_s: float,
    rid: str,
    *,
    added_ms: float = 1.5,
    tenant: str = "acme",
    served_by: str = "cloud",
    error_type: str = "",
    first_byte_ms: float | None = None,
) -> None:
    ctx = chat_context(BODY, tenant=tenant)
    ctx.decision.served_by, ctx.decision.endpoint = served_by, "us-east"
    ctx.decision.attempts.append(Attempt("us-east", "ok", UPSTREAM_MS, 0.2))
    ctx.stage_ms.update({"auth": 0.01, "route": 0.05, "forward": 8.1})
    ctx.usage = Usage(10, 20)
    duration_s = (UPSTREAM_MS + added_ms) / 1000.0
    first_byte_s = None if first_byte_ms is None else first_byte_ms / 1000.0
    status = 502 if error_type else 200
    feed.record(ctx, rid, at_s, status, error_type, duration_s, first_byte_s, 0.0003)


def _card(name: str, state: str = "healthy", rtt_ms: float | None = 12.0) -> dict[str, Any]:
    return {
        "name": name,
        "region": name,
        "locality": "cloud",
        "state": state,
        "ejections": 0,
        "rtt_ms": rtt_ms,
        "in_flight": 0,
        "max_concurrency": 64,
        "ttft_ms": {"gpt-4o-mini": None},
    }


def _body(
    feed: DashboardFeed,
    *,
    endpoints: list[dict[str, Any]] | None = None,
    verdicts: dict[str, int] | None = None,
    budget_used: float | None = None,
) -> dict[str, Any]:
    """One worker's answer, as `dashboard_api` builds it."""
    body = feed.snapshot(NOW_S)
    for tenant in body["tenants"]:
        tenant["budget_used"] = budget_used
    body["endpoints"] = endpoints if endpoints is not None else [_card("us-east")]
    verdicts = verdicts or {}
    hits = sum(count for verdict, count in verdicts.items() if verdict.startswith("hit"))
    body["cache"] = {"verdicts": verdicts, "hits": hits, "lookups": sum(verdicts.values())}
    return body


def _merged(own: dict[str, Any], *siblings: bytes | None) -> dict[str, Any]:
    answers = [(index, body) for index, body in enumerate(siblings, start=2)]
    merged = merge_dashboards(own, 1, answers, 1 + len(siblings))
    parsed: dict[str, Any] = orjson.loads(merged.model_dump_json())
    return parsed


def _by_t(merged: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {second["t"]: second for second in merged["seconds"]}


def test_each_seconds_counts_are_summed_over_the_workers() -> None:
    one, two = DashboardFeed(), DashboardFeed()
    _record(one, 1000.1, "a")
    _record(one, 1000.2, "b", served_by="cache")
    _record(two, 1000.3, "c")
    _record(two, 1000.4, "d", error_type="upstream_error")
    _record(two, 1003.0, "e", served_by="edge")
    merged = _merged(_body(one), orjson.dumps(_body(two)))
    by_t = _by_t(merged)
    assert by_t[1000]["served_by"] == {"cloud": 3, "edge": 0, "cache": 1, "none": 0}
    assert by_t[1000]["errors"] == 1
    assert by_t[1003]["served_by"]["edge"] == 1
    assert sum(sum(s["served_by"].values()) for s in merged["seconds"]) == 5
    assert [s["t"] for s in merged["seconds"]] == [s["t"] for s in _body(one)["seconds"]]


def test_a_seconds_latency_quantiles_are_the_worst_workers() -> None:
    one, two = DashboardFeed(), DashboardFeed()
    for index in range(9):
        _record(one, 1000.1, f"fast{index}", added_ms=1.0, first_byte_ms=20.0)
    _record(two, 1000.2, "slow", added_ms=40.0, first_byte_ms=300.0)
    _record(two, 1001.2, "alone", added_ms=5.0)
    merged = _by_t(_merged(_body(one), orjson.dumps(_body(two))))
    assert merged[1000]["added_p50_ms"] == pytest.approx(40.0)
    assert merged[1000]["added_p99_ms"] == pytest.approx(40.0)
    assert merged[1000]["ttft_p50_ms"] == {"us-east": pytest.approx(300.0)}
    assert merged[1001]["added_p50_ms"] == pytest.approx(5.0)  # one worker: its own, exact
    assert merged[1002]["added_p50_ms"] is None and merged[1002]["ttft_p50_ms"] == {}


def test_a_siblings_second_outside_the_answering_workers_two_minutes_is_left_out() -> None:
    one, two = DashboardFeed(), DashboardFeed()
    _record(one, 1000.0, "a")
    sibling = _body(two)
    sibling["seconds"].append({**sibling["seconds"][-1], "t": int(NOW_S) + 1})
    sibling["seconds"][-1]["served_by"] = {"cloud": 7, "edge": 0, "cache": 0, "none": 0}
    merged = _merged(_body(one), orjson.dumps(sibling))
    assert sum(s["served_by"]["cloud"] for s in merged["seconds"]) == 1


def test_tenants_are_summed_by_tenant_then_the_top_spenders_kept() -> None:
    one, two = DashboardFeed(), DashboardFeed()
    _record(one, 1000.0, "a", tenant="acme")
    _record(two, 1000.0, "b", tenant="acme")
    _record(two, 1000.0, "c", tenant="globex")
    own, sibling = _body(one, budget_used=0.25), _body(two, budget_used=0.5)
    own["tenants"][0]["spend_usd"] = 0.5
    sibling["tenants"] = [
        {**sibling["tenants"][0], "spend_usd": 0.25},
        {**sibling["tenants"][1], "spend_usd": 0.5},
    ]
    extra = [
        {**sibling["tenants"][1], "tenant": f"t{index}", "spend_usd": 0.001 * index}
        for index in range(TOP_TENANTS)
    ]
    sibling["tenants"] += extra
    tenants = _merged(own, orjson.dumps(sibling))["tenants"]
    assert len(tenants) == TOP_TENANTS
    acme = tenants[0]
    assert acme["tenant"] == "acme" and acme["spend_usd"] == pytest.approx(0.75)
    assert acme["requests"] == 2 and acme["input_tokens"] == 20 and acme["output_tokens"] == 40
    assert acme["budget_used"] == 0.5  # the latest share learnt, not a sum
    assert tenants[1]["tenant"] == "globex"
    spends = [t["spend_usd"] for t in tenants]
    assert spends == sorted(spends, reverse=True)
    assert "t0" not in {t["tenant"] for t in tenants}


def test_the_recent_requests_are_the_nodes_newest_first() -> None:
    one, two = DashboardFeed(), DashboardFeed()
    for index in range(TOP_RECENT):
        _record(one, 900.0 + 2 * index, f"one{index}")
        _record(two, 901.0 + 2 * index, f"two{index}")
    recent = _merged(_body(one), orjson.dumps(_body(two)))["recent"]
    assert len(recent) == TOP_RECENT
    ats = [r["at"] for r in recent]
    assert ats == sorted(ats, reverse=True) and ats[0] == 901.0 + 2 * (TOP_RECENT - 1)
    assert {r["id"][:3] for r in recent} == {"one", "two"}


def test_cache_verdicts_are_summed() -> None:
    own = _body(DashboardFeed(), verdicts={"hit-exact": 2, "miss": 3})
    sibling = _body(DashboardFeed(), verdicts={"hit-semantic": 1, "miss": 4})
    cache = _merged(own, orjson.dumps(sibling))["cache"]
    assert cache == {
        "verdicts": {"hit-exact": 2, "miss": 7, "hit-semantic": 1},
        "hits": 3,
        "lookups": 10,
    }


def test_each_workers_endpoint_cards_are_kept_with_their_worker() -> None:
    own = _body(DashboardFeed(), endpoints=[_card("us-east"), _card("eu-west")])
    sibling = _body(
        DashboardFeed(), endpoints=[_card("us-east", "ejected"), _card("eu-west", rtt_ms=None)]
    )
    cards = _merged(own, orjson.dumps(sibling))["endpoints"]
    assert [(c["name"], c["worker"], c["state"]) for c in cards] == [
        ("us-east", 1, "healthy"),
        ("us-east", 2, "ejected"),
        ("eu-west", 1, "healthy"),
        ("eu-west", 2, "healthy"),
    ]


def test_a_sibling_that_did_not_answer_or_answered_nonsense_is_left_out_and_counted() -> None:
    feed = DashboardFeed()
    _record(feed, 1000.0, "a")
    own = _body(feed)
    merged = _merged(own, None, b"<html>", orjson.dumps({"seconds": []}), orjson.dumps(own))
    assert merged["workers"] == {"configured": 5, "answered": 2}
    assert sum(s["served_by"]["cloud"] for s in merged["seconds"]) == 2


def test_the_merge_keeps_every_field_a_worker_reports() -> None:
    one, two = DashboardFeed(), DashboardFeed()
    _record(one, 1000.0, "a", first_byte_ms=20.0)
    _record(two, 1001.0, "b", tenant="globex")
    own, sibling = _body(one), _body(two)
    merged = _merged(own, orjson.dumps(sibling))
    assert set(merged) == {*own, "workers"}
    assert set(merged["seconds"][0]) == set(own["seconds"][0])
    assert set(merged["tenants"][0]) == set(own["tenants"][0])
    assert set(merged["recent"][0]) == set(sibling["recent"][0])
    assert set(merged["endpoints"][0]) == {*own["endpoints"][0], "worker"}


def test_every_workers_view_of_the_endpoints_is_listed_by_worker() -> None:
    own = [{"name": "us-east", "health": {"state": "healthy"}}]
    ejected = [{"name": "us-east", "health": {"state": "ejected"}}]
    siblings = [(3, orjson.dumps({"endpoints": ejected, "aliases": {}})), (2, None)]
    views = merge_endpoint_views(own, 1, siblings, 3).model_dump()
    assert views == {
        "worker": 1,
        "workers": {"configured": 3, "answered": 2},
        "by_worker": [{"worker": 1, "endpoints": own}, {"worker": 3, "endpoints": ejected}],
    }
