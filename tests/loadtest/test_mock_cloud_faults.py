"""The fault modes of a simulated region (`RegionSettings.fault`, Failover Bench's catalogue), as
clients see them.

Each test puts a region of a `MockCloud` in a fault mode through the control API and sends real
requests over loopback sockets: raw HTTP where the wire is the point (the status, the headers,
every event and how a stream ends), the official clients where their reading of it is. Nothing
asserts how long anything takes: "nothing arrives" is a short bounded wait on the client's side,
and flapping runs on a fake clock the test moves.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest
import pytest_asyncio
from multidict import CIMultiDictProxy

from loadtest.mock_cloud import (
    CloudSettings,
    ControlSettings,
    MockCloud,
    RegionSettings,
    load_cloud_settings,
)
from loadtest.mock_cloud.settings import FAULT_MODES
from loadtest.mock_cloud.wire import answer_deltas, answer_text
from tests.fake_clock import FakeClock
from tests.openai_clients import async_openai
from tests.openapi_schemas import validate

MODEL = "gpt-4o-mini"
CLAUDE = "claude-sonnet-4-5"
APIS = ("chat", "responses", "messages")
USER = [{"role": "user", "content": "say something nice"}]
PREFILL = [*USER, {"role": "assistant", "content": "Sure, here it is:"}]
BODIES: dict[str, dict[str, Any]] = {
    "chat": {"model": MODEL, "messages": USER},
    "responses": {"model": MODEL, "input": "say something nice"},
    # A cap above the answer's 16 tokens, so that the answer ends on its own.
    "messages": {"model": CLAUDE, "max_tokens": 100, "messages": USER},
}
PATHS = {"chat": "/chat/completions", "responses": "/responses", "messages": "/messages"}
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-any"}
# The events before the first content event of each API's stream, by name (chat's have none).
OPENING: dict[str, list[str | None]] = {
    "chat": [None],
    "responses": [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ],
    "messages": ["message_start", "content_block_start", "ping"],
}
CONTENT_EVENT = {
    "chat": None,
    "responses": "response.output_text.delta",
    "messages": "content_block_delta",
}
ANSWER = answer_text("us-east", 16)
PIECES = list(answer_deltas("us-east", 16))
# How long a client waits to see that nothing comes; never a bound on how fast anything is.
NOTHING_COMES_S = 0.2

Event = tuple[str | None, bytes]  # an SSE event's name (None without one) and its raw data


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture
async def cloud(clock: FakeClock) -> AsyncIterator[MockCloud]:
    models = (MODEL, CLAUDE, "text-embedding-3-small")
    settings = CloudSettings(
        regions=(
            RegionSettings(name="us-east", models=models),
            RegionSettings(name="eu-west", models=models),
        ),
        control=ControlSettings(port=0),
    )
    async with MockCloud(settings, seed=0, clock=clock.now) as running:
        yield running


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def patch_region(
    http: aiohttp.ClientSession, cloud: MockCloud, region: str = "us-east", **fields: Any
) -> None:
    async with http.patch(f"{cloud.control_url}/control/regions/{region}", json=fields) as response:
        assert response.status == 200, await response.text()


async def stats(http: aiohttp.ClientSession, cloud: MockCloud, region: str = "us-east") -> Any:
    async with http.get(f"{cloud.control_url}/control/regions/{region}/stats") as response:
        assert response.status == 200
        return await response.json()


async def until_cancelled(
    http: aiohttp.ClientSession, cloud: MockCloud, count: int, what: str
) -> None:
    """Until the region counts `count` requests cancelled and none in flight (bounded)."""

    async def counted() -> bool:
        counters = await stats(http, cloud)
        return bool(counters["cancelled"] == count and counters["in_flight"] == 0)

    await eventually(counted, what)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll until the server has caught up; the limit only turns a hang into a failure."""
    for _ in range(500):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting until {what}")


def url_of(cloud: MockCloud, api: str, region: str = "us-east") -> str:
    return cloud.regions[region].base_url + PATHS[api]


