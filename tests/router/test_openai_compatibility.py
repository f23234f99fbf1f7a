"""The router is a drop-in for the OpenAI API: the official client works unchanged through it."""

from __future__ import annotations

import base64

import pytest

from tests.stack import running_stack


@pytest.mark.asyncio
async def test_chat_completion_json_goes_through_with_the_decision_in_headers() -> None:
    async with running_stack() as stack:
        client = stack.client()
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}], max_tokens=5
        )
        completion = raw.parse()
        assert completion.object == "chat.completion"
        assert completion.model == "gpt-4o-mini"
        assert completion.choices[0].finish_reason == "length"
        assert completion.usage is not None and completion.usage.completion_tokens == 5
        assert raw.headers["x-router-served-by"] == "cloud"
        assert raw.headers["x-router-endpoint"] in stack.cloud.regions
        assert "objective=balanced" in raw.headers["x-router-reason"]


@pytest.mark.asyncio
async def test_chat_stream_relays_every_chunk_and_the_usage_chunk() -> None:
    async with running_stack() as stack:
        stream = await stack.client().chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text.startswith("Hello from ")
        assert chunks[-1].choices == []
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 16
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
        assert finishes[-1] == "stop"


@pytest.mark.asyncio
async def test_completions_embeddings_and_models_work_like_openai() -> None:
    async with running_stack() as stack:
        client = stack.client()
        completion = await client.completions.create(model="gpt-4o-mini", prompt="Say hi")
        assert completion.object == "text_completion" and completion.choices[0].text
        streamed = await client.completions.create(model="gpt-4o-mini", prompt="hi", stream=True)
        assert "".join([c.choices[0].text async for c in streamed if c.choices])

        embedding = await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
        assert [e.index for e in embedding.data] == [0, 1]
        assert len(embedding.data[0].embedding) == 64
        raw = await client.embeddings.with_raw_response.create(
            model="text-embedding-3-small", input="a", encoding_format="base64"
        )
        encoded = raw.http_response.json()["data"][0]["embedding"]
        assert len(base64.b64decode(encoded)) == 64 * 4

        models = await client.models.list()
        assert {m.id for m in models.data} == {"gpt-4o-mini", "gpt-4o", "text-embedding-3-small"}
        model = await client.models.retrieve("gpt-4o")
        assert model.id == "gpt-4o" and model.object == "model"


@pytest.mark.asyncio
async def test_request_body_reaches_the_cloud_byte_for_byte_with_unknown_fields() -> None:
    async with running_stack() as stack:
        client = stack.client()
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "exactly this"}],
            extra_body={"vendor_extension": {"keep": [1, 2, 3]}},
        )
        endpoint = raw.headers["x-router-endpoint"]
        sent = raw.http_request.content
        received = [
            r for r in await stack.received(endpoint) if r["path"] == "/v1/chat/completions"
        ]
        assert received[-1]["body"].encode() == sent
