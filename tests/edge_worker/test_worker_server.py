"""The worker's OpenAI-compatible API on a real loopback socket, through the official client."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import numpy as np
import openai
import pytest
import pytest_asyncio
from openai import AsyncOpenAI
from prometheus_client.parser import text_string_to_metric_families

from edge_worker.server import WorkerModels
from edge_worker.serving import ServeSettings, open_models
from tests.edge_worker.prepared import store
from tests.edge_worker.running_worker import running_worker
from tests.openai_clients import async_openai

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]
GENERATOR = "smollm2-135m-instruct"
EMBEDDER = "all-minilm-l6-v2"


async def _running(models: WorkerModels) -> AsyncIterator[tuple[AsyncOpenAI, str]]:
    async with running_worker(models) as url:
        yield async_openai(f"{url}/v1", api_key="unused", max_retries=0), url


@pytest_asyncio.fixture
async def worker() -> AsyncIterator[tuple[AsyncOpenAI, str]]:
    async for running in _running(open_models(ServeSettings(store=store()))):
        yield running


@pytest.mark.asyncio
async def test_chat_json_answers_with_usage(worker: tuple[AsyncOpenAI, str]) -> None:
    client, _ = worker
    # temperature 0: greedy. OpenAI's default of 1 samples, as the worker does when not told.
    answer = await client.chat.completions.create(model=GENERATOR, messages=FRANCE, temperature=0)
    assert "Paris" in (answer.choices[0].message.content or "")
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.prompt_tokens > 10
    assert answer.usage.completion_tokens > 0


@pytest.mark.asyncio
async def test_chat_streams_chunks_and_usage(worker: tuple[AsyncOpenAI, str]) -> None:
    client, _ = worker
    stream = await client.chat.completions.create(
        model=GENERATOR,
        messages=FRANCE,
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=32,
        temperature=0,
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] in ("stop", "length") and all(f is None for f in finishes[:-1])
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@pytest.mark.asyncio
async def test_token_logprobs_come_with_the_answer(worker: tuple[AsyncOpenAI, str]) -> None:
    client, _ = worker
    answer = await client.chat.completions.create(
        model=GENERATOR, messages=FRANCE, logprobs=True, max_tokens=16, temperature=0
    )
    content = answer.choices[0].logprobs and answer.choices[0].logprobs.content
    assert content and all(t.logprob <= 0 for t in content)
    assert "".join(t.token for t in content) == answer.choices[0].message.content


@pytest.mark.asyncio
async def test_embeddings_in_float_and_base64(worker: tuple[AsyncOpenAI, str]) -> None:
    client, _ = worker
    floats = await client.embeddings.create(model=EMBEDDER, input=["hello", "bonjour"])
    assert [len(d.embedding) for d in floats.data] == [384, 384]
    raw = await client.embeddings.with_raw_response.create(
        model=EMBEDDER, input="hello", encoding_format="base64"
    )
    packed = raw.http_response.json()["data"][0]["embedding"]
    unpacked = np.frombuffer(base64.b64decode(packed), dtype="<f4")
    assert np.allclose(unpacked, floats.data[0].embedding, atol=1e-6)
    assert floats.usage.prompt_tokens > 0


@pytest.mark.asyncio
async def test_models_lists_both_and_unknown_models_are_refused(
    worker: tuple[AsyncOpenAI, str],
) -> None:
    client, _ = worker
    assert {m.id async for m in client.models.list()} == {GENERATOR, EMBEDDER}
    with pytest.raises(openai.BadRequestError) as refused:
        await client.chat.completions.create(model="gpt-4o", messages=FRANCE)
    assert refused.value.body is not None
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model=GENERATOR, messages=FRANCE, n=2)


@pytest.mark.asyncio
async def test_a_full_queue_answers_429_and_a_cancelled_stream_frees_its_slot() -> None:
    models = open_models(ServeSettings(store=store(), max_batch=1, queue_size=0))
    async for client, _url in _running(models):
        long = [{"role": "user", "content": "Write a long story about a lighthouse keeper."}]
        stream = await client.chat.completions.create(
            model=GENERATOR, messages=long, stream=True, max_tokens=2000
        )
        await anext(aiter(stream))  # generating: the one slot is taken
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model=GENERATOR, messages=FRANCE)
        await stream.close()  # the client goes away mid-stream
        for _ in range(200):
            if models.engine.admitted == 0:
                break
            await asyncio.sleep(0.01)
        assert models.engine.admitted == 0 and models.engine.running == 0
        answer = await client.chat.completions.create(
            model=GENERATOR, messages=FRANCE, temperature=0
        )
        assert "Paris" in (answer.choices[0].message.content or "")


def test_serve_settings_default_to_the_int4_build() -> None:
    settings = ServeSettings(store=store())
    assert settings.precision == "int4-kquant-mixed"
    assert replace(settings, max_batch=1).max_batch == 1


@pytest.mark.asyncio
async def test_requests_that_arrive_together_are_generated_as_one_batch() -> None:
    models = open_models(ServeSettings(store=store(), max_batch=4, queue_size=4))
    async for client, url in _running(models):
        before = models.engine.batches
        answers = await asyncio.gather(
            *(
                client.chat.completions.create(
                    model=GENERATOR, messages=FRANCE, temperature=0, max_tokens=24
                )
                for _ in range(3)
            )
        )
        assert all("Paris" in (a.choices[0].message.content or "") for a in answers)
        assert models.engine.batches - before < 3  # not one batch per request
        # The worker's /metrics shows the batches by size and every token generated.
        async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
            assert response.status == 200
            families = {
                family.name: family
                for family in text_string_to_metric_families(await response.text())
            }
        sizes = {s.labels["le"]: s.value for s in families["edge_worker_batch_size"].samples
                 if s.name.endswith("_bucket")}  # fmt: skip
        assert list(sizes) == ["1.0", "2.0", "3.0", "4.0", "+Inf"]
        assert sizes["+Inf"] == models.engine.batches
        size_sum = next(
            s.value for s in families["edge_worker_batch_size"].samples if s.name.endswith("_sum")
        )
        assert size_sum == 3  # three requests, in fewer batches
        generated = families["edge_worker_generated_tokens"].samples[0].value
        completion = sum((a.usage.completion_tokens if a.usage else 0) for a in answers)
        assert generated >= completion > 0
        assert families["edge_worker_queue_depth"].samples[0].value == 0


@pytest.mark.asyncio
async def test_the_worker_serves_on_a_unix_socket(tmp_path: Path) -> None:
    import aiohttp

    from edge_worker import serving

    socket_path = tmp_path / "worker.sock"
    models = open_models(ServeSettings(store=store()))
    serving_task = asyncio.create_task(serving.serve(models, socket_path))
    try:
        for _ in range(100):
            if socket_path.exists():
                break
            await asyncio.sleep(0.02)
        connector = aiohttp.UnixConnector(path=str(socket_path))
        async with (
            aiohttp.ClientSession(connector=connector) as http,
            http.post(
                "http://worker/v1/embeddings", json={"model": EMBEDDER, "input": "hello"}
            ) as response,
        ):
            assert response.status == 200
            assert len((await response.json())["data"][0]["embedding"]) == 384
    finally:
        serving_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving_task
