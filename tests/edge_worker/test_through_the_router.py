"""The router in front of a real edge worker: the worker is one more endpoint, of locality edge."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from edge_worker.server import build_worker_app
from edge_worker.serving import ServeSettings, open_models
from tests.edge_worker.prepared import store
from tests.stack import running_stack

LOCAL_MODEL = "smollm2-135m-instruct"
EMBEDDER = "all-minilm-l6-v2"


@pytest_asyncio.fixture
async def worker_url() -> AsyncIterator[str]:
    runner = web.AppRunner(build_worker_app(open_models(ServeSettings(store=store()))))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        await runner.cleanup()


def _edge_endpoint(url: str) -> dict[str, object]:
    return {
        "name": "edge",
        "base_url": url,
        "region": "pop",
        "locality": "edge",
        "max_concurrency": 12,
        "models": [
            {"name": LOCAL_MODEL},
            {"name": EMBEDDER, "kind": "embedding"},
        ],
    }


@pytest.mark.asyncio
async def test_the_local_model_answers_through_the_router_marked_edge(worker_url: str) -> None:
    async with running_stack(extra_endpoints=[_edge_endpoint(worker_url)]) as stack:
        client = stack.client()
        raw = await client.chat.completions.with_raw_response.create(
            model=LOCAL_MODEL,
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            temperature=0,
        )
        assert raw.headers["x-router-served-by"] == "edge"
        assert raw.headers["x-router-endpoint"] == "edge"
        assert "Paris" in (raw.parse().choices[0].message.content or "")

        stream = await client.chat.completions.create(
            model=LOCAL_MODEL,
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        assert "Paris" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert chunks[-1].usage is not None

        vectors = await client.embeddings.create(model=EMBEDDER, input=["hello", "world"])
        assert [len(v.embedding) for v in vectors.data] == [384, 384]

        cloud = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert cloud.headers["x-router-served-by"] == "cloud"
