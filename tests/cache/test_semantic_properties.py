"""Property tests through the cache stage with its semantic tier: whatever two requests are, the
second is answered with the first's entry only if both come from the same tenant with the same
system prompt and earlier turns, the same tools and the same parameters.

The embedder here gives every text the same vector, so every stored question is a perfect
semantic match for every new one: only the partition (and the guards) stand between a request and
a wrong entry, which is the worst case a real embedder can approach. A control test shows that
inside one scope such an embedder does make semantic hits, so a miss elsewhere is the partition's
doing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from router.cache.answer_cache import AnswerCache
from router.cache_request import CACHE_SLOT, CacheRequest
from router.config.model import CacheSettings
from router.context import RequestContext
from router.policy.model import TenantPolicy
from router.stages.cache import CacheStage
from router.wire.usage import Usage
from tests.fake_clock import FakeClock
from tests.request_context import chat_context
from tests.tenant_policies import policy_model

ONE_VECTOR = np.full((1, 384), 1 / np.sqrt(384), dtype=np.float32)


class SameVectorEmbedder:
    """Every text embeds to the same unit vector: cosine similarity 1 between any two."""

    async def embed(self, texts: Sequence[str], *, background: bool = False) -> np.ndarray:
        return np.repeat(ONE_VECTOR, len(texts), axis=0)

    def static_vector(self, text: str) -> np.ndarray:
        return ONE_VECTOR[0]

    waiting = 0  # never busy
    model_id, static_id = "fake-model", "fake-static"
    in_background = 0


def _policy(tenant: str) -> TenantPolicy:
    # Requests with tools are cached, each with its tools.
    return policy_model(tenant, cache={"tools": True, "semantic": True})


POLICIES = {tenant: _policy(tenant) for tenant in ("acme", "beta")}
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}

requests = st.fixed_dictionaries(
    {
        "tenant": st.sampled_from(sorted(POLICIES)),
        "system": st.sampled_from(["Answer briefly.", "Answer in French.", ""]),
        "earlier": st.sampled_from([[], [("user", "Hi"), ("assistant", "Hello!")]]),
        "tools": st.sampled_from([None, [TOOL]]),
        "params": st.sampled_from(
            [
                {},
                {"max_tokens": 16},
                {"top_p": 0.5},
                {"seed": 1},
                {"stop": ["\n"]},
                {"response_format": {"type": "json_object"}},
            ]
        ),
        # Rewordings the guards let through, so the semantic tier is what decides.
        "question": st.sampled_from(
            [
                "What is the capital of France?",
                "Which city is the capital of France?",
                "Tell me the capital of France.",
            ]
        ),
    }
)


def _body(request: dict[str, Any]) -> dict[str, Any]:
    messages = [{"role": "system", "content": request["system"]}] if request["system"] else []
    messages += [{"role": role, "content": text} for role, text in request["earlier"]]
    messages.append({"role": "user", "content": request["question"]})
    body = {"model": "m", "messages": messages, "temperature": 0, **request["params"]}
    if request["tools"] is not None:
        body["tools"] = request["tools"]
    return body


def _cached(ctx: RequestContext) -> CacheRequest:
    state = ctx.slot(CACHE_SLOT)
    assert state is not None
    return state


def _context(request: dict[str, Any]) -> RequestContext:
    raw = orjson.dumps(_body(request))
    return chat_context(raw, tenant=request["tenant"], policy=POLICIES[request["tenant"]])


async def _store_then_ask(stored: dict[str, Any], asked: dict[str, Any]) -> tuple[str, bytes]:
    """Store an answer for `stored`, then ask `asked`: (x-router-cache, the body served)."""
    clock, settings = FakeClock(), CacheSettings()
    cache = AnswerCache(settings, clock, SameVectorEmbedder())  # type: ignore[arg-type]
    stage = CacheStage(cache, settings, clock)
    first = _context(stored)
    assert await stage.on_request(first) is None and first.decision.cache == "miss"
    _cached(first).answer = orjson.dumps({"answer_for": _body(stored), "tenant": stored["tenant"]})
    first.usage = Usage(10, 5)
    stage.on_done(first)
    await cache.drain()  # its question is embedded once its answer is stored
    second = _context(asked)
    answer = await stage.on_request(second)
    if answer is None:
        return second.decision.cache, b""
    assert answer.body is not None and answer.source == "cache"
    return second.decision.cache, answer.body


def _scope(request: dict[str, Any]) -> tuple[Any, ...]:
    return (
        request["tenant"],
        request["system"],
        request["earlier"],
        request["tools"],
        sorted(request["params"].items(), key=str),
    )


@settings(max_examples=300, deadline=None)
@given(stored=requests, asked=requests)
def test_an_entry_is_served_only_inside_its_tenant_prompt_tools_and_parameters(
    stored: dict[str, Any], asked: dict[str, Any]
) -> None:
    verdict, body = asyncio.run(_store_then_ask(stored, asked))
    if _scope(stored) != _scope(asked):
        assert verdict == "miss" and body == b""
    else:  # same scope: found exactly or by meaning, and the entry is the stored one
        assert verdict == ("hit-exact" if stored == asked else "hit-semantic")
        assert orjson.loads(body)["answer_for"] == _body(stored)


def test_control_inside_one_scope_a_reworded_question_is_a_semantic_hit() -> None:
    stored = {
        "tenant": "acme",
        "system": "Answer briefly.",
        "earlier": [],
        "tools": None,
        "params": {},
        "question": "What is the capital of France?",
    }
    asked = {**stored, "question": "Tell me the capital of France."}
    assert asyncio.run(_store_then_ask(stored, asked))[0] == "hit-semantic"
    near_miss = {**stored, "question": "What is the capital of Germany?"}
    assert asyncio.run(_store_then_ask(stored, near_miss))[0] == "miss"  # the guards
