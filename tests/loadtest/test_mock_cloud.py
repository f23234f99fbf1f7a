"""The simulated cloud, driven by the official `openai` client and raw HTTP on loopback sockets.

Bodies are checked against the official OpenAI OpenAPI schemas. Nothing asserts an upper bound on
time: waits for the server to notice something are polls with a generous limit, and latency checks
are lower bounds only.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest
import pytest_asyncio
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from loadtest.mock_cloud import (
    CloudSettings,
    ControlSettings,
    MockCloud,
    RegionSettings,
    SettingsError,
    load_cloud_settings,
)
from loadtest.mock_cloud.region_state import RegionState
from loadtest.mock_cloud.wire import answer_text
from tests.openai_clients import async_openai
from tests.openapi_schemas import validate

REPO = Path(__file__).resolve().parents[2]
EU_KEY = "sk-eu-secret"
MODEL = "gpt-4o-mini"
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "say something nice"}]
CHAT: dict[str, Any] = {"model": MODEL, "messages": MESSAGES}
TIMER_RESOLUTION_S = 0.001


@pytest_asyncio.fixture
async def cloud() -> AsyncIterator[MockCloud]:
    settings = CloudSettings(
        regions=(RegionSettings(name="us-east"), RegionSettings(name="eu-west", api_key=EU_KEY)),
        control=ControlSettings(port=0),
    )
    async with MockCloud(settings, seed=0) as running:
        yield running


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest_asyncio.fixture
async def client(cloud: MockCloud) -> AsyncIterator[AsyncOpenAI]:
    base_url = cloud.regions["us-east"].base_url
    async with async_openai(base_url, api_key="sk-any", max_retries=0) as c:
        yield c


async def ask(client: AsyncOpenAI) -> ChatCompletion:
    return await client.chat.completions.create(model=MODEL, messages=MESSAGES)


async def post_json(
    http: aiohttp.ClientSession, url: str, body: object
) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
    async with http.post(url, data=orjson.dumps(body)) as response:
        return response.status, orjson.loads(await response.read()), response


async def patch_region(
    http: aiohttp.ClientSession, cloud: MockCloud, name: str, **fields: Any
) -> None:
    url = f"{cloud.control_url}/control/regions/{name}"
    async with http.patch(url, json=fields) as response:
        assert response.status == 200, await response.text()


async def control_get(http: aiohttp.ClientSession, cloud: MockCloud, path: str) -> Any:
    async with http.get(f"{cloud.control_url}/control/{path}") as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll until the server has caught up; the limit only turns a hang into a failure."""
    for _ in range(500):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting until {what}")


async def sse_events(response: aiohttp.ClientResponse) -> list[bytes]:
    events = []
    async for line in response.content:
        if line.startswith(b"data: "):
            events.append(line[len(b"data: ") :].rstrip(b"\n"))
        else:
            assert line == b"\n", line
    return events


# --- chat completions --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_chat_completion_answers_deterministic_words_with_exact_usage(
    client: AsyncOpenAI,
) -> None:
    completion = await ask(client)

    content = completion.choices[0].message.content
    assert content == answer_text("us-east", 16)
    assert content is not None and content.startswith("Hello from us-east. ")
    assert len(content.split()) == 16
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-4o-mini"
    assert completion.id.startswith("chatcmpl-")
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (3, 16)
    assert completion.usage.total_tokens == 19


@pytest.mark.asyncio
async def test_chat_completion_body_matches_openai_schema(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    url = cloud.regions["us-east"].base_url + "/chat/completions"
    status, body, response = await post_json(http, url, {**CHAT, "n": 2, "max_tokens": 5})

    assert status == 200
    assert response.headers["x-mock-region"] == "us-east"
    assert response.headers["Content-Type"] == "application/json"
    validate("CreateChatCompletionResponse", body)
    assert [c["index"] for c in body["choices"]] == [0, 1]
    assert all(c["finish_reason"] == "length" for c in body["choices"])
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello from us-east. lorem ipsum",
        "refusal": None,
    }
    assert body["usage"]["completion_tokens"] == 10  # five per choice


