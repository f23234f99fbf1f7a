"""The simulated cloud honours `stop` and `n` like OpenAI, driven by the official `openai` client.

The template answer is "Hello from us-east. lorem ipsum ..." (one word per token and per stream
event); the echo regions answer with the request's own text, one or four characters per event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import openai
import orjson
import pytest
import pytest_asyncio
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from loadtest.mock_cloud import CloudSettings, ControlSettings, MockCloud, RegionSettings
from loadtest.mock_cloud.wire import answer_text
from tests.openai_clients import async_openai
from tests.openapi_schemas import validate

MODEL = "gpt-4o-mini"
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "say something nice"}]
ECHOED = "keep this<END>never this"


@pytest_asyncio.fixture
async def cloud() -> AsyncIterator[MockCloud]:
    settings = CloudSettings(
        regions=(
            RegionSettings(name="us-east"),
            RegionSettings(name="echo-1", echo=True, echo_piece_chars=1),
            RegionSettings(name="echo-4", echo=True, echo_piece_chars=4),
        ),
        control=ControlSettings(port=0),
    )
    async with MockCloud(settings, seed=0) as running:
        yield running


@pytest_asyncio.fixture
async def clients(cloud: MockCloud) -> AsyncIterator[dict[str, AsyncOpenAI]]:
    async with AsyncExitStack() as stack:
        yield {
            name: await stack.enter_async_context(
                async_openai(region.base_url, api_key="sk-any", max_retries=0)
            )
            for name, region in cloud.regions.items()
        }


async def streamed_chunks(client: AsyncOpenAI, **request: Any) -> list[ChatCompletionChunk]:
    stream = await client.chat.completions.create(
        model=MODEL, stream=True, stream_options={"include_usage": True}, **request
    )
    return [chunk async for chunk in stream]


def texts_by_choice(chunks: list[ChatCompletionChunk]) -> dict[int, str]:
    texts: dict[int, str] = defaultdict(str)
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    return dict(texts)


def finishes_by_choice(chunks: list[ChatCompletionChunk]) -> dict[int, list[str]]:
    finishes: dict[int, list[str]] = defaultdict(list)
    for chunk in chunks:
        for choice in chunk.choices:
            if choice.finish_reason is not None:
                finishes[choice.index].append(choice.finish_reason)
    return dict(finishes)


# --- stop ----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_stop_cuts_the_json_answer_before_the_earliest_stop_sequence(
    clients: dict[str, AsyncOpenAI],
) -> None:
    client = clients["us-east"]
    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, stop=[" ipsum", "m us", ""]
    )
    validate("CreateChatCompletionResponse", orjson.loads(raw.content))
    completion = raw.parse()

    # "m us" spans the words " from" and " us-east.": the answer ends inside a token.
    assert completion.choices[0].message.content == "Hello fro"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 2

    as_string = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stop="lorem")
    assert as_string.choices[0].message.content == "Hello from us-east. "
    absent = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stop="nowhere")
    assert absent.choices[0].message.content == answer_text("us-east", 16)
    assert absent.usage is not None and absent.usage.completion_tokens == 16


@pytest.mark.asyncio
async def test_stop_past_max_tokens_is_never_reached_and_the_answer_ends_by_length(
    clients: dict[str, AsyncOpenAI],
) -> None:
    completion = await clients["us-east"].chat.completions.create(
        model=MODEL, messages=MESSAGES, stop=" ipsum", max_tokens=4
    )
    assert completion.choices[0].message.content == "Hello from us-east. lorem"
    assert completion.choices[0].finish_reason == "length"


@pytest.mark.asyncio
async def test_stop_sequence_spanning_stream_events_is_never_emitted(
    clients: dict[str, AsyncOpenAI],
) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": ECHOED}]
    chunks = await streamed_chunks(clients["echo-1"], messages=messages, stop=["<END>"])

    pieces = [c.delta.content for chunk in chunks for c in chunk.choices if c.delta.content]
    assert pieces == list("keep this")  # one character per event, "<" and after never sent
    assert finishes_by_choice(chunks) == {0: ["stop"]}
    assert (
        chunks[-2].choices[0].finish_reason == "stop"
        and chunks[-2].choices[0].delta.content is None
    )
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert usage.completion_tokens == len("keep this")


@pytest.mark.asyncio
async def test_stop_in_a_template_stream_cuts_inside_a_word_event(
    clients: dict[str, AsyncOpenAI],
) -> None:
    chunks = await streamed_chunks(clients["us-east"], messages=MESSAGES, stop="m us")

    pieces = [c.delta.content for chunk in chunks for c in chunk.choices if c.delta.content]
    assert pieces == ["Hello", " fro"]
    assert finishes_by_choice(chunks) == {0: ["stop"]}
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 2


@pytest.mark.asyncio
async def test_stop_cuts_the_echo_of_chat_and_text_completions(
    clients: dict[str, AsyncOpenAI],
) -> None:
    client = clients["echo-4"]
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": ECHOED}]
    chat = await client.chat.completions.create(model=MODEL, messages=messages, stop="<END>")
    assert chat.choices[0].message.content == "keep this"
    assert chat.choices[0].finish_reason == "stop"
    # "keep", " thi", "s" of "s<EN": three pieces returned.
    assert chat.usage is not None and chat.usage.completion_tokens == 3

    text = await client.completions.create(model=MODEL, prompt=ECHOED, stop=["never", "<"])
    assert text.choices[0].text == "keep this"
    assert text.choices[0].finish_reason == "stop"

    stream = await client.completions.create(model=MODEL, prompt=ECHOED, stop="<", stream=True)
    chunks = [chunk async for chunk in stream]
    assert "".join(c.text for chunk in chunks for c in chunk.choices) == "keep this"
    assert chunks[-1].choices[0].finish_reason == "stop"


# --- n -------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_n_choices_in_json_each_carry_the_answer_and_usage_counts_them_all(
    clients: dict[str, AsyncOpenAI],
) -> None:
    raw = await clients["us-east"].chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, n=3, stop=" lorem"
    )
    validate("CreateChatCompletionResponse", orjson.loads(raw.content))
    completion = raw.parse()

    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert {c.message.content for c in completion.choices} == {"Hello from us-east."}
    assert {c.finish_reason for c in completion.choices} == {"stop"}
    assert completion.usage is not None and completion.usage.completion_tokens == 3 * 3


@pytest.mark.asyncio
async def test_n_choices_stream_one_choice_per_chunk_each_with_its_own_finish(
    cloud: MockCloud, clients: dict[str, AsyncOpenAI]
) -> None:
    chunks = await streamed_chunks(clients["us-east"], messages=MESSAGES, n=3, max_tokens=4)

    assert all(len(chunk.choices) == 1 for chunk in chunks[:-1])
    assert texts_by_choice(chunks) == {i: answer_text("us-east", 4) for i in range(3)}
    assert finishes_by_choice(chunks) == {0: ["length"], 1: ["length"], 2: ["length"]}
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3 * 4

    url = cloud.regions["us-east"].base_url + "/chat/completions"
    body = {"model": MODEL, "messages": MESSAGES, "n": 2, "max_tokens": 2, "stream": True}
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as response:
        events = [line async for line in response.content if line.startswith(b"data: {")]
    for event in events:
        validate("CreateChatCompletionStreamResponse", orjson.loads(event[len(b"data: ") :]))
    # Per choice: the role, two tokens, the finish; interleaved by step, in index order.
    indexes = [orjson.loads(event[len(b"data: ") :])["choices"][0]["index"] for event in events]
    assert indexes == [0, 1] * 4


# --- invalid values ------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("n", 0, "integer_out_of_range"),
        ("n", -1, "integer_out_of_range"),
        ("n", 129, "integer_out_of_range"),
        ("n", 1.5, "invalid_type"),
        ("n", "2", "invalid_type"),
        ("stop", ["a", "b", "c", "d", "e"], "array_above_max_length"),
        ("stop", ["a", 1], "invalid_type"),
        ("stop", 7, "invalid_type"),
        ("stop", {"sequence": "a"}, "invalid_type"),
    ],
)
async def test_invalid_n_or_stop_gets_an_openai_400(
    clients: dict[str, AsyncOpenAI], field: str, value: object, code: str
) -> None:
    client = clients["us-east"]
    with pytest.raises(openai.BadRequestError) as raised:
        await client.chat.completions.create(
            model=MODEL, messages=MESSAGES, extra_body={field: value}
        )
    assert raised.value.status_code == 400
    assert (raised.value.param, raised.value.code) == (field, code)
    validate("ErrorResponse", raised.value.response.json())

    with pytest.raises(openai.BadRequestError):
        await client.completions.create(model=MODEL, prompt="x", extra_body={field: value})