async def ask(
    http: aiohttp.ClientSession, cloud: MockCloud, api: str, region: str = "us-east", **fields: Any
) -> tuple[int, CIMultiDictProxy[str], Any]:
    """One JSON request of `api` (fields replace the default body's): status, headers, body."""
    headers = ANTHROPIC_HEADERS if api == "messages" else {}
    body = {**BODIES[api], **fields}
    async with http.post(url_of(cloud, api, region), json=body, headers=headers) as response:
        return response.status, response.headers, orjson.loads(await response.read())


@asynccontextmanager
async def streamed(
    http: aiohttp.ClientSession, cloud: MockCloud, api: str, **fields: Any
) -> AsyncIterator[aiohttp.ClientResponse]:
    headers = ANTHROPIC_HEADERS if api == "messages" else {}
    body = {**BODIES[api], **fields, "stream": True}
    async with http.post(url_of(cloud, api), json=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        yield response


async def next_event(response: aiohttp.ClientResponse) -> Event | None:
    """The next event as sent, its data not parsed; None at a clean end of the body."""
    name = None
    while line := await response.content.readline():
        if line.startswith(b"event: "):
            name = line[len(b"event: ") :].strip().decode()
        elif line.startswith(b"data: "):
            assert await response.content.readline() == b"\n"
            return name, line[len(b"data: ") :].rstrip(b"\n")
        else:
            raise AssertionError(f"unexpected line {line!r}")
    return None


async def events_until_end(response: aiohttp.ClientResponse) -> list[Event]:
    events = []
    while (event := await next_event(response)) is not None:
        events.append(event)
    return events


async def read_events(response: aiohttp.ClientResponse, count: int) -> list[Event]:
    events = []
    for _ in range(count):
        event = await next_event(response)
        assert event is not None, f"the stream ended after {events}"
        events.append(event)
    return events


def names(events: list[Event]) -> list[str | None]:
    return [name for name, _ in events]


def content_pieces(api: str, events: list[Event]) -> list[str]:
    """The answer's text as the content events carry it, one piece per event."""
    pieces = []
    for name, data in events:
        if data == b"[DONE]":
            continue
        event = orjson.loads(data)
        if api == "chat":
            delta = event["choices"][0]["delta"] if event["choices"] else {}
            if "role" not in delta and delta.get("content"):
                pieces.append(delta["content"])
        elif name == CONTENT_EVENT[api]:
            delta = event["delta"]
            pieces.append(delta if api == "responses" else delta["text"])
    return pieces


def assert_error_shape(api: str, body: Any, openai_type: str, anthropic_type: str) -> None:
    if api == "messages":
        assert body["type"] == "error"
        assert body["error"]["type"] == anthropic_type
        assert set(body["error"]) == {"type", "message"}
    else:
        validate("ErrorResponse", body)
        assert body["error"]["type"] == openai_type


# --- errors answered in place of the request's answer --------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("api", APIS)
async def test_rate_limit_once_answers_one_429_with_retry_after_then_serves(
    cloud: MockCloud, http: aiohttp.ClientSession, api: str
) -> None:
    await patch_region(http, cloud, fault="rate_limit_once", retry_after_s=7)

    status, headers, body = await ask(http, cloud, api)
    assert status == 429
    assert headers["Retry-After"] == "7"
    assert_error_shape(api, body, "requests", "rate_limit_error")
    if api != "messages":
        assert body["error"]["code"] == "rate_limit_exceeded"
    for _ in range(2):
        status, headers, _ = await ask(http, cloud, api)
        assert status == 200
        assert "Retry-After" not in headers
    assert (await stats(http, cloud))["faults_injected"] == 1


@pytest.mark.asyncio
async def test_rate_limit_answers_every_request_429_as_the_clients_read_it(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, fault="rate_limit")
    region = cloud.regions["us-east"]
    async with (
        async_openai(region.base_url, api_key="sk-any", max_retries=0) as oai,
        anthropic.AsyncAnthropic(
            base_url=region.anthropic_base_url,
            api_key="sk-ant-any",
            max_retries=0,
            http_client=anthropic.DefaultAsyncHttpxClient(verify=False),  # plain HTTP, loopback
        ) as claude,
    ):
        for _ in range(2):
            with pytest.raises(openai.RateLimitError) as chat:
                await oai.chat.completions.create(model=MODEL, messages=USER, stream=True)
            with pytest.raises(openai.RateLimitError) as responses:
                await oai.responses.create(model=MODEL, input="x")
            with pytest.raises(anthropic.RateLimitError) as messages:
                await claude.messages.create(model=CLAUDE, max_tokens=5, messages=USER)
            for raised in (chat.value, responses.value, messages.value):
                assert raised.response.headers["retry-after"] == "1"  # the default
    assert (await stats(http, cloud))["faults_injected"] == 6


@pytest.mark.asyncio
@pytest.mark.parametrize("api", APIS)
async def test_error_once_fails_the_next_request_with_500_then_serves(
    cloud: MockCloud, http: aiohttp.ClientSession, api: str
) -> None:
    await patch_region(http, cloud, fault="error_once")

    status, _, body = await ask(http, cloud, api, stream=True)  # fails before the stream starts
    assert status == 500
    assert_error_shape(api, body, "server_error", "api_error")
    async with streamed(http, cloud, api) as response:
        assert content_pieces(api, await events_until_end(response)) == PIECES
    assert (await ask(http, cloud, api))[0] == 200
    assert (await stats(http, cloud))["faults_injected"] == 1


@pytest.mark.asyncio
async def test_unavailable_answers_every_generation_request_503_and_no_other_path(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, fault="unavailable")
    for api in APIS:
        for _ in range(2):
            status, _, body = await ask(http, cloud, api)
            assert status == 503
            assert_error_shape(api, body, "server_error", "api_error")

    # A health probe, embeddings, text completions and token counts are served as usual.
    base_url = cloud.regions["us-east"].base_url
    async with http.get(base_url + "/models") as response:
        assert response.status == 200
    embedding = {"model": "text-embedding-3-small", "input": "x"}
    async with http.post(base_url + "/embeddings", json=embedding) as response:
        assert response.status == 200
    async with http.post(base_url + "/completions", json={"model": MODEL, "prompt": "x"}) as r:
        assert r.status == 200
    count = {"model": CLAUDE, "messages": USER}
    async with http.post(
        base_url + "/messages/count_tokens", json=count, headers=ANTHROPIC_HEADERS
    ) as response:
        assert response.status == 200
    counters = await stats(http, cloud)
    assert counters["faults_injected"] == 6
    assert counters["errors_injected"] == 0  # `error_rate`'s counter is its own


@pytest.mark.asyncio
async def test_context_length_answers_400_in_each_providers_words(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, fault="context_length")
    for api in APIS:
        for _ in range(2):  # every request, not only the next
            status, _, body = await ask(http, cloud, api)
            assert status == 400
            assert_error_shape(api, body, "invalid_request_error", "invalid_request_error")
            if api == "messages":
                assert body["error"]["message"].startswith("prompt is too long")
            else:
                assert body["error"]["code"] == "context_length_exceeded"
                assert body["error"]["param"] == ("messages" if api == "chat" else "input")
    async with async_openai(
        cloud.regions["us-east"].base_url, api_key="sk-any", max_retries=0
    ) as oai:
        with pytest.raises(openai.BadRequestError) as raised:
            await oai.chat.completions.create(model=MODEL, messages=USER)
    assert raised.value.code == "context_length_exceeded"
    assert (await stats(http, cloud))["faults_injected"] == 7


@pytest.mark.asyncio
async def test_reject_prefill_refuses_only_conversations_that_end_with_the_assistant(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, fault="reject_prefill")
    prefills: dict[str, dict[str, Any]] = {
        "chat": {"messages": PREFILL},
        "responses": {"input": PREFILL},
        "messages": {"messages": PREFILL},
    }
    for api in APIS:
        status, _, body = await ask(http, cloud, api, **prefills[api])
        assert status == 400
        assert_error_shape(api, body, "invalid_request_error", "invalid_request_error")
        assert "does not support assistant message prefill" in body["error"]["message"]
        assert (await ask(http, cloud, api))[0] == 200  # the same API, ending with the user
    # A Responses conversation ending with a function call's output is no prefill.
    call = {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"}
    output = {"type": "function_call_output", "call_id": "c1", "output": "42"}
    assert (await ask(http, cloud, "responses", input=[*USER, call, output]))[0] == 200
    assert (await stats(http, cloud))["faults_injected"] == 3


# --- the connection itself ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_reset_drops_the_connection_with_a_tcp_reset_and_no_response(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, fault="reset")
    region = cloud.regions["us-east"]
    body = orjson.dumps(BODIES["chat"])
    reader, writer = await asyncio.open_connection(region.settings.host, region.port)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: mock\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    # An orderly close would read as b"" (a FIN); a reset raises, and no status line came first.
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(), 5)
    writer.close()

    with pytest.raises(aiohttp.ClientOSError) as raised:
        await ask(http, cloud, "messages")
    assert raised.value.errno == errno.ECONNRESET
    async with async_openai(region.base_url, api_key="sk-any", max_retries=0) as oai:
        with pytest.raises(openai.APIConnectionError):
            await oai.responses.create(model=MODEL, input="x")

    await until_cancelled(http, cloud, 3, "the reset requests are counted as cancelled")
    counters = await stats(http, cloud)
    assert (counters["faults_injected"], counters["completed"]) == (3, 0)


@pytest.mark.asyncio
async def test_no_response_reads_the_request_and_never_answers(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, fault="no_response")
    for api in APIS:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ask(http, cloud, api, stream=True), NOTHING_COMES_S)
    async with http.get(f"{cloud.control_url}/control/regions/us-east/requests") as response:
        records = await response.json()
    assert [orjson.loads(r["body"])["model"] for r in records] == [MODEL, MODEL, CLAUDE]

    await until_cancelled(http, cloud, 3, "the abandoned requests are counted as cancelled")
    counters = await stats(http, cloud)
    assert (counters["faults_injected"], counters["timeouts_injected"]) == (3, 0)


