"""Raw router responses match the official OpenAI OpenAPI schemas.

The openai client is lenient (it fills in missing fields and ignores unknown shapes), so these tests
read the bytes with aiohttp and validate them against the spec's schemas: every success body, every
stream chunk, and the error body of each status the router answers with itself. The request bodies
the tests send are validated too, so a failure here is never caused by a malformed test input.

One stack serves the module; the 502 test breaks every region, so it starts its own.
"""

from __future__ import annotations

import array
import base64
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
import pytest_asyncio

from tests.openapi_schemas import validate
from tests.stack import API_KEY, Stack, running_stack

AUTH = {"Authorization": f"Bearer {API_KEY}"}
# Small enough that a 413 costs little to provoke; every valid body below is far smaller.
MAX_BODY_BYTES = 64 * 1024

CHAT_REQUEST: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "hello"}]},
    ],
    "max_tokens": 5,
    "temperature": 0.2,
}
CHAT_STREAM_REQUEST: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "hello"}],
    "stream": True,
    "stream_options": {"include_usage": True},
    "n": 2,
}
COMPLETION_REQUEST: dict[str, Any] = {"model": "gpt-4o-mini", "prompt": "Say hi", "max_tokens": 4}
COMPLETION_STREAM_REQUEST: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "prompt": ["Say", "hi"],
    "stream": True,
    "stream_options": {"include_usage": True},
}
EMBEDDING_REQUEST: dict[str, Any] = {"model": "text-embedding-3-small", "input": ["a", "b"]}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack() -> AsyncIterator[Stack]:
    async with running_stack(overrides={"server": {"max_body_bytes": MAX_BODY_BYTES}}) as stack:
        yield stack


async def post_json(stack: Stack, path: str, body: dict[str, Any]) -> Any:
    async with stack.http.post(f"{stack.url}{path}", json=body, headers=AUTH) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "application/json"
        return orjson.loads(await response.read())


async def post_stream(stack: Stack, path: str, body: dict[str, Any]) -> list[str]:
    """The `data:` payloads of a streamed answer, in order, after checking its headers."""
    async with stack.http.post(f"{stack.url}{path}", json=body, headers=AUTH) as response:
        assert response.status == 200, await response.text()
        assert response.headers["content-type"].startswith("text/event-stream")
        return sse_data((await response.read()).decode())


def sse_data(text: str) -> list[str]:
    """One payload per event; an event's `data:` lines are joined with newlines (SSE spec)."""
    payloads = []
    for event in text.replace("\r\n", "\n").split("\n\n"):
        lines = [
            line[5:].removeprefix(" ") for line in event.split("\n") if line.startswith("data:")
        ]
        if lines:
            payloads.append("\n".join(lines))
    return payloads


def validated_chunks(
    payloads: list[str],
    schema: str,
    as_schema_expects: Callable[[dict[str, Any]], dict[str, Any]] = lambda chunk: chunk,
) -> list[dict[str, Any]]:
    """The stream's JSON chunks, each validated; the stream must end with `data: [DONE]`."""
    assert payloads[-1] == "[DONE]", payloads[-1:]
    chunks = [orjson.loads(payload) for payload in payloads[:-1]]
    assert chunks, "the stream carried no chunk before [DONE]"
    for chunk in chunks:
        validate(schema, as_schema_expects(chunk))
    return chunks


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        ("CreateChatCompletionRequest", CHAT_REQUEST),
        ("CreateChatCompletionRequest", CHAT_STREAM_REQUEST),
        ("CreateCompletionRequest", COMPLETION_REQUEST),
        ("CreateCompletionRequest", COMPLETION_STREAM_REQUEST),
        ("CreateEmbeddingRequest", EMBEDDING_REQUEST),
        ("CreateEmbeddingRequest", {**EMBEDDING_REQUEST, "encoding_format": "base64"}),
    ],
)
def test_request_bodies_sent_by_these_tests_match_the_openai_request_schemas(
    schema: str, body: dict[str, Any]
) -> None:
    validate(schema, body)


