"""The answer-cache benchmark's requests, judge and arithmetic, its direct series sent through
the generator's probe to the simulated cloud on loopback; the benchmark itself (which needs the
router and the embedder) runs from the command line, never here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import pytest_asyncio
from multidict import CIMultiDict, CIMultiDictProxy

from loadtest.generator.probe import Answer, closed_loop, probe_session
from loadtest.mock_cloud import CloudSettings, ControlSettings, MockCloud, RegionSettings
from loadtest.studies.cache_hits import (
    DIRECT_JSON,
    DIRECT_STREAM,
    Questions,
    add_router_latency,
    chat_request,
    markdown,
    problem_of,
    series_of,
)
from loadtest.studies.cache_stack import API_KEY


@pytest_asyncio.fixture
async def cloud() -> AsyncIterator[MockCloud]:
    settings = CloudSettings(
        regions=(RegionSettings(name="bench", completion_tokens=128),),
        control=ControlSettings(port=0),
    )
    async with MockCloud(settings, seed=0) as running:
        yield running


def answer(body: bytes, status: int = 200, cache: str | None = None) -> Answer:
    headers: CIMultiDict[str] = CIMultiDict()
    if cache is not None:
        headers["x-router-cache"] = cache
    return Answer(status, CIMultiDictProxy(headers), body, 0.001)


def test_chat_request_carries_the_directive_and_the_stream_options() -> None:
    request = chat_request(8080, "why?", stream=True, directive="no-store")
    assert request.url == "http://127.0.0.1:8080/v1/chat/completions"
    assert request.headers == {"x-router-cache": "no-store"}
    body = orjson.loads(request.body)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "user", "content": "why?"}]
    assert "max_tokens" not in body  # an answer cut at its cap is never cached
    assert chat_request(8080, "why?").headers is None


def test_the_judge_wants_the_series_verdict_a_200_and_a_whole_body() -> None:
    whole_json = b'{"object":"chat.completion"}'
    assert problem_of(answer(whole_json, cache="hit-exact"), "hit-exact", False) is None
    assert problem_of(answer(whole_json, cache="miss"), "hit-exact", False) == (
        "x-router-cache: miss"
    )
    assert problem_of(answer(whole_json), "hit-exact", False) == "x-router-cache: (none)"
    assert problem_of(answer(b"{}", 503), "", False) == "http 503"
    assert problem_of(answer(b"data: {}\n\n", cache="hit-exact"), "hit-exact", True) == (
        "incomplete body"
    )


@pytest.mark.asyncio
async def test_the_direct_series_are_whole_answers_of_the_cloud_with_no_verdict(
    cloud: MockCloud,
) -> None:
    port = cloud.regions["bench"].port
    questions = Questions(("one", "two"), ("uno",), ("three",), {})
    direct_json, direct_stream, *router = series_of(questions, 1, port)
    assert (direct_json.name, direct_stream.name) == (DIRECT_JSON, DIRECT_STREAM)
    assert direct_json.baseline is None and direct_stream.baseline is None
    assert [s.baseline for s in router] == [DIRECT_JSON, DIRECT_STREAM] + [DIRECT_JSON] * 3
    for series in (direct_json, direct_stream):

        def judge(reply: Answer, stream: bool = series.stream) -> str | None:
            return problem_of(reply, "", stream)

        async with probe_session(API_KEY, 2) as http:
            result = await closed_loop(http, series.requests, 6, 2, judge)
        assert result.problems == {} and len(result.latencies_s) == 6
    assert cloud.regions["bench"].stats.requests_total == 12


def _row(series: str, concurrency: int, p50: float | None, baseline: str | None) -> dict[str, Any]:
    return {
        "series": series,
        "concurrency": concurrency,
        "baseline": baseline,
        "samples": 0 if p50 is None else 100,
        "errors": 0,
        "error_kinds": {},
        "p50_ms": p50,
        "p90_ms": p50,
        "p99_ms": None if p50 is None else p50 * 2,
        "max_ms": p50,
        "requests_per_s": 1000.0,
        "router_cpu_us_per_request": 150.0,
        "client_cpu_us_per_request": 160.0,
        "foreign_cores": 0.0,
    }


def test_added_latency_is_the_router_series_minus_direct_of_its_shape_and_concurrency() -> None:
    rows = [
        _row(DIRECT_JSON, 1, 0.3, None),
        _row(DIRECT_STREAM, 1, 0.5, None),
        _row(DIRECT_JSON, 8, 2.0, None),
        _row("exact hit, JSON", 1, 0.4, DIRECT_JSON),
        _row("exact hit, stream", 1, 0.45, DIRECT_STREAM),
        _row("bypass to mock cloud, JSON", 8, 2.5, DIRECT_JSON),
        _row("semantic hit, JSON", 8, None, DIRECT_JSON),
    ]
    add_router_latency(rows)
    by_name = {(r["series"], r["concurrency"]): r for r in rows}
    assert by_name["exact hit, JSON", 1]["added_p50_ms"] == pytest.approx(0.1)
    assert by_name["exact hit, JSON", 1]["added_p99_ms"] == pytest.approx(0.2)
    assert by_name["exact hit, stream", 1]["added_p50_ms"] == pytest.approx(-0.05)
    assert by_name["bypass to mock cloud, JSON", 8]["added_p50_ms"] == pytest.approx(0.5)
    assert by_name["semantic hit, JSON", 8]["added_p50_ms"] is None
    assert by_name[DIRECT_JSON, 1]["added_p50_ms"] is None


def test_the_report_shows_added_latency_beside_the_absolute_figures() -> None:
    rows = [_row(DIRECT_JSON, 1, 0.3, None), _row("exact hit, JSON", 1, 0.4, DIRECT_JSON)]
    add_router_latency(rows)
    report = {
        "commit": "abc",
        "started_utc": "now",
        "machine": {"nproc": 2, "cpu_model": "cpu", "python": "3.11", "kernel": "6"},
        "pinning": "no pinning",
        "prepared": {
            "stored": 2,
            "left_out_at_warm": {},
            "paraphrases_probed": 2,
            "paraphrases_hit_semantic": 1,
            "miss_questions_probed": 1,
            "miss_questions_missed": 1,
        },
        "results": rows,
    }
    text = markdown(report)
    assert f"| {DIRECT_JSON} | 1 | 100 | 0 | 0.300 | 0.300 | 0.600 | 0.300 | – |" in text
    assert (
        "| exact hit, JSON | 1 | 100 | 0 | 0.400 | 0.400 | 0.800 | 0.400 | +0.100 / +0.200 |"
        in (text)
    )
    assert "p99 0.80 ms at concurrency 1 (added over direct: +0.20 ms)" in text