@pytest.mark.asyncio
async def test_slow_ttft_sends_no_byte_until_fault_ttft_ms_then_the_whole_answer(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, fault="slow_ttft", fault_ttft_ms=60_000)
    region = cloud.regions["us-east"]
    body = orjson.dumps({**BODIES["chat"], "stream": True})
    reader, writer = await asyncio.open_connection(region.settings.host, region.port)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: mock\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    with pytest.raises(TimeoutError):  # not even the status line
        await asyncio.wait_for(reader.read(1), NOTHING_COMES_S)
    writer.close()

    await patch_region(http, cloud, fault_ttft_ms=1)  # still slow_ttft, with a short wait
    async with streamed(http, cloud, "messages") as response:
        events = await events_until_end(response)
    assert content_pieces("messages", events) == PIECES
    assert names(events)[-1] == "message_stop"
    assert (await stats(http, cloud))["faults_injected"] == 2


# --- streams -------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("api", APIS)
async def test_stream_cut_closes_the_connection_after_n_content_events(
    cloud: MockCloud, http: aiohttp.ClientSession, api: str
) -> None:
    await patch_region(http, cloud, fault="stream_cut")  # after 3 content events, the default
    async with streamed(http, cloud, api) as response:
        events = await read_events(response, len(OPENING[api]) + 3)
        with pytest.raises(aiohttp.ClientPayloadError):  # closed before the body's end
            await next_event(response)
    assert names(events) == [*OPENING[api], *[CONTENT_EVENT[api]] * 3]
    assert content_pieces(api, events) == PIECES[:3]
    if api == "chat":
        assert all(orjson.loads(data)["choices"][0]["finish_reason"] is None for _, data in events)

    await patch_region(http, cloud, fault_after_events=1)
    async with streamed(http, cloud, api) as response:
        events = await read_events(response, len(OPENING[api]) + 1)
        with pytest.raises(aiohttp.ClientPayloadError):
            await next_event(response)
    assert content_pieces(api, events) == PIECES[:1]

    # A JSON answer is not a stream: served whole, and not counted.
    status, _, _ = await ask(http, cloud, api)
    assert status == 200
    assert (await stats(http, cloud))["faults_injected"] == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("api", APIS)
