"""The simulated cloud speaks OpenAI's Responses API and Anthropic's Messages API natively.

Driven by the official `openai` and `anthropic` clients, both with strict response validation (a
body or event that does not match the client's types fails the test), and by raw HTTP where the
wire itself is the point; Responses bodies and events are also checked against the vendored
OpenAPI schemas. The template answer is "Hello from us-east. lorem ipsum ..." (one word per token
and per stream event). Nothing asserts how fast anything is: latency is shown by what has not
arrived yet while the region is still waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest
import pytest_asyncio
from anthropic import AsyncAnthropic
from anthropic.types import Message, MessageParam, RawMessageStreamEvent
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam
from openai.types.responses import FunctionToolParam
from pydantic import TypeAdapter

from loadtest.mock_cloud import (
    CloudSettings,
    ControlSettings,
    MockCloud,
    RegionSettings,
    SettingsError,
    load_cloud_settings,
)
from loadtest.mock_cloud.wire import TOOL_CALL_ID, TOOL_NAME, answer_text
from loadtest.mock_cloud.wire_messages import TOOL_USE_ID
from tests.openai_clients import async_openai
from tests.openapi_schemas import validate

MODEL = "gpt-4o-mini"
CLAUDE = "claude-sonnet-4-5"
MODELS = (MODEL, CLAUDE)
EU_KEY = "sk-ant-eu-secret"
USER: list[MessageParam] = [{"role": "user", "content": "say something nice"}]
CHAT_USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "say something nice"}]
ANSWER = answer_text("us-east", 16)
STREAM_EVENT = TypeAdapter[RawMessageStreamEvent](RawMessageStreamEvent)
# Anthropic's error `type` for each status the tests inject.
ANTHROPIC_TYPES = {429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


@pytest_asyncio.fixture
async def cloud() -> AsyncIterator[MockCloud]:
    settings = CloudSettings(
        regions=(
            RegionSettings(name="us-east", models=MODELS),
            RegionSettings(name="eu-west", models=MODELS, api_key=EU_KEY),
            RegionSettings(name="chat-only", models=MODELS, apis=("chat",)),
        ),
        control=ControlSettings(port=0),
    )
    async with MockCloud(settings, seed=0) as running:
        yield running


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def openai_client(cloud: MockCloud, region: str = "us-east", **options: Any) -> AsyncOpenAI:
    options.setdefault("api_key", "sk-any")
    base_url = cloud.regions[region].base_url
    return async_openai(base_url, max_retries=0, _strict_response_validation=True, **options)


def anthropic_client(cloud: MockCloud, region: str = "us-east", **options: Any) -> AsyncAnthropic:
    options.setdefault("api_key", EU_KEY)
    return AsyncAnthropic(
        base_url=cloud.regions[region].anthropic_base_url,
        max_retries=0,
        _strict_response_validation=True,
        # Plain HTTP on loopback: no certificate authorities to load for each client.
        http_client=anthropic.DefaultAsyncHttpxClient(verify=False),
        **options,
    )


@pytest_asyncio.fixture
async def oai(cloud: MockCloud) -> AsyncIterator[AsyncOpenAI]:
    async with openai_client(cloud) as client:
        yield client


@pytest_asyncio.fixture
async def claude(cloud: MockCloud) -> AsyncIterator[AsyncAnthropic]:
    async with anthropic_client(cloud) as client:
        yield client


async def patch_region(
    http: aiohttp.ClientSession, cloud: MockCloud, name: str, **fields: Any
) -> None:
    async with http.patch(f"{cloud.control_url}/control/regions/{name}", json=fields) as response:
        assert response.status == 200, await response.text()


async def control_get(http: aiohttp.ClientSession, cloud: MockCloud, path: str) -> Any:
    async with http.get(f"{cloud.control_url}/control/{path}") as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def read_event(response: aiohttp.ClientResponse) -> tuple[str | None, dict[str, Any]]:
    """The next SSE event: its `event:` name (None without one) and its data."""
    name = None
    while line := await response.content.readline():
        if line.startswith(b"event: "):
            name = line[len(b"event: ") :].strip().decode()
        elif line.startswith(b"data: "):
            data = orjson.loads(line[len(b"data: ") :])
            assert await response.content.readline() == b"\n"
            return name, data
        else:
            raise AssertionError(f"unexpected line {line!r}")
    raise EOFError


async def sse_events(response: aiohttp.ClientResponse) -> list[tuple[str | None, dict[str, Any]]]:
    events = []
    while True:
        try:
            events.append(await read_event(response))
        except EOFError:
            return events


async def post_stream(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], **headers: str
) -> list[tuple[str | None, dict[str, Any]]]:
    async with http.post(url, json={**body, "stream": True}, headers=headers) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        return await sse_events(response)


def messages_url(cloud: MockCloud, region: str = "us-east") -> str:
    return cloud.regions[region].base_url + "/messages"


ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-any"}


# --- Responses: JSON -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_responses_answer_is_a_full_response_with_output_text_and_usage(
    cloud: MockCloud, http: aiohttp.ClientSession, oai: AsyncOpenAI
) -> None:
    response = await oai.responses.create(
        model=MODEL, input="say something nice", instructions="Be brief."
    )

    assert response.status == "completed"
    assert response.output_text == ANSWER
    assert response.id.startswith("resp_")
    assert response.instructions == "Be brief."
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (5, 16)
    assert response.usage.total_tokens == 21

    url = cloud.regions["us-east"].base_url + "/responses"
    async with http.post(url, json={"model": MODEL, "input": "hi"}) as raw:
        assert raw.headers["x-mock-region"] == "us-east"
        body = await raw.json()
    validate("Response", body)
    (item,) = body["output"]
    assert item["type"] == "message" and item["status"] == "completed"
    assert item["content"] == [
        {"type": "output_text", "text": ANSWER, "annotations": [], "logprobs": []}
    ]


@pytest.mark.asyncio
async def test_responses_cut_at_max_output_tokens_are_incomplete(
    cloud: MockCloud, http: aiohttp.ClientSession, oai: AsyncOpenAI
) -> None:
    await patch_region(http, cloud, "us-east", completion_tokens=20)

    cut = await oai.responses.create(model=MODEL, input="go on", max_output_tokens=16)
    assert cut.status == "incomplete"
    assert cut.incomplete_details is not None
    assert cut.incomplete_details.reason == "max_output_tokens"
    message = cut.output[0]
    assert message.type == "message" and message.status == "incomplete"
    assert cut.output_text == answer_text("us-east", 16)
    assert cut.usage is not None and cut.usage.output_tokens == 16
    whole = await oai.responses.create(model=MODEL, input="go on", max_output_tokens=20)
    assert whole.status == "completed" and whole.incomplete_details is None

    with pytest.raises(openai.BadRequestError) as too_small:
        await oai.responses.create(model=MODEL, input="go on", max_output_tokens=5)
    assert too_small.value.param == "max_output_tokens"


@pytest.mark.asyncio
async def test_responses_take_items_function_calls_and_tools_and_can_answer_with_a_call(
    cloud: MockCloud, http: aiohttp.ClientSession, oai: AsyncOpenAI
) -> None:
    await patch_region(http, cloud, "us-east", answer_kind="tool_call")
    tool: FunctionToolParam = {
        "type": "function",
        "name": "lookup",
        "parameters": {"type": "object"},
        "strict": None,
    }
    items: Any = [
        {"role": "user", "content": [{"type": "input_text", "text": "find the cat"}]},
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": '{"q":1}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "not found here"},
    ]

    response = await oai.responses.create(model=MODEL, input=items, tools=[tool])

    (call,) = response.output
    assert call.type == "function_call"
    assert (call.call_id, call.name) == (TOOL_CALL_ID, TOOL_NAME)
    assert orjson.loads(call.arguments) == {"q": ANSWER}
    assert response.status == "completed"
    assert response.usage is not None
    assert response.usage.input_tokens == 6  # the texts; a call's arguments are not prompt text
    assert response.tools[0].type == "function" and response.tools[0].name == "lookup"

    url = cloud.regions["us-east"].base_url + "/responses"
    events = await post_stream(http, url, {"model": MODEL, "input": items, "tools": [tool]})
    deltas = [e["delta"] for _, e in events if e["type"].endswith("arguments.delta")]
    (done,) = [e for _, e in events if e["type"] == "response.function_call_arguments.done"]
    assert "".join(deltas) == done["arguments"] == call.arguments
    assert len(deltas) == 16


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("answer_kind", "part", "status"),
    [("refusal", "refusal", "completed"), ("content_filter", "output_text", "incomplete")],
)
async def test_responses_refusals_and_filtered_answers_take_openai_shapes(
    cloud: MockCloud,
    http: aiohttp.ClientSession,
    oai: AsyncOpenAI,
    answer_kind: str,
    part: str,
    status: str,
) -> None:
    await patch_region(http, cloud, "us-east", answer_kind=answer_kind)
    response = await oai.responses.create(model=MODEL, input="hm")
    assert response.status == status
    message = response.output[0]
    assert message.type == "message" and message.content[0].type == part

    stream = await oai.responses.create(model=MODEL, input="hm", stream=True)
    types = [event.type async for event in stream]
    assert types[-1] == f"response.{status}"
    assert f"response.{'refusal' if part == 'refusal' else 'output_text'}.delta" in types


# --- Responses: streams --------------------------------------------------------------------------


RESPONSE_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    *["response.output_text.delta"] * 4,
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


@pytest.mark.asyncio
async def test_responses_stream_sends_openais_typed_events_in_order(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, "us-east", completion_tokens=4)
    url = cloud.regions["us-east"].base_url + "/responses"
    events = await post_stream(http, url, {"model": MODEL, "input": "a b c"})

    assert [name for name, _ in events] == [data["type"] for _, data in events] == RESPONSE_EVENTS
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    for _, data in events:
        validate("ResponseStreamEvent", data)
    deltas = [data["delta"] for _, data in events if data["type"].endswith(".delta")]
    assert deltas == ["Hello", " from", " us-east.", " lorem"]
    created, completed = events[0][1]["response"], events[-1][1]["response"]
    assert created["status"] == "in_progress" and created["output"] == []
    assert completed["id"] == created["id"]
    assert completed["output"][0]["content"][0]["text"] == "".join(deltas)
    assert completed["usage"]["input_tokens"] == 3
    assert completed["usage"]["output_tokens"] == 4


@pytest.mark.asyncio
async def test_responses_stream_parses_in_the_client_and_its_helper_assembles_it(
    cloud: MockCloud, http: aiohttp.ClientSession, oai: AsyncOpenAI
) -> None:
    await patch_region(http, cloud, "us-east", completion_tokens=20)
    stream = await oai.responses.create(model=MODEL, input="hi", stream=True)
    events = [event async for event in stream]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == answer_text("us-east", 20)
    assert events[-1].type == "response.completed"

    async with oai.responses.stream(model=MODEL, input="hi", max_output_tokens=20) as helper:
        final = await helper.get_final_response()
    assert final.status == "completed"
    assert final.output_text == answer_text("us-east", 20)
    # The helper only assembles completed responses; an incomplete one ends its own way.
    async with oai.responses.stream(model=MODEL, input="hi", max_output_tokens=16) as helper:
        last = [event async for event in helper][-1]
    assert last.type == "response.incomplete"
    assert last.response.output_text == answer_text("us-east", 16)


# --- Responses: stored state ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_continuation_counts_the_conversation_and_works_only_where_it_was_stored(
    cloud: MockCloud, oai: AsyncOpenAI
) -> None:
    first = await oai.responses.create(model=MODEL, input="one two three")
    second = await oai.responses.create(
        model=MODEL, input="four five", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    assert second.usage is not None
    assert second.usage.input_tokens == 3 + 16 + 2
    third = await oai.responses.create(model=MODEL, input="six", previous_response_id=second.id)
    assert third.usage is not None and third.usage.input_tokens == 21 + 16 + 1

    async with openai_client(cloud, "eu-west", api_key=EU_KEY) as elsewhere:
        with pytest.raises(openai.BadRequestError) as unknown:
            await elsewhere.responses.create(model=MODEL, input="x", previous_response_id=first.id)
    assert unknown.value.code == "previous_response_not_found"
    assert unknown.value.param == "previous_response_id"
    validate("ErrorResponse", unknown.value.response.json())


@pytest.mark.asyncio
async def test_unstored_responses_cannot_be_continued(oai: AsyncOpenAI) -> None:
    unstored = await oai.responses.create(model=MODEL, input="hi", store=False)
    assert unstored.model_dump()["store"] is False  # sent by OpenAI, not in the client's type
    with pytest.raises(openai.BadRequestError) as unknown:
        await oai.responses.create(model=MODEL, input="x", previous_response_id=unstored.id)
    assert unknown.value.code == "previous_response_not_found"


@pytest.mark.asyncio
async def test_the_store_keeps_the_newest_responses_and_survives_a_patch() -> None:
    settings = CloudSettings(regions=(RegionSettings(name="solo"),), response_store_limit=2)
    async with (
        MockCloud(settings) as cloud,
        openai_client(cloud, "solo") as client,
        aiohttp.ClientSession() as http,
    ):
        ids = [(await client.responses.create(model=MODEL, input="hi")).id for _ in range(3)]
        await patch_region(http, cloud, "solo", rtt_ms=1)
        with pytest.raises(openai.BadRequestError):
            await client.responses.create(model=MODEL, input="x", previous_response_id=ids[0])
        for kept in ids[1:]:
            await client.responses.create(model=MODEL, input="x", previous_response_id=kept)


# --- Messages ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_message_answer_has_text_stop_reason_and_usage(
    cloud: MockCloud, http: aiohttp.ClientSession, claude: AsyncAnthropic
) -> None:
    message = await claude.messages.create(
        model=CLAUDE, max_tokens=100, system="Be brief.", messages=USER
    )
    assert message.content[0].type == "text" and message.content[0].text == ANSWER
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    assert (message.usage.input_tokens, message.usage.output_tokens) == (5, 16)
    assert message.id.startswith("msg_") and message.model == CLAUDE

    cut = await claude.messages.create(model=CLAUDE, max_tokens=3, messages=USER)
    assert cut.stop_reason == "max_tokens"
    assert cut.content[0].type == "text" and cut.content[0].text == "Hello from us-east."

    stopped = await claude.messages.create(
        model=CLAUDE, max_tokens=100, messages=USER, stop_sequences=["zzz", "ipsum"]
    )
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", "ipsum")
    assert stopped.content[0].type == "text"
    assert stopped.content[0].text == "Hello from us-east. lorem "

    body = {"model": CLAUDE, "max_tokens": 10, "messages": USER}
    async with http.post(messages_url(cloud), json=body, headers=ANTHROPIC_HEADERS) as raw:
        assert raw.status == 200 and raw.headers["x-mock-region"] == "us-east"
        Message.model_validate(await raw.json(), strict=True)


MESSAGE_EVENTS = [
    "message_start",
    "content_block_start",
    "ping",
    *["content_block_delta"] * 4,
    "content_block_stop",
    "message_delta",
    "message_stop",
]


@pytest.mark.asyncio
async def test_message_stream_sends_anthropics_events_in_order(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    body = {"model": CLAUDE, "max_tokens": 4, "messages": USER}
    events = await post_stream(http, messages_url(cloud), body, **ANTHROPIC_HEADERS)

    assert [name for name, _ in events] == [data["type"] for _, data in events] == MESSAGE_EVENTS
    for _, data in events:
        if data["type"] != "ping":
            STREAM_EVENT.validate_python(data)
    start, delta = events[0][1], events[-2][1]
    assert start["message"]["content"] == [] and start["message"]["stop_reason"] is None
    assert start["message"]["usage"]["input_tokens"] == 3
    assert [data["delta"]["text"] for _, data in events[3:7]] == [
        "Hello",
        " from",
        " us-east.",
        " lorem",
    ]
    assert delta["delta"] == {"stop_reason": "max_tokens", "stop_sequence": None}
    assert delta["usage"] == {"output_tokens": 4}


@pytest.mark.asyncio
async def test_message_stream_parses_in_the_client_and_its_helper_assembles_it(
    claude: AsyncAnthropic,
) -> None:
    stream = await claude.messages.create(model=CLAUDE, max_tokens=100, messages=USER, stream=True)
    events = [event async for event in stream]
    text = "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == ANSWER

    async with claude.messages.stream(
        model=CLAUDE, max_tokens=100, messages=USER, stop_sequences=["dolor"]
    ) as helper:
        final = await helper.get_final_message()
    assert final.content[0].type == "text"
    assert final.content[0].text == "Hello from us-east. lorem ipsum "
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "dolor")
    # Six tokens: the one the stop sequence began in is cut down to the space before it.
    assert (final.usage.input_tokens, final.usage.output_tokens) == (3, 6)


@pytest.mark.asyncio
async def test_tool_use_answers_and_tool_blocks_in_the_conversation(
    cloud: MockCloud, http: aiohttp.ClientSession, claude: AsyncAnthropic
) -> None:
    await patch_region(http, cloud, "us-east", answer_kind="tool_call")
    conversation: list[MessageParam] = [
        {"role": "user", "content": "find the cat"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "not found here"}
            ],
        },
    ]
    tools: Any = [{"name": "lookup", "input_schema": {"type": "object"}}]

    message = await claude.messages.create(
        model=CLAUDE, max_tokens=100, messages=conversation, tools=tools
    )
    (block,) = message.content
    assert block.type == "tool_use"
    assert (block.id, block.name, block.input) == (TOOL_USE_ID, TOOL_NAME, {"q": ANSWER})
    assert message.stop_reason == "tool_use"
    assert message.usage.input_tokens == 6

    async with claude.messages.stream(
        model=CLAUDE, max_tokens=100, messages=conversation, tools=tools
    ) as helper:
        final = await helper.get_final_message()
    assert final.content == message.content
    assert final.stop_reason == "tool_use"


@pytest.mark.asyncio
async def test_count_tokens_counts_as_the_answer_does(claude: AsyncAnthropic) -> None:
    counted = await claude.messages.count_tokens(model=CLAUDE, system="Be brief.", messages=USER)
    answered = await claude.messages.create(
        model=CLAUDE, max_tokens=5, system="Be brief.", messages=USER
    )
    assert counted.input_tokens == answered.usage.input_tokens == 5


@pytest.mark.asyncio
async def test_messages_key_and_version_are_checked_and_recorded_without_the_key(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    # The official client sends its key as a bearer token; Anthropic also reads `x-api-key`.
    async with anthropic_client(cloud, "eu-west", api_key="sk-ant-wrong") as wrong:
        with pytest.raises(anthropic.AuthenticationError) as refused:
            await wrong.messages.create(model=CLAUDE, max_tokens=5, messages=USER)
    assert refused.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    async with anthropic_client(cloud, "eu-west") as right:
        assert (await right.messages.create(model=CLAUDE, max_tokens=5, messages=USER)).content
    url, body = messages_url(cloud, "eu-west"), {"model": CLAUDE, "max_tokens": 5, "messages": USER}
    sent = [
        ({**ANTHROPIC_HEADERS, "x-api-key": "sk-ant-wrong"}, 401, "invalid x-api-key"),
        ({"anthropic-version": "2023-06-01"}, 401, "x-api-key header is required"),
        ({"x-api-key": EU_KEY}, 400, "anthropic-version: header is required"),
        ({**ANTHROPIC_HEADERS, "x-api-key": EU_KEY}, 200, None),
    ]
    for headers, status, message in sent:
        async with http.post(url, json=body, headers=headers) as response:
            assert response.status == status
            answer = await response.json()
        if message is not None:
            assert answer["type"] == "error" and answer["error"]["message"] == message

    records = await control_get(http, cloud, "regions/eu-west/requests")
    assert [r["auth"] for r in records] == ["invalid", "valid", "invalid", "missing"] + [
        "valid"
    ] * 2
    assert [r["headers"].get("authorization") for r in records[:2]] == ["invalid", "valid"]
    assert [r["headers"].get("x-api-key") for r in records[2:]] == [
        "invalid",
        None,
        "valid",
        "valid",
    ]
    assert records[0]["headers"]["anthropic-version"]  # the client's API version, as sent
    assert "anthropic-version" not in records[4]["headers"]
    assert orjson.loads(records[1]["body"])["max_tokens"] == 5
    assert {r["path"] for r in records} == {"/v1/messages"}
    assert EU_KEY not in orjson.dumps(records).decode()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "status", "error_type"),
    [
        ({"model": CLAUDE, "messages": USER}, 400, "invalid_request_error"),
        ({"model": "claude-nope", "max_tokens": 5, "messages": USER}, 404, "not_found_error"),
        ({"model": CLAUDE, "max_tokens": 5, "messages": []}, 400, "invalid_request_error"),
        ({"model": CLAUDE, "max_tokens": 5, "messages": [{"role": "bot"}]}, 400, None),
    ],
)
async def test_bad_messages_requests_get_anthropic_error_bodies(
    cloud: MockCloud,
    http: aiohttp.ClientSession,
    body: dict[str, Any],
    status: int,
    error_type: str | None,
) -> None:
    async with http.post(messages_url(cloud), json=body, headers=ANTHROPIC_HEADERS) as response:
        assert response.status == status
        error = await response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == (error_type or "invalid_request_error")
    assert isinstance(error["error"]["message"], str)


# --- echo ----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_echo_regions_answer_both_apis_with_the_requests_text(
    cloud: MockCloud, http: aiohttp.ClientSession, oai: AsyncOpenAI, claude: AsyncAnthropic
) -> None:
    await patch_region(http, cloud, "us-east", echo=True, echo_piece_chars=3)
    response = await oai.responses.create(
        model=MODEL,
        instructions="Be brief.",
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "Mail <EMAIL_1>"}]},
            {"type": "function_call", "call_id": "c", "name": "send", "arguments": '{"to":1}'},
            {"type": "function_call_output", "call_id": "c", "output": "sent"},
        ],
    )
    assert response.output_text == 'Be brief.\nMail <EMAIL_1>\n{"to":1}\nsent'

    message = await claude.messages.create(
        model=CLAUDE,
        max_tokens=5,
        system="Be brief.",
        messages=[{"role": "user", "content": [{"type": "text", "text": "olá ✓ <CPF_1>"}]}],
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "Be brief.\nolá ✓"  # five pieces of three characters
    assert message.stop_reason == "max_tokens"


# --- pacing --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_streams_start_at_once_and_wait_the_time_to_first_token_for_content(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    # A minute to the first token: anything after the head arriving would be a failure to wait.
    await patch_region(http, cloud, "us-east", ttft_ms=60_000)
    base = cloud.regions["us-east"].base_url
    requests: list[tuple[str, dict[str, Any], dict[str, str], list[str]]] = [
        (
            base + "/responses",
            {"model": MODEL, "input": "hi"},
            {},
            ["response.created", "response.in_progress"],
        ),
        (
            messages_url(cloud),
            {"model": CLAUDE, "max_tokens": 5, "messages": USER},
            ANTHROPIC_HEADERS,
            ["message_start"],
        ),
    ]
    for url, body, headers, head in requests:
        async with http.post(url, json={**body, "stream": True}, headers=headers) as response:
            assert [(await read_event(response))[0] for _ in head] == head
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(read_event(response), 0.2)
    # The JSON answers wait as long before they are sent at all.
    async with openai_client(cloud, timeout=0.2) as hasty:
        with pytest.raises(openai.APITimeoutError):
            await hasty.responses.create(model=MODEL, input="hi")
    async with anthropic_client(cloud, timeout=0.2) as hasty_claude:
        with pytest.raises(anthropic.APITimeoutError):
            await hasty_claude.messages.create(model=CLAUDE, max_tokens=5, messages=USER)


@pytest.mark.asyncio
async def test_streams_send_one_token_per_tokens_per_s_interval(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, "us-east", tokens_per_s=0.5)  # a token every two seconds
    base = cloud.regions["us-east"].base_url
    requests: list[tuple[str, dict[str, Any], dict[str, str], str, int]] = [
        (base + "/responses", {"model": MODEL, "input": "hi"}, {}, "response.output_text.delta", 5),
        (
            messages_url(cloud),
            {"model": CLAUDE, "max_tokens": 5, "messages": USER},
            ANTHROPIC_HEADERS,
            "content_block_delta",
            4,
        ),
    ]
    for url, body, headers, delta_type, through_first in requests:
        async with http.post(url, json={**body, "stream": True}, headers=headers) as response:
            events = [await read_event(response) for _ in range(through_first)]
            assert events[-1][0] == delta_type
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(read_event(response), 0.2)


# --- faults --------------------------------------------------------------------------------------


async def ask_each_api(
    cloud: MockCloud, region: str = "us-east", **options: Any
) -> list[Exception]:
    """One request to each API through its official client: what each raised."""
    raised: list[Exception] = []
    async with (
        openai_client(cloud, region, **options) as oai,
        anthropic_client(cloud, region, **options) as claude,
    ):
        calls = [
            oai.chat.completions.create(model=MODEL, messages=CHAT_USER),
            oai.responses.create(model=MODEL, input="x"),
            claude.messages.create(model=CLAUDE, max_tokens=5, messages=USER),
            claude.messages.count_tokens(model=CLAUDE, messages=USER),
        ]
        for call in calls:
            try:
                await call
            except Exception as exc:
                raised.append(exc)
            else:
                raise AssertionError("the request succeeded")
    return raised


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "openai_error", "anthropic_error"),
    [
        (500, openai.InternalServerError, anthropic.InternalServerError),
        (429, openai.RateLimitError, anthropic.RateLimitError),
        (529, openai.InternalServerError, anthropic.OverloadedError),
    ],
)
async def test_injected_errors_take_each_apis_own_shape(
    cloud: MockCloud,
    http: aiohttp.ClientSession,
    status: int,
    openai_error: type[Exception],
    anthropic_error: type[Exception],
) -> None:
    await patch_region(http, cloud, "us-east", error_rate=1.0, error_status=status)
    chat, responses, messages, count = await ask_each_api(cloud)

    for error in (chat, responses):
        assert isinstance(error, openai_error)
        assert isinstance(error, openai.APIStatusError)
        validate("ErrorResponse", error.response.json())
    for error in (messages, count):
        assert isinstance(error, anthropic_error)
        assert isinstance(error, anthropic.APIStatusError)
        body = error.response.json()
        assert body["type"] == "error"
        assert body["error"]["type"] == ANTHROPIC_TYPES[status]
    stats = await control_get(http, cloud, "regions/us-east/stats")
    assert stats["errors_injected"] == 4


@pytest.mark.asyncio
async def test_hanging_and_down_regions_fail_every_api_as_the_network_would(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, "us-east", timeout_rate=1.0)
    hung = await ask_each_api(cloud, timeout=0.2)
    assert all(isinstance(e, openai.APITimeoutError | anthropic.APITimeoutError) for e in hung)

    await patch_region(http, cloud, "us-east", timeout_rate=0.0, down=True)
    cut = await ask_each_api(cloud)
    assert all(isinstance(e, openai.APIConnectionError | anthropic.APIConnectionError) for e in cut)


# --- in-band errors ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_chat_in_band_error_comes_first_or_after_n_content_events(
    cloud: MockCloud, http: aiohttp.ClientSession, oai: AsyncOpenAI
) -> None:
    await patch_region(http, cloud, "us-east", inband_error_rate=1.0)
    url = cloud.regions["us-east"].base_url + "/chat/completions"
    body = {"model": MODEL, "messages": USER}

    (event,) = await post_stream(http, url, body)  # no role chunk, no [DONE]
    assert event[0] is None
    validate("ErrorResponse", event[1])
    assert event[1]["error"]["type"] == "server_error"
    with pytest.raises(openai.APIError) as raised:
        async for _ in await oai.chat.completions.create(
            model=MODEL, messages=CHAT_USER, stream=True
        ):
            raise AssertionError("a chunk came before the error")
    assert "simulated by the mock cloud" in raised.value.message

    await patch_region(http, cloud, "us-east", inband_error_after_events=3, error_status=429)
    *chunks, (_, error) = await post_stream(http, url, body)
    assert [c["choices"][0]["delta"].get("content") for _, c in chunks] == [
        "",
        "Hello",
        " from",
        " us-east.",
    ]
    assert error["error"]["code"] == "rate_limit_exceeded"
    stats = await control_get(http, cloud, "regions/us-east/stats")
    assert stats["inband_errors_injected"] == 3
    assert stats["errors_injected"] == 0


@pytest.mark.asyncio
async def test_responses_in_band_error_follows_the_start_of_the_response(
    cloud: MockCloud, http: aiohttp.ClientSession, oai: AsyncOpenAI
) -> None:
    await patch_region(http, cloud, "us-east", inband_error_rate=1.0)
    url = cloud.regions["us-east"].base_url + "/responses"
    events = await post_stream(http, url, {"model": MODEL, "input": "hi"})
    assert [name for name, _ in events] == ["response.created", "response.in_progress", "error"]
    error = events[-1][1]
    validate("ResponseErrorEvent", error)
    assert (error["code"], error["sequence_number"]) == ("server_error", 2)
    assert error["error"]["message"] == error["message"]

    await patch_region(http, cloud, "us-east", inband_error_after_events=2)
    seen: list[str] = []
    with pytest.raises(openai.APIError) as raised:
        async for event in await oai.responses.create(model=MODEL, input="hi", stream=True):
            seen.append(event.type)
    assert seen == RESPONSE_EVENTS[:4] + ["response.output_text.delta"] * 2
    assert raised.value.code == "server_error"

    # A response that failed was not stored.
    created = events[0][1]["response"]["id"]
    with pytest.raises(openai.BadRequestError):
        await oai.responses.create(model=MODEL, input="x", previous_response_id=created)


@pytest.mark.asyncio
async def test_messages_in_band_error_follows_message_start(
    cloud: MockCloud, http: aiohttp.ClientSession, claude: AsyncAnthropic
) -> None:
    await patch_region(http, cloud, "us-east", inband_error_rate=1.0, error_status=529)
    body = {"model": CLAUDE, "max_tokens": 5, "messages": USER}
    events = await post_stream(http, messages_url(cloud), body, **ANTHROPIC_HEADERS)
    assert [name for name, _ in events] == ["message_start", "error"]
    assert events[-1][1]["error"]["type"] == "overloaded_error"

    await patch_region(http, cloud, "us-east", inband_error_after_events=2)
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as raised:
        async for event in await claude.messages.create(
            model=CLAUDE, max_tokens=5, messages=USER, stream=True
        ):
            seen.append(event.type)
    assert seen == ["message_start", "content_block_start"] + ["content_block_delta"] * 2
    assert raised.value.body == {
        "type": "error",
        "error": {
            "type": "overloaded_error",
            "message": "Overloaded (simulated by the mock cloud).",
        },
    }


@pytest.mark.asyncio
async def test_in_band_settings_are_validated_like_the_others(
    cloud: MockCloud, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    url = f"{cloud.control_url}/control/regions/us-east"
    patch = {"inband_error_rate": 2, "inband_error_after_events": -1, "apis": ["chat", "grpc"]}
    async with http.patch(url, json=patch) as response:
        assert response.status == 400
        message = (await response.json())["error"]["message"]
    for field in patch:
        assert f"{field}: must be" in message
    assert cloud.regions["us-east"].settings.inband_error_rate == 0

    path = tmp_path / "cloud.yaml"
    path.write_text(
        "response_store_limit: 5\nregions:\n"
        "  - {name: a, apis: [chat], inband_error_rate: 0.5, inband_error_after_events: 3}\n"
    )
    settings = load_cloud_settings(path)
    (a,) = settings.regions
    assert (a.apis, a.inband_error_rate, a.inband_error_after_events) == (("chat",), 0.5, 3)
    assert settings.response_store_limit == 5
    with pytest.raises(SettingsError, match="apis: must be a list of distinct APIs"):
        RegionSettings(name="b", apis=("chat", "chat"))


# --- which APIs a region speaks ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_chat_only_region_answers_the_other_apis_404_in_their_own_shape(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    async with (
        openai_client(cloud, "chat-only") as oai,
        anthropic_client(cloud, "chat-only") as claude,
    ):
        chat = await oai.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}]
        )
        assert chat.choices[0].message.content == answer_text("chat-only", 16)
        with pytest.raises(openai.NotFoundError) as responses:
            await oai.responses.create(model=MODEL, input="x")
        with pytest.raises(anthropic.NotFoundError) as messages:
            await claude.messages.create(model=CLAUDE, max_tokens=5, messages=USER)
        with pytest.raises(anthropic.NotFoundError):
            await claude.messages.count_tokens(model=CLAUDE, messages=USER)
    validate("ErrorResponse", responses.value.response.json())
    assert messages.value.response.json()["error"]["type"] == "not_found_error"
    described = await control_get(http, cloud, "regions/chat-only")
    assert described["apis"] == ["chat"]
    assert described["anthropic_base_url"] + "/v1" == described["base_url"]
