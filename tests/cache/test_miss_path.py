"""The semantic tier's miss path: decided by the prefilter without the transformer, or answered
"miss" at once when the embedder is past its queue; a question is embedded after its answer."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import numpy as np
import orjson
import pytest

from router.cache.answer_cache import AnswerCache
from router.cache.exact import CachedAnswer
from router.cache.scope import exact_key_of
from router.cache.shared_entry import SharedEntry
from router.cache_request import CACHE_SLOT, CacheRequest
from router.config.model import CacheSettings
from router.context import RequestContext
from router.embeddings import EMBEDDER_NICENESS, RouterEmbedder
from router.policy.model import TenantPolicy
from router.stages.cache import CacheStage
from router.state import STATE
from router.wire.usage import Usage
from tests.cache.cache_stack import asking, write_tenants
from tests.fake_clock import FakeClock
from tests.request_context import chat_context
from tests.stack import Stack, running_stack
from tests.tenant_policies import policy_model


def _stack(policies: Path, cache: str) -> AbstractAsyncContextManager[Stack]:
    """The stack with the node's cache on and one tenant, `acme`, with that `cache:`."""
    write_tenants(policies, {"acme": cache})
    overrides = {
        "policies": {"directory": str(policies), "watch": False},
        "cache": {"enabled": True},
    }
    return running_stack(overrides=overrides)


@pytest.mark.asyncio
async def test_an_unrelated_question_is_a_miss_without_the_transformer(tmp_path: Path) -> None:
    async with _stack(tmp_path, "{semantic: true}") as stack:
        state = stack.app[STATE]
        client = stack.client(api_key="sk-acme")
        first = await client.chat.completions.with_raw_response.create(
            **asking("What is the capital of France?")
        )
        assert first.headers["x-router-cache-lookup"] == "empty"
        await state.cache.drain()
        batches = state.embedder.batches
        unrelated = await client.chat.completions.with_raw_response.create(
            **asking("How do I load a dataset from a CSV file with pandas?")
        )
        assert unrelated.headers["x-router-cache"] == "miss"
        assert unrelated.headers["x-router-cache-lookup"] == "prefilter"
        assert state.embedder.batches == batches  # nothing embedded for its look-up
        await state.cache.drain()
        assert state.embedder.batches == batches + 1  # ... only after its answer, to store it
        reworded = await client.chat.completions.with_raw_response.create(
            **asking("Tell me the capital of France.")
        )
        assert reworded.headers["x-router-cache"] == "hit-semantic"
        assert reworded.headers["x-router-cache-lookup"] == "embedded"
        async with stack.http.get(f"{stack.url}/metrics") as response:
            metrics = await response.text()
        assert 'router_cache_semantic_lookups_total{lookup="prefilter"} 1.0' in metrics


class BusyEmbedder:
    """An embedder with more questions waiting than the cache will queue behind."""

    waiting = 100
    in_background = 10_000  # and past the index's backlog
    model_id, static_id = "fake-model", "fake-static"
    batches = 0

    async def embed(self, texts: Sequence[str], *, background: bool = False) -> np.ndarray:
        self.batches += 1
        return np.full((len(texts), 384), 1 / np.sqrt(384), dtype=np.float32)

    def static_vector(self, text: str) -> np.ndarray:
        return np.full(384, 1 / np.sqrt(384), dtype=np.float32)


def _cached(ctx: RequestContext) -> CacheRequest:
    state = ctx.slot(CACHE_SLOT)
    assert state is not None
    return state


def _policy() -> TenantPolicy:
    return policy_model("acme", cache={"semantic": True})


def _stage(settings: CacheSettings, embedder: object) -> tuple[CacheStage, AnswerCache]:
    """The cache stage over an answer cache of its own, with a fake embedder."""
    clock = FakeClock()
    cache = AnswerCache(settings, clock, embedder)  # type: ignore[arg-type]
    return CacheStage(cache, settings, clock), cache


def _context(question: str, policy: TenantPolicy) -> RequestContext:
    body = orjson.dumps(asking(question) | {"model": "m"})
    return chat_context(body, tenant="acme", policy=policy)


@pytest.mark.asyncio
async def test_past_the_embedders_queue_a_lookup_is_a_miss_and_no_answer_is_embedded() -> None:
    policy = _policy()
    embedder = BusyEmbedder()
    stage, cache = _stage(CacheSettings(embedder_max_waiting=8), embedder)
    first = _context("What is the capital of France?", policy)
    assert await stage.on_request(first) is None
    _cached(first).answer = orjson.dumps({"choices": [{"message": {"content": "Paris"}}]})
    first.usage = Usage(10, 5)
    stage.on_done(first)
    await cache.drain()
    assert embedder.batches == 0 and cache.unindexed == 1  # stored exact-only
    assert _cached(first).scope is not None
    # A near question in the partition (as another router's shared entry would bring).
    vector = embedder.static_vector("")
    cache.semantic.add(
        _cached(first).scope.partition, "k", "What is the capital of France?", vector
    )
    again = _context("Tell me the capital of France.", policy)
    assert await stage.on_request(again) is None
    assert (again.decision.cache, again.decision.cache_lookup) == ("miss", "busy")
    assert embedder.batches == 0 and cache.lookups["busy"] == 1