async def test_stall_sends_nothing_after_n_content_events_and_holds_the_connection(
    cloud: MockCloud, http: aiohttp.ClientSession, api: str
) -> None:
    await patch_region(http, cloud, fault="stall", fault_after_events=2)
    async with streamed(http, cloud, api) as response:
        events = await read_events(response, len(OPENING[api]) + 2)
        # Neither another event nor the end of the body (a cut would raise, an end return).
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(next_event(response), NOTHING_COMES_S)
    assert names(events) == [*OPENING[api], *[CONTENT_EVENT[api]] * 2]
    assert content_pieces(api, events) == PIECES[:2]

    await until_cancelled(http, cloud, 1, "the stalled stream ends when its client leaves")
    assert (await stats(http, cloud))["faults_injected"] == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("api", APIS)
async def test_malformed_chunk_is_one_bad_event_after_n_content_events_then_the_rest(
    cloud: MockCloud, http: aiohttp.ClientSession, api: str
) -> None:
    await patch_region(http, cloud, fault="malformed_chunk", fault_after_events=2)
    async with streamed(http, cloud, api) as response:
        events = await events_until_end(response)

    bad = []
    for i, (_, data) in enumerate(events):
        if data == b"[DONE]":  # chat's end, not JSON by design
            continue
        try:
            orjson.loads(data)
        except orjson.JSONDecodeError:
            bad.append(i)
    where = len(OPENING[api]) + 2
    assert bad == [where]
    assert events[where][0] == CONTENT_EVENT[api]  # named as the content event it would be
    good = events[:where] + events[where + 1 :]
    assert content_pieces(api, good) == PIECES  # the bad event took nothing from the answer
    if api == "chat":
        assert good[-1][1] == b"[DONE]"
    else:
        assert names(good)[-1] == ("response.completed" if api == "responses" else "message_stop")
    if api == "responses":
        numbers = [orjson.loads(data)["sequence_number"] for _, data in good]
        assert numbers == list(range(len(good)))
    assert (await stats(http, cloud))["faults_injected"] == 1