@pytest.mark.asyncio
async def test_chat_stream_sends_role_tokens_finish_usage_then_done(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    url = cloud.regions["us-east"].base_url + "/chat/completions"
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}, "max_tokens": 4}
    async with http.post(url, json=body) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["x-mock-region"] == "us-east"
        events = await sse_events(response)

    assert events[-1] == b"[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    role, *tokens, finish, usage = chunks
    assert role["choices"][0]["delta"]["role"] == "assistant"
    assert [t["choices"][0]["delta"]["content"] for t in tokens] == [
        "Hello",
        " from",
        " us-east.",
        " lorem",
    ]
    assert finish["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "length",
    }
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    assert len({chunk["id"] for chunk in chunks}) == 1


@pytest.mark.asyncio
async def test_chat_stream_through_openai_client_joins_to_the_answer(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    pieces: list[str] = []
    usage = None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        pieces.extend(c.delta.content or "" for c in chunk.choices)

    assert "".join(pieces) == answer_text("us-east", 16)
    assert usage is not None and usage.completion_tokens == 16


@pytest.mark.asyncio
async def test_stream_without_include_usage_has_no_usage_field(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    url = cloud.regions["us-east"].base_url + "/chat/completions"
    async with http.post(url, json={**CHAT, "stream": True}) as response:
        events = await sse_events(response)

    assert events[-1] == b"[DONE]"
    assert all("usage" not in orjson.loads(e) for e in events[:-1])
    assert len(events) == 1 + 16 + 1 + 1  # role, tokens, finish, [DONE]


# --- text completions, embeddings, models --------------------------------------------------------


@pytest.mark.asyncio
async def test_text_completion_json_and_stream_carry_the_same_text(
    cloud: MockCloud, http: aiohttp.ClientSession, client: AsyncOpenAI
) -> None:
    url = cloud.regions["us-east"].base_url + "/completions"
    request = {"model": "gpt-4o", "prompt": ["one two", "three"], "max_tokens": 6}
    status, body, _ = await post_json(http, url, request)
    assert status == 200
    validate("CreateCompletionResponse", body)
    assert body["object"] == "text_completion"
    assert body["choices"][0]["text"] == answer_text("us-east", 6)
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9}

    stream = await client.completions.create(
        model="gpt-4o",
        prompt="one two",
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.text for chunk in chunks for c in chunk.choices) == answer_text("us-east", 6)
    assert [c.finish_reason for c in chunks[-2].choices] == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None

    async with http.post(url, json={**request, "stream": True}) as response:
        events = await sse_events(response)
    assert events[-1] == b"[DONE]"
    # Like OpenAI's, the token chunks say `finish_reason: null`, which the completion schema (shared
    # by JSON and stream) does not allow; the closing chunk must match it.
    validate("CreateCompletionResponse", orjson.loads(events[-2]))


@pytest.mark.asyncio
async def test_embeddings_are_unit_norm_deterministic_and_equal_in_both_encodings(
    cloud: MockCloud, http: aiohttp.ClientSession, client: AsyncOpenAI
) -> None:
    url = cloud.regions["us-east"].base_url + "/embeddings"
    inputs = ["the cat", "a dog", "the cat"]
    status, body, _ = await post_json(
        http, url, {"model": "text-embedding-3-small", "input": inputs}
    )
    assert status == 200
    validate("CreateEmbeddingResponse", body)
    vectors = [item["embedding"] for item in body["data"]]
    assert [len(v) for v in vectors] == [64, 64, 64]
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-5) for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    assert body["usage"] == {"prompt_tokens": 6, "total_tokens": 6}

    as_floats = await client.embeddings.create(
        model="text-embedding-3-small", input=inputs, encoding_format="float"
    )
    # Without an encoding_format the client asks for base64 and decodes it itself.
    from_base64 = await client.embeddings.create(model="text-embedding-3-small", input=inputs)
    assert [d.embedding for d in from_base64.data] == [d.embedding for d in as_floats.data]
    assert [d.embedding for d in as_floats.data] == vectors
    sent = await control_get(http, cloud, "regions/us-east/requests")
    assert orjson.loads(sent[-1]["body"])["encoding_format"] == "base64"