class SlowEmbedder(BusyEmbedder):
    """Nothing waiting, but each embedding outlasts the look-up's wait."""

    waiting = 0

    async def embed(self, texts: Sequence[str], *, background: bool = False) -> np.ndarray:
        await asyncio.sleep(1.0)
        return await super().embed(texts, background=background)


@pytest.mark.asyncio
async def test_a_lookup_waits_for_its_embedding_no_longer_than_the_bound() -> None:
    policy = _policy()
    embedder = SlowEmbedder()
    settings = CacheSettings(embedding_wait_ms=10)
    stage, cache = _stage(settings, embedder)
    vector = embedder.static_vector("")
    first = _context("What is the capital of France?", policy)
    assert await stage.on_request(first) is None and _cached(first).scope is not None
    cache.semantic.add(
        _cached(first).scope.partition, "k", "What is the capital of France?", vector
    )
    again = _context("Tell me the capital of France.", policy)
    assert await asyncio.wait_for(stage.on_request(again), 0.5) is None  # not the embedder's second
    assert (again.decision.cache, again.decision.cache_lookup) == ("miss", "late")
    assert cache.lookups["late"] == 1


@pytest.mark.asyncio
async def test_the_routers_embedder_runs_below_the_event_loops_priority() -> None:
    embedder = RouterEmbedder(None)
    await embedder.start()
    try:
        await embedder.embed(["What is the capital of France?"])
        # What made its vectors, as shared entries name it (the manifest's digests).
        assert len(embedder.model_id) == len(embedder.static_id) == 12
        batching = [t.native_id for t in threading.enumerate() if t.name.startswith("embedder")]
        assert batching and all(
            os.getpriority(os.PRIO_PROCESS, tid) == EMBEDDER_NICENESS for tid in batching if tid
        )
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == 0
        # The default executor's thread, which opened the session, keeps its priority.
        own = await asyncio.to_thread(
            lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        )
        assert own == 0
    finally:
        await embedder.close()


@pytest.mark.asyncio
async def test_a_tenant_on_the_static_embedder_is_served_without_the_transformer(
    tmp_path: Path,
) -> None:
    async with _stack(tmp_path, "{semantic: true, semantic_embedder: static}") as stack:
        state = stack.app[STATE]
        client = stack.client(api_key="sk-acme")
        batches = state.embedder.batches
        first = await client.chat.completions.with_raw_response.create(
            **asking("What is the capital of France?")
        )
        assert first.headers["x-router-cache-lookup"] == "empty"
        reworded = await client.chat.completions.with_raw_response.create(
            **asking("Tell me the capital of France.")
        )
        assert reworded.headers["x-router-cache"] == "hit-semantic"
        assert reworded.headers["x-router-cache-lookup"] == "static"
        unrelated = await client.chat.completions.with_raw_response.create(
            **asking("How do I load a dataset from a CSV file with pandas?")
        )
        assert unrelated.headers["x-router-cache"] == "miss"
        await state.cache.drain()
        assert state.embedder.batches == batches  # the transformer never ran


def test_the_static_embedder_takes_a_threshold_not_a_precision_target() -> None:
    with pytest.raises(ValueError, match="set `similarity_threshold` instead"):
        TenantPolicy.model_validate(
            {
                "tenant": "acme",
                "api_keys": ["sha256:" + "0" * 64],
                "models": [{"alias": "m"}],
                "cache": {"semantic_embedder": "static", "semantic_precision": 0.9},
            }
        )


@pytest.mark.parametrize(("embedder", "indexed"), [("fake-model", True), ("another-build", False)])
def test_a_shared_entry_keeps_its_vector_only_if_this_routers_embedder_made_it(
    embedder: str, indexed: bool
) -> None:
    clock = FakeClock()
    cache = AnswerCache(CacheSettings(), clock, BusyEmbedder())  # type: ignore[arg-type]
    question = "What is the capital of France?"
    message = {"role": "assistant", "content": "Paris"}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    body = orjson.dumps({"object": "chat.completion", "choices": [choice]})
    answer = CachedAnswer(body, None, clock.wall(), clock.wall() + 3600, "acme")
    key = exact_key_of("partition-1", question)
    vector = BusyEmbedder().static_vector(question)
    cache.adopt(SharedEntry(key, "partition-1", question, vector, answer, embedder))
    assert key in cache.exact  # an exact hit either way
    assert (key in cache.semantic) is indexed


@pytest.mark.asyncio
async def test_a_question_too_long_to_compare_by_meaning_is_served_exactly_only() -> None:
    class Idle(BusyEmbedder):
        waiting = 0
        in_background = 0

    embedder = Idle()
    stage, cache = _stage(CacheSettings(), embedder)
    long_question = "Which is the capital of France? " * 200  # 6,400 characters
    first = _context(long_question, _policy())
    assert await stage.on_request(first) is None
    assert (first.decision.cache, first.decision.cache_lookup) == ("miss", "long")
    _cached(first).answer = orjson.dumps(
        {
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Paris"},
                    "finish_reason": "stop",
                }
            ],
        }
    )
    first.usage = Usage(10, 5)
    stage.on_done(first)
    await cache.drain()
    assert _cached(first).scope is not None
    assert _cached(first).scope.exact_key in cache.exact  # an exact hit next time
    assert _cached(first).scope.exact_key not in cache.semantic  # never compared by meaning
    assert embedder.batches == 0 and cache.lookups["long"] == 1