@pytest.mark.asyncio
async def test_malformed_chunk_past_the_answer_comes_before_the_closing(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, fault="malformed_chunk", fault_after_events=100)
    async with streamed(http, cloud, "chat") as response:
        events = await events_until_end(response)
    # The opening, the 16 pieces, the bad event, the finish, [DONE].
    assert len(events) == 1 + 16 + 1 + 2
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(events[17][1])
    assert orjson.loads(events[18][1])["choices"][0]["finish_reason"] == "stop"


@pytest.mark.asyncio
@pytest.mark.parametrize("api", APIS)
async def test_missing_done_ends_the_stream_cleanly_without_its_end_event(
    cloud: MockCloud, http: aiohttp.ClientSession, api: str
) -> None:
    await patch_region(http, cloud, fault="missing_done")
    async with streamed(http, cloud, api) as response:
        assert response.headers["Connection"] == "close"
        events = await events_until_end(response)  # the body ends in good order: no error

    assert content_pieces(api, events) == PIECES
    last_name, last = events[-1][0], orjson.loads(events[-1][1])
    if api == "chat":
        assert last["choices"][0]["finish_reason"] == "stop"
        assert b"[DONE]" not in [data for _, data in events]
    elif api == "responses":
        assert last_name == "response.output_item.done"
        assert last["item"]["status"] == "completed"
        assert not {"response.completed", "response.incomplete"} & set(names(events))
    else:
        assert last_name == "message_delta"
        assert last["delta"]["stop_reason"] == "end_turn"
        assert "message_stop" not in names(events)
    assert (await stats(http, cloud))["faults_injected"] == 1


@pytest.mark.asyncio
async def test_missing_done_keeps_the_usage_chunk_of_a_chat_stream(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, fault="missing_done")
    options = {"include_usage": True}
    async with streamed(http, cloud, "chat", stream_options=options) as response:
        events = await events_until_end(response)
    finish, usage = (orjson.loads(data) for _, data in events[-2:])
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage["usage"]["completion_tokens"] == 16