@pytest.mark.asyncio
async def test_embeddings_accept_token_arrays_and_dimensions(client: AsyncOpenAI) -> None:
    result = await client.embeddings.create(
        model="text-embedding-3-small", input=[[1, 2, 3], [4]], dimensions=8
    )
    assert [len(d.embedding) for d in result.data] == [8, 8]
    assert result.usage.prompt_tokens == 4


@pytest.mark.asyncio
async def test_models_list_and_retrieve_match_schemas(
    cloud: MockCloud, http: aiohttp.ClientSession, client: AsyncOpenAI
) -> None:
    ids = [model.id async for model in client.models.list()]
    assert ids == ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]
    assert (await client.models.retrieve("gpt-4o")).owned_by == "mock-cloud"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("gpt-nope")

    base = cloud.regions["us-east"].base_url
    async with http.get(f"{base}/models") as response:
        validate("ListModelsResponse", await response.json())
    async with http.get(f"{base}/models/gpt-4o") as response:
        validate("Model", await response.json())


# --- echo ----------------------------------------------------------------------------------------

# Every kind of text a chat request carries, and parts that carry none.
ECHOED_MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Mail <EMAIL_1>, olá ✓"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            {"type": "text", "text": "thanks"},
        ],
    },
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "send", "arguments": '{"to": "<EMAIL_1>"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "sent"},
]
ECHOED_TEXT = 'Be brief.\nMail <EMAIL_1>, olá ✓\nthanks\n{"to": "<EMAIL_1>"}\nsent'


@pytest.mark.asyncio
async def test_echo_region_answers_chat_with_the_messages_text_whole_or_in_pieces(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, "us-east", echo=True, echo_piece_chars=3)
    assert (await control_get(http, cloud, "regions/us-east"))["echo_piece_chars"] == 3
    url = cloud.regions["us-east"].base_url + "/chat/completions"
    request = {"model": MODEL, "messages": ECHOED_MESSAGES, "n": 2}

    status, body, _ = await post_json(http, url, request)
    assert status == 200
    validate("CreateChatCompletionResponse", body)
    assert [c["message"]["content"] for c in body["choices"]] == [ECHOED_TEXT, ECHOED_TEXT]
    assert {c["finish_reason"] for c in body["choices"]} == {"stop"}
    pieces = math.ceil(len(ECHOED_TEXT) / 3)
    assert body["usage"]["completion_tokens"] == 2 * pieces

    async with http.post(url, json={**request, "n": 1, "stream": True}) as response:
        events = await sse_events(response)
    assert events[-1] == b"[DONE]"
    role, *tokens, finish = [orjson.loads(e) for e in events[:-1]]
    assert role["choices"][0]["delta"]["role"] == "assistant"
    streamed = [t["choices"][0]["delta"]["content"] for t in tokens]
    assert streamed == [ECHOED_TEXT[i : i + 3] for i in range(0, len(ECHOED_TEXT), 3)]
    assert finish["choices"][0]["finish_reason"] == "stop"