@pytest.mark.asyncio(loop_scope="module")
async def test_chat_completion_json_matches_the_openai_schema(stack: Stack) -> None:
    completion = await post_json(stack, "/v1/chat/completions", CHAT_REQUEST)
    validate("CreateChatCompletionResponse", completion)
    assert completion["choices"][0]["finish_reason"] == "length"


@pytest.mark.asyncio(loop_scope="module")
async def test_every_chat_stream_chunk_and_the_usage_chunk_match_the_openai_schema(
    stack: Stack,
) -> None:
    payloads = await post_stream(stack, "/v1/chat/completions", CHAT_STREAM_REQUEST)
    chunks = validated_chunks(payloads, "CreateChatCompletionStreamResponse")
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] > 0
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    assert {choice["index"] for chunk in chunks for choice in chunk["choices"]} == {0, 1}


@pytest.mark.asyncio(loop_scope="module")
async def test_completion_json_and_every_stream_chunk_match_the_openai_schema(
    stack: Stack,
) -> None:
    completion = await post_json(stack, "/v1/completions", COMPLETION_REQUEST)
    validate("CreateCompletionResponse", completion)
    payloads = await post_stream(stack, "/v1/completions", COMPLETION_STREAM_REQUEST)
    chunks = validated_chunks(payloads, "CreateCompletionResponse", as_complete_completion)
    choices = [choice for chunk in chunks for choice in chunk["choices"]]
    assert "".join(choice["text"] for choice in choices)
    assert choices[-1]["finish_reason"] in ("stop", "length")
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def as_complete_completion(chunk: dict[str, Any]) -> dict[str, Any]:
    """A completion stream chunk in the shape the spec's CreateCompletionResponse accepts.

    The spec has no schema for completion chunks: OpenAI streams CreateCompletionResponse objects
    whose `finish_reason` is null until a choice ends and whose `usage` is null except in the
    usage chunk. Those two nulls are dropped or filled in so that the schema checks the rest; the
    caller checks that the last choice does carry a finish reason.
    """
    choices = [
        {**choice, "finish_reason": choice["finish_reason"] or "stop"}
        for choice in chunk["choices"]
    ]
    complete = {**chunk, "choices": choices}
    if chunk.get("usage", "absent") is None:
        del complete["usage"]
    return complete


@pytest.mark.asyncio(loop_scope="module")
async def test_embeddings_match_the_openai_schema_in_both_encodings(stack: Stack) -> None:
    floats = await post_json(
        stack, "/v1/embeddings", {**EMBEDDING_REQUEST, "encoding_format": "float"}
    )
    validate("CreateEmbeddingResponse", floats)
    encoded = await post_json(
        stack, "/v1/embeddings", {**EMBEDDING_REQUEST, "encoding_format": "base64"}
    )
    # The spec types `embedding` as an array of numbers only; OpenAI sends base64 as a string of
    # little-endian float32s (openai/openai-openapi#99). Decoded, it must be the float answer.
    decoded = {
        **encoded,
        "data": [
            {**item, "embedding": float32_le(base64.b64decode(item["embedding"]))}
            for item in encoded["data"]
        ],
    }
    validate("CreateEmbeddingResponse", decoded)
    for sent, expected in zip(decoded["data"], floats["data"], strict=True):
        assert sent["embedding"] == pytest.approx(expected["embedding"], rel=1e-6)


def float32_le(data: bytes) -> list[float]:
    vector = array.array("f", data)
    if sys.byteorder == "big":
        vector.byteswap()
    return vector.tolist()


@pytest.mark.asyncio(loop_scope="module")
async def test_model_list_and_one_model_match_the_openai_schema(stack: Stack) -> None:
    async with stack.http.get(f"{stack.url}/v1/models", headers=AUTH) as response:
        assert response.status == 200
        models = orjson.loads(await response.read())
    validate("ListModelsResponse", models)
    async with stack.http.get(f"{stack.url}/v1/models/gpt-4o", headers=AUTH) as response:
        assert response.status == 200
        model = orjson.loads(await response.read())
    validate("Model", model)
    assert model["id"] == "gpt-4o"