# --- answers -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_content_filter_fault_ends_every_apis_answer_with_its_filter_stop(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, fault="content_filter")
    _, _, chat = await ask(http, cloud, "chat")
    assert chat["choices"][0]["finish_reason"] == "content_filter"
    async with streamed(http, cloud, "chat") as response:
        events = await events_until_end(response)
    assert events[-1][1] == b"[DONE]"
    assert orjson.loads(events[-2][1])["choices"][0]["finish_reason"] == "content_filter"
    _, _, responses = await ask(http, cloud, "responses")
    assert (responses["status"], responses["incomplete_details"]) == (
        "incomplete",
        {"reason": "content_filter"},
    )
    _, _, message = await ask(http, cloud, "messages")
    assert message["stop_reason"] == "refusal"  # Anthropic has no filter stop of its own
    assert (await stats(http, cloud))["faults_injected"] == 4

    await patch_region(http, cloud, fault=None)
    _, _, chat = await ask(http, cloud, "chat")
    assert chat["choices"][0]["finish_reason"] == "stop"
    assert cloud.regions["us-east"].settings.answer_kind == "text"  # the setting is untouched


# --- time, state and settings --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_flapping_alternates_healthy_and_unavailable_on_the_regions_clock(
    cloud: MockCloud, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    await patch_region(http, cloud, fault="flapping")  # every 2 s, the default

    async def status() -> int:
        return (await ask(http, cloud, "chat"))[0]

    assert await status() == 200  # it starts healthy
    clock.advance(1.9)
    assert await status() == 200
    clock.advance(0.1)
    assert await status() == 503
    clock.advance(1.9)
    assert await status() == 503
    clock.advance(0.1)
    assert await status() == 200
    clock.advance(2.0)
    assert await status() == 503
    await patch_region(http, cloud, fault="flapping", flap_period_s=10)  # starts over, healthy
    assert await status() == 200
    clock.advance(10)
    status_code, _, body = await ask(http, cloud, "messages")
    assert status_code == 503
    assert body["error"]["type"] == "api_error"
    assert (await stats(http, cloud))["faults_injected"] == 4


@pytest.mark.asyncio
async def test_once_faults_are_per_region_and_rearmed_only_by_naming_the_fault(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, "us-east", fault="error_once")
    await patch_region(http, cloud, "eu-west", fault="error_once")

    async def status(region: str = "us-east") -> int:
        return (await ask(http, cloud, "chat", region))[0]

    assert await status() == 500
    assert await status("eu-west") == 500  # its own, not spent by us-east's
    assert await status() == 200
    await patch_region(http, cloud, retry_after_s=3)  # a patch without `fault` re-arms nothing
    assert await status() == 200
    await patch_region(http, cloud, fault="error_once")  # the same mode again re-arms it
    assert await status() == 500
    assert await status() == 200
    await patch_region(http, cloud, fault=None)
    assert await status() == 200
    await patch_region(http, cloud, fault="rate_limit_once")  # a once fault of another kind
    assert await status() == 429
    assert await status() == 200
    assert (await stats(http, cloud, "us-east"))["faults_injected"] == 3
    assert (await stats(http, cloud, "eu-west"))["faults_injected"] == 1