@pytest.mark.asyncio
async def test_echo_region_answers_text_completions_with_the_prompts(
    cloud: MockCloud, http: aiohttp.ClientSession, client: AsyncOpenAI
) -> None:
    await patch_region(http, cloud, "us-east", echo=True, echo_piece_chars=1)
    url = cloud.regions["us-east"].base_url + "/completions"

    _, body, _ = await post_json(http, url, {"model": MODEL, "prompt": ["Olá <CPF_1>", "bye"]})
    assert body["choices"][0]["text"] == "Olá <CPF_1>\nbye"
    _, body, _ = await post_json(http, url, {"model": MODEL, "prompt": [[1, 2], [3]]})
    assert body["choices"][0]["text"] == "1 2\n3"

    stream = await client.completions.create(model=MODEL, prompt="ação ✓", stream=True)
    chunks = [chunk async for chunk in stream]
    assert [c.text for chunk in chunks for c in chunk.choices] == ["a", "ç", "ã", "o", " ", "✓", ""]
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.asyncio
async def test_echo_stops_at_max_tokens_pieces_and_says_length_only_when_cut_short(
    cloud: MockCloud, http: aiohttp.ClientSession, client: AsyncOpenAI
) -> None:
    await patch_region(http, cloud, "us-east", echo=True, echo_piece_chars=4)
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "0123456789"}]

    cut = await client.chat.completions.create(model=MODEL, messages=messages, max_tokens=2)
    assert cut.choices[0].message.content == "01234567"
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage is not None and cut.usage.completion_tokens == 2
    whole = await client.chat.completions.create(model=MODEL, messages=messages, max_tokens=3)
    assert whole.choices[0].message.content == "0123456789"
    assert whole.choices[0].finish_reason == "stop"

    # Nothing to echo (an image only): a paced stream with no content events at all.
    await patch_region(http, cloud, "us-east", tokens_per_s=10_000)
    image_only = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
    url = cloud.regions["us-east"].base_url + "/chat/completions"
    async with http.post(url, json={**CHAT, "messages": image_only, "stream": True}) as response:
        events = await sse_events(response)
    assert len(events) == 3  # role, finish, [DONE]


def test_echo_settings_are_read_from_yaml_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "cloud.yaml"
    path.write_text("regions:\n  - {name: a, echo: true, echo_piece_chars: 2}\n  - {name: b}\n")
    a, b = load_cloud_settings(path).regions
    assert (a.echo, a.echo_piece_chars, b.echo) == (True, 2, False)

    path.write_text("regions:\n  - {name: a, echo: 'yes', echo_piece_chars: 0}\n")
    with pytest.raises(SettingsError) as raised:
        load_cloud_settings(path)
    assert "regions[0].echo: must be true or false" in str(raised.value)
    assert "regions[0].echo_piece_chars: must be between 1 and" in str(raised.value)


# --- client errors -------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "body", "status", "param"),
    [
        ("/chat/completions", b"{not json", 400, None),
        ("/chat/completions", b'{"messages": []}', 400, "model"),
        ("/chat/completions", b'{"model": "gpt-4o"}', 400, "messages"),
        ("/chat/completions", b'{"model": "llama-9", "messages": [{}]}', 404, "model"),
        ("/completions", b'{"model": "gpt-4o", "prompt": "x", "max_tokens": 0}', 400, "max_tokens"),
        ("/embeddings", b'{"model": "gpt-4o", "input": ""}', 400, "input"),
        ("/nowhere", b"{}", 404, None),
    ],
)
async def test_bad_requests_get_openai_error_bodies(
    cloud: MockCloud,
    http: aiohttp.ClientSession,
    path: str,
    body: bytes,
    status: int,
    param: str | None,
) -> None:
    async with http.post(cloud.regions["us-east"].base_url + path, data=body) as response:
        assert response.status == status
        assert response.headers["x-mock-region"] == "us-east"
        error = await response.json()
    validate("ErrorResponse", error)
    assert error["error"]["param"] == param