async def _oversized_chunks() -> AsyncIterator[bytes]:
    # No Content-Length: the router only finds out while reading.
    for _ in range(MAX_BODY_BYTES // 1024 + 1):
        yield b" " * 1024


ERROR_CASES = [
    pytest.param("POST", "/v1/chat/completions", AUTH, b"{not json", 400, id="400-invalid-json"),
    pytest.param(
        "POST",
        "/v1/chat/completions",
        AUTH,
        {"model": "gpt-4o-mini"},
        400,
        id="400-missing-messages",
    ),
    pytest.param(
        "POST",
        "/v1/chat/completions",
        AUTH,
        # Valid for the router, refused by the upstream (above the model's output limit).
        {**CHAT_REQUEST, "max_tokens": 1_000_000},
        400,
        id="400-rejected-upstream",
    ),
    pytest.param("POST", "/v1/chat/completions", {}, CHAT_REQUEST, 401, id="401-no-key"),
    pytest.param(
        "POST",
        "/v1/chat/completions",
        {"Authorization": "Bearer sk-wrong"},
        CHAT_REQUEST,
        401,
        id="401-wrong-key",
    ),
    pytest.param(
        "POST",
        "/v1/chat/completions",
        AUTH,
        {**CHAT_REQUEST, "model": "no-such-model"},
        404,
        id="404-unknown-model",
    ),
    pytest.param("GET", "/v1/models/no-such-model", AUTH, None, 404, id="404-unknown-model-get"),
    pytest.param("GET", "/v1/no-such-path", AUTH, None, 404, id="404-unknown-url"),
    pytest.param("GET", "/v1/chat/completions", AUTH, None, 405, id="405-get-on-post-route"),
    pytest.param(
        "POST",
        "/v1/chat/completions",
        AUTH,
        b" " * (MAX_BODY_BYTES + 1),
        413,
        id="413-declared-length",
    ),
    pytest.param("POST", "/v1/chat/completions", AUTH, _oversized_chunks, 413, id="413-chunked"),
    pytest.param(
        "POST",
        "/v1/chat/completions",
        {**AUTH, "x-router-privacy-tags": "pci-dss"},
        CHAT_REQUEST,
        503,
        id="503-no-eligible-endpoint",
    ),
]


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("method", "path", "headers", "body", "status"), ERROR_CASES)
async def test_router_error_bodies_match_the_openai_error_schema(
    stack: Stack, method: str, path: str, headers: dict[str, str], body: Any, status: int
) -> None:
    options: dict[str, Any] = {"headers": headers}
    if isinstance(body, dict):
        options["json"] = body
    elif callable(body):
        options["data"] = body()
    elif body is not None:
        options["data"] = body
    async with stack.http.request(method, f"{stack.url}{path}", **options) as response:
        text = await response.text()
        assert response.status == status, text
        assert response.content_type == "application/json"
    validate("ErrorResponse", orjson.loads(text))


@pytest.mark.asyncio(loop_scope="module")
async def test_upstream_failure_502_body_matches_the_openai_error_schema() -> None:
    async with running_stack() as stack:
        for region in stack.cloud.regions:
            await stack.control(region, error_rate=1.0, error_status=500)
        async with stack.http.post(
            f"{stack.url}/v1/chat/completions", json=CHAT_REQUEST, headers=AUTH
        ) as response:
            assert response.status == 502
            assert response.content_type == "application/json"
            error = orjson.loads(await response.read())
    validate("ErrorResponse", error)
    assert error["error"]["code"] == "upstream_status_500"


def test_sse_parser_joins_multi_line_data_and_skips_comments() -> None:
    text = ': keep-alive\n\ndata: {"a":\ndata: 1}\n\ndata: [DONE]\n\n'
    assert sse_data(text) == ['{"a":\n1}', "[DONE]"]