@pytest.mark.asyncio
async def test_fault_settings_are_validated_listing_every_problem(
    cloud: MockCloud, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    url = f"{cloud.control_url}/control/regions/us-east"
    patch = {
        "fault": "meteor",
        "fault_after_events": -1,
        "retry_after_s": 1.5,
        "flap_period_s": 0,
        "fault_ttft_ms": -5,
    }
    async with http.patch(url, json=patch) as response:
        assert response.status == 400
        message = (await response.json())["error"]["message"]
    for field in patch:
        assert f"{field}: must be" in message
    assert "fault: must be null (no fault) or one of rate_limit_once, rate_limit," in message
    assert cloud.regions["us-east"].settings.fault is None  # nothing was applied

    async with http.patch(url, json={"fault": "stall", "fault_after_events": 0}) as response:
        assert response.status == 200
        described = await response.json()
    assert (described["fault"], described["fault_after_events"]) == ("stall", 0)

    path = tmp_path / "cloud.yaml"
    path.write_text(
        "regions:\n  - {name: a, fault: flapping, flap_period_s: 0.5, retry_after_s: 30}\n"
    )
    (a,) = load_cloud_settings(path).regions
    assert (a.fault, a.flap_period_s, a.retry_after_s, a.fault_after_events) == (
        "flapping",
        0.5,
        30,
        3,
    )
    for mode in FAULT_MODES:  # every mode of the catalogue is one a region can be put in
        async with http.patch(url, json={"fault": mode}) as response:
            assert response.status == 200, mode


# --- billing -------------------------------------------------------------------------------------


def stream_usage(api: str, events: list[Event]) -> tuple[int, int]:
    """The input and output tokens a whole stream's usage reported, in the API's own fields."""
    parsed = [(name, orjson.loads(data)) for name, data in events if data != b"[DONE]"]
    if api == "chat":
        usage = parsed[-1][1]["usage"]
        return usage["prompt_tokens"], usage["completion_tokens"]
    if api == "responses":
        usage = next(e["response"]["usage"] for n, e in parsed if n == "response.completed")
        return usage["input_tokens"], usage["output_tokens"]
    start = next(e["message"]["usage"] for n, e in parsed if n == "message_start")
    delta = next(e["usage"] for n, e in parsed if n == "message_delta")
    return start["input_tokens"], delta["output_tokens"]


def json_usage(api: str, body: Any) -> tuple[int, int]:
    usage = body["usage"]
    if api == "chat":
        return usage["prompt_tokens"], usage["completion_tokens"]
    return usage["input_tokens"], usage["output_tokens"]


def billed(counters: Any) -> tuple[int, int, int]:
    return (
        counters["billed_answers"],
        counters["billed_prompt_tokens"],
        counters["billed_completion_tokens"],
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("api", APIS)
async def test_a_region_bills_the_usage_each_whole_answer_reported_and_nothing_else(
    cloud: MockCloud, http: aiohttp.ClientSession, api: str
) -> None:
    status, _, body = await ask(http, cloud, api)
    assert status == 200
    told = [json_usage(api, body)]
    usage_asked = {"stream_options": {"include_usage": True}} if api == "chat" else {}
    async with streamed(http, cloud, api, **usage_asked) as response:
        told.append(stream_usage(api, await events_until_end(response)))
    prompt, completion = (sum(column) for column in zip(*told, strict=True))
    assert billed(await stats(http, cloud)) == (2, prompt, completion)
    assert billed(await stats(http, cloud, "eu-west")) == (0, 0, 0)  # billed where served

    if api == "chat":  # a stream that reports no usage bills none
        async with streamed(http, cloud, api) as response:
            await events_until_end(response)
        assert billed(await stats(http, cloud)) == (2, prompt, completion)


@pytest.mark.asyncio
@pytest.mark.parametrize("api", APIS)
async def test_refused_cut_and_failed_answers_bill_nothing_and_a_reset_forgets_the_bill(
    cloud: MockCloud, http: aiohttp.ClientSession, api: str
) -> None:
    await patch_region(http, cloud, fault="unavailable")
    assert (await ask(http, cloud, api))[0] == 503
    await patch_region(http, cloud, fault="stream_cut")
    async with streamed(http, cloud, api) as response:
        with pytest.raises(aiohttp.ClientPayloadError):
            await events_until_end(response)
    await until_cancelled(http, cloud, 1, "the cut stream's handler ends")
    await patch_region(http, cloud, fault=None, inband_error_rate=1.0)
    async with streamed(http, cloud, api) as response:
        await events_until_end(response)  # an error event ends it
    counters = await stats(http, cloud)
    assert counters["completed"] == 2 and counters["inband_errors_injected"] == 1
    assert billed(counters) == (0, 0, 0)

    await patch_region(http, cloud, inband_error_rate=0.0)
    assert (await ask(http, cloud, api))[0] == 200
    assert billed(await stats(http, cloud))[0] == 1
    async with http.post(f"{cloud.control_url}/control/reset") as response:
        assert response.status == 204
    assert billed(await stats(http, cloud)) == (0, 0, 0)