@pytest.mark.asyncio
async def test_unknown_model_raises_not_found_with_its_code(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        await client.chat.completions.create(model="gpt-5-imaginary", messages=MESSAGES)
    assert raised.value.code == "model_not_found"


@pytest.mark.asyncio
async def test_api_key_is_enforced_and_recorded_without_the_key(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    base_url = cloud.regions["eu-west"].base_url
    async with async_openai(base_url, api_key="sk-wrong", max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError):
            await ask(wrong)
    async with async_openai(base_url, api_key=EU_KEY, max_retries=0) as right:
        assert (await ask(right)).choices
    async with http.post(base_url + "/chat/completions", json=CHAT) as response:
        assert response.status == 401
        validate("ErrorResponse", await response.json())

    records = await control_get(http, cloud, "regions/eu-west/requests")
    assert [r["auth"] for r in records] == ["invalid", "valid", "missing"]
    assert [r["headers"].get("authorization") for r in records] == ["invalid", "valid", None]
    assert EU_KEY not in orjson.dumps(records).decode()


# --- control API ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_injected_errors_raise_internal_server_error_and_are_counted(
    cloud: MockCloud, http: aiohttp.ClientSession, client: AsyncOpenAI
) -> None:
    await patch_region(http, cloud, "us-east", error_rate=1.0)
    with pytest.raises(openai.InternalServerError):
        await ask(client)
    await patch_region(http, cloud, "us-east", error_rate=1.0, error_status=429)
    with pytest.raises(openai.RateLimitError):
        await ask(client)
    await patch_region(http, cloud, "us-east", error_rate=0.0)
    assert (await ask(client)).choices

    stats = await control_get(http, cloud, "regions/us-east/stats")
    assert stats["errors_injected"] == 2
    assert stats["requests_total"] == stats["completed"] == 3
    assert stats["by_path"] == {"/v1/chat/completions": 3}


@pytest.mark.asyncio
async def test_down_region_refuses_connections_and_comes_back_on_its_port(
    cloud: MockCloud, http: aiohttp.ClientSession, client: AsyncOpenAI
) -> None:
    region = cloud.regions["us-east"]
    port = region.port
    models_url = region.base_url + "/models"
    async with http.get(models_url) as response:  # leaves a keep-alive connection in the pool
        assert response.status == 200
    assert (await ask(client)).choices

    await patch_region(http, cloud, "us-east", down=True)
    described = await control_get(http, cloud, "regions/us-east")
    assert described["down"] is True
    with pytest.raises(openai.APIConnectionError):
        await ask(client)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(models_url) as response:
            await response.read()
    with pytest.raises(aiohttp.ClientConnectorError):  # a fresh connection is refused
        async with aiohttp.ClientSession() as fresh, fresh.get(models_url) as response:
            await response.read()

    await patch_region(http, cloud, "us-east", down=False)
    assert region.port == port and not region.down
    assert (await ask(client)).choices


@pytest.mark.asyncio
async def test_going_down_cuts_a_stream_in_flight(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, "us-east", tokens_per_s=20)
    url = cloud.regions["us-east"].base_url + "/chat/completions"
    async with http.post(url, json={**CHAT, "stream": True}) as response:
        assert (await response.content.readline()).startswith(b"data: ")
        await patch_region(http, cloud, "us-east", down=True)
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()

    async def counted() -> bool:
        stats = await control_get(http, cloud, "regions/us-east/stats")
        return bool((stats["cancelled"], stats["completed"], stats["in_flight"]) == (1, 0, 0))

    await eventually(counted, "the cut stream is counted as cancelled")


@pytest.mark.asyncio
async def test_client_disconnect_mid_stream_is_counted_as_cancelled(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, "us-east", tokens_per_s=20)  # 16 tokens: most of a second
    url = cloud.regions["us-east"].base_url + "/chat/completions"
    response = await http.post(url, json={**CHAT, "stream": True})
    first = await response.content.readline()
    assert first.startswith(b"data: ")
    response.close()  # drops the connection mid-stream

    async def counted() -> bool:
        stats = await control_get(http, cloud, "regions/us-east/stats")
        return bool(stats["cancelled"] == 1 and stats["in_flight"] == 0)

    await eventually(counted, "the disconnect is counted")
    stats = await control_get(http, cloud, "regions/us-east/stats")
    assert stats["completed"] == 0


@pytest.mark.asyncio
async def test_timeout_injection_hangs_until_the_client_gives_up(
    cloud: MockCloud, http: aiohttp.ClientSession, client: AsyncOpenAI
) -> None:
    await patch_region(http, cloud, "us-east", timeout_rate=1.0)
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model=MODEL, messages=MESSAGES, timeout=0.2)

    async def counted() -> bool:
        stats = await control_get(http, cloud, "regions/us-east/stats")
        return bool(stats["timeouts_injected"] == 1 and stats["cancelled"] == 1)

    await eventually(counted, "the abandoned request is counted")


