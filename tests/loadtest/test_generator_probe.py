"""The generator's closed-loop probe (`loadtest.generator.probe`) against the simulated cloud on
loopback: what it sends, how it times and judges answers, and how failures are labelled."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import AsyncIterator

import orjson
import pytest
import pytest_asyncio
from multidict import CIMultiDict, CIMultiDictProxy

from loadtest.generator.probe import (
    Answer,
    Prepared,
    closed_loop,
    exchange,
    probe_session,
    status_ok,
)
from loadtest.mock_cloud import CloudSettings, ControlSettings, MockCloud, RegionSettings

KEY = "sk-probe"
MODEL = "gpt-4o-mini"


@pytest_asyncio.fixture
async def cloud() -> AsyncIterator[MockCloud]:
    settings = CloudSettings(
        regions=(
            RegionSettings(name="ok", api_key=KEY),
            RegionSettings(name="down", fault="unavailable"),
        ),
        control=ControlSettings(port=0),
    )
    async with MockCloud(settings, seed=0) as running:
        yield running


def chat(cloud: MockCloud, text: str, region: str = "ok", stream: bool = False) -> Prepared:
    body: dict[str, object] = {"model": MODEL, "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    return Prepared(f"{cloud.regions[region].base_url}/chat/completions", orjson.dumps(body))


def sent_texts(cloud: MockCloud, region: str = "ok") -> list[str]:
    records = cloud.regions[region].state.records
    return [orjson.loads(record.body)["messages"][0]["content"] for record in records]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.asyncio
async def test_closed_loop_sends_each_request_in_turn_exactly_count_times(cloud: MockCloud) -> None:
    requests = [chat(cloud, text) for text in ("a", "b", "c")]
    async with probe_session(KEY, 3) as http:
        result = await closed_loop(http, requests, 7, 3)
    assert result.sent == 7 and len(result.latencies_s) == 7 and not result.problems
    assert all(latency > 0 for latency in result.latencies_s)
    assert result.wall_s > 0
    assert Counter(sent_texts(cloud)) == {"a": 3, "b": 2, "c": 2}
    assert cloud.regions["ok"].stats.requests_total == 7


@pytest.mark.asyncio
async def test_the_session_carries_the_key_the_content_type_and_a_requests_own_headers(
    cloud: MockCloud,
) -> None:
    base = chat(cloud, "hello")
    request = Prepared(base.url, base.body, {"x-router-cache": "no-store"})
    async with probe_session(KEY, 1) as http:
        answer = await exchange(http, request)
    assert answer.status == 200
    (record,) = cloud.regions["ok"].state.records
    seen = record.to_json()["headers"]
    assert record.auth == "valid"
    assert seen["content-type"] == "application/json"
    assert seen["x-router-cache"] == "no-store"


@pytest.mark.asyncio
async def test_a_wrong_key_is_answered_401_and_counted_as_such(cloud: MockCloud) -> None:
    async with probe_session("sk-wrong", 2) as http:
        result = await closed_loop(http, [chat(cloud, "hi")], 4, 2)
    assert result.problems == {"http_401": 4} and not result.latencies_s


@pytest.mark.asyncio
async def test_exchange_keeps_the_whole_answer_json_or_stream(cloud: MockCloud) -> None:
    async with probe_session(KEY, 1) as http:
        json_answer = await exchange(http, chat(cloud, "hi"))
        stream_answer = await exchange(http, chat(cloud, "hi", stream=True))
    assert json_answer.headers["Content-Type"].startswith("application/json")
    assert orjson.loads(json_answer.body)["object"] == "chat.completion"
    assert stream_answer.headers["Content-Type"].startswith("text/event-stream")
    assert stream_answer.body.endswith(b"data: [DONE]\n\n")
    assert stream_answer.body.count(b"data:") > 2
    assert json_answer.latency_s > 0 and stream_answer.latency_s > 0


@pytest.mark.asyncio
async def test_answers_the_judge_rejects_are_counted_by_its_label_not_timed(
    cloud: MockCloud,
) -> None:
    def judge(answer: Answer) -> str | None:
        return None if b"data: [DONE]" in answer.body else "not a stream"

    requests = [chat(cloud, "x", stream=True), chat(cloud, "y")]
    async with probe_session(KEY, 2) as http:
        result = await closed_loop(http, requests, 6, 2, judge)
    assert result.problems == {"not a stream": 3}
    assert len(result.latencies_s) == 3 and result.sent == 6


@pytest.mark.asyncio
async def test_an_error_status_is_labelled_as_the_generator_labels_it(cloud: MockCloud) -> None:
    async with probe_session(KEY, 2) as http:
        result = await closed_loop(http, [chat(cloud, "hi", region="down")], 5, 2)
    assert result.problems == {"http_503": 5} and not result.latencies_s
    no_headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
    assert status_ok(Answer(503, no_headers, b"", 0.0)) == "http_503"
    assert status_ok(Answer(200, no_headers, b"", 0.0)) is None


@pytest.mark.asyncio
async def test_a_request_that_gets_no_answer_is_counted_by_its_exceptions_class() -> None:
    request = Prepared(f"http://127.0.0.1:{closed_port()}/v1/chat/completions", b"{}")
    async with probe_session(KEY, 2) as http:
        result = await closed_loop(http, [request], 3, 2)
        with pytest.raises(OSError):
            await exchange(http, request)
    assert result.problems == {"ClientConnectorError": 3}


@pytest.mark.asyncio
async def test_a_probe_without_requests_or_callers_is_refused(cloud: MockCloud) -> None:
    async with probe_session(KEY, 1) as http:
        with pytest.raises(ValueError):
            await closed_loop(http, [], 1, 1)
        with pytest.raises(ValueError):
            await closed_loop(http, [chat(cloud, "hi")], 1, 0)
        empty = await closed_loop(http, [chat(cloud, "hi")], 0, 4)
    assert empty.sent == 0 and cloud.regions["ok"].stats.requests_total == 0