@pytest.mark.asyncio
async def test_recorded_requests_hold_the_body_bytes_exactly_as_sent(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    raw = '{ "model":"gpt-4o",\n  "messages":[{"role":"user","content":"héllo\\u00e9 ✓"}] }'
    url = cloud.regions["us-east"].base_url + "/chat/completions?trace=1"
    headers = {"Content-Type": "application/json", "X-Test": "yes"}
    async with http.post(url, data=raw.encode(), headers=headers) as response:
        assert response.status == 200

    (record,) = await control_get(http, cloud, "regions/us-east/requests")
    assert record["body"] == raw
    assert (record["method"], record["path"], record["query"]) == (
        "POST",
        "/v1/chat/completions",
        "trace=1",
    )
    assert record["headers"]["x-test"] == "yes"
    assert record["auth"] == "missing"

    async with http.delete(f"{cloud.control_url}/control/regions/us-east/requests") as response:
        assert response.status == 204
    assert await control_get(http, cloud, "regions/us-east/requests") == []


@pytest.mark.asyncio
async def test_reset_clears_counters_and_records_of_every_region(
    cloud: MockCloud, http: aiohttp.ClientSession, client: AsyncOpenAI
) -> None:
    await client.models.list()
    async with http.post(f"{cloud.control_url}/control/reset") as response:
        assert response.status == 204
    stats = await control_get(http, cloud, "regions/us-east/stats")
    assert stats.pop("by_path") == {}
    assert set(stats.values()) == {0}
    assert await control_get(http, cloud, "regions/us-east/requests") == []


@pytest.mark.asyncio
async def test_regions_listing_reports_settings_ports_and_base_urls(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    listed = await control_get(http, cloud, "regions")
    assert [r["name"] for r in listed] == ["us-east", "eu-west"]
    us_east = listed[0]
    assert us_east["port"] == cloud.regions["us-east"].port != 0
    assert us_east["base_url"] == f"http://127.0.0.1:{us_east['port']}/v1"
    assert us_east["down"] is False
    assert us_east["models"] == ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]


@pytest.mark.asyncio
async def test_patch_rejects_bad_settings_listing_every_problem(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    url = f"{cloud.control_url}/control/regions/us-east"
    patch = {"rtt_ms": -1, "error_rate": 2, "port": 1, "colour": "blue", "down": "maybe"}
    async with http.patch(url, json=patch) as response:
        assert response.status == 400
        error = await response.json()
    message = error["error"]["message"]
    for fragment in ("rtt_ms", "error_rate", "port: cannot change", "colour: unknown", "down"):
        assert fragment in message
    async with http.patch(f"{cloud.control_url}/control/regions/mars", json={}) as response:
        assert response.status == 404
    assert cloud.regions["us-east"].settings.rtt_ms == 0  # nothing was applied


# --- timing and randomness -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_first_token_comes_no_sooner_than_rtt_plus_ttft(
    cloud: MockCloud, http: aiohttp.ClientSession
) -> None:
    await patch_region(http, cloud, "us-east", rtt_ms=40, ttft_ms=40, tokens_per_s=1000)
    url = cloud.regions["us-east"].base_url + "/chat/completions"
    loop = asyncio.get_running_loop()
    sent = loop.time()
    async with http.post(url, json={**CHAT, "stream": True}) as response:
        headers_at = loop.time()
        await response.content.readline()
        first_chunk_at = loop.time()
        await response.read()
    # A lower bound on the simulated delay (the simulator must wait), never an upper bound on
    # speed; uvloop's timers round to the millisecond, hence the 1 ms allowance.
    assert headers_at - sent >= 0.040 - TIMER_RESOLUTION_S
    assert first_chunk_at - sent >= 0.080 - TIMER_RESOLUTION_S


def test_rtt_is_lognormal_around_the_median_and_reproducible_from_the_seed() -> None:
    settings = RegionSettings(name="r", rtt_ms=20, rtt_jitter=0.5)
    state = RegionState(settings, random.Random(42), record_limit=0)
    reference = random.Random(42)
    samples = [state.sample_rtt_s(settings) for _ in range(1000)]
    assert samples[:3] == [0.020 * math.exp(reference.gauss(0.0, 0.5)) for _ in range(3)]
    assert sorted(samples)[500] == pytest.approx(0.020, rel=0.15)
    constant = RegionSettings(name="r", rtt_ms=20)
    assert state.sample_rtt_s(constant) == 0.020


# --- settings files and the command line ---------------------------------------------------------


def test_example_config_describes_three_regions() -> None:
    settings = load_cloud_settings(REPO / "loadtest" / "mock_cloud.example.yaml")
    assert [(r.name, r.port, r.rtt_ms) for r in settings.regions] == [
        ("us-east", 9101, 20),
        ("eu-west", 9102, 60),
        ("ap-south", 9103, 120),
    ]
    assert {(r.ttft_ms, r.tokens_per_s) for r in settings.regions} == {(50, 200)}
    assert settings.control.port == 9100


def test_settings_file_problems_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "cloud.yaml"
    path.write_text(
        "control: {port: 9100}\n"
        "regions:\n"
        "  - name: ok\n"
        "    rtt_ms: fast\n"
        "  - rtt_ms: 5\n"
        "    colour: red\n"
        "  - name: twin\n"
        "    port: 9100\n"
    )
    with pytest.raises(SettingsError) as raised:
        load_cloud_settings(path)
    message = str(raised.value)
    assert str(path) in message
    assert "line 4: regions[0].rtt_ms: must be a finite number" in message
    assert "line 6: regions[1].colour: unknown field" in message
    assert "regions[1].name: is required" in message


def test_duplicate_ports_and_names_are_rejected() -> None:
    with pytest.raises(SettingsError, match="port 9101 is used twice"):
        CloudSettings(
            regions=(RegionSettings(name="a", port=9101), RegionSettings(name="b", port=9101))
        )
    with pytest.raises(SettingsError, match="duplicate region name"):
        CloudSettings(regions=(RegionSettings(name="a"), RegionSettings(name="a")))


@pytest.mark.asyncio
async def test_command_line_prints_its_ports_serves_and_stops_on_sigint(tmp_path: Path) -> None:
    config = tmp_path / "cloud.yaml"
    config.write_text("control: {port: 0}\nregions:\n  - {name: solo, completion_tokens: 3}\n")
    command = [sys.executable, "-m", "loadtest.mock_cloud", "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = await asyncio.create_subprocess_exec(
        *command, "--seed", "3", cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        region_line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        control_line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert region_line.startswith("region solo listening on http://127.0.0.1:")
        assert control_line.startswith("control on http://127.0.0.1:")
        base_url = region_line.split()[-1]
        async with async_openai(base_url, api_key="sk-x", max_retries=0) as c:
            completion = await ask(c)
        assert completion.choices[0].message.content == "Hello from solo."
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 30) == 0
