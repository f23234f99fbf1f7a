"""Conversations stay on the endpoint that served them (router/routing/affinity.py): named by a
session header or by their stable prefix, held while that endpoint can take them, moved when it
cannot or misses the request's SLO, forgotten after the TTL; per tenant."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from loadtest.mock_cloud.settings import RegionSettings
from router.config.model import AffinitySettings
from router.errors import InvalidRequest, NoEligibleEndpoint
from router.routing.affinity import AffinityTable, conversation_key
from router.stages.affinity import AffinityStage
from router.state import STATE
from router.wire.native import NativeRequest
from tests.fake_clock import FakeClock
from tests.redis_server import redis_server
from tests.request_context import chat_context
from tests.stack import Stack, running_stack

SYSTEM = {"role": "system", "content": "You are terse."}
FIRST = {"role": "user", "content": "Plan a trip to Lisbon."}
ANSWER = {"role": "assistant", "content": "Day 1: Alfama."}
SECOND = {"role": "user", "content": "And day 2?"}
HEADER = "x-router-session"


def _key(tenant: str, messages: list[dict[str, Any]], **headers: str) -> tuple[str, bool] | None:
    return conversation_key(tenant, "gpt-4o-mini", {"messages": messages}, headers, HEADER)


def test_a_conversations_turns_share_its_key_and_only_later_turns_are_held() -> None:
    first = _key("acme", [SYSTEM, FIRST])
    second = _key("acme", [SYSTEM, FIRST, ANSWER, SECOND])
    assert first is not None and second is not None
    assert first[0] == second[0]
    assert (first[1], second[1]) == (False, True)
    tool_turn = _key("acme", [FIRST, {"role": "tool", "tool_call_id": "c", "content": "3"}])
    assert tool_turn is not None and tool_turn[1]
    # Another tenant, another system prompt or another first question: another conversation.
    assert _key("beta", [SYSTEM, FIRST, ANSWER, SECOND]) != second
    assert _key("acme", [FIRST, ANSWER, SECOND]) != second
    assert _key("acme", [SYSTEM, SECOND, ANSWER, FIRST]) != second


def test_a_named_session_is_held_from_its_first_turn_and_its_name_is_not_kept() -> None:
    named = _key("acme", [FIRST], **{HEADER: "s-1"})
    assert named is not None and named[1]
    assert named == _key("acme", [SYSTEM, SECOND], **{HEADER: "s-1"})
    assert "s-1" not in named[0]
    assert _key("acme", []) is None
    assert conversation_key("acme", "m", {"input": "hi"}, {}, HEADER) is None


def test_a_prefix_nested_deeper_than_can_be_written_names_no_conversation() -> None:
    deep: object = "x"
    for _ in range(600):  # orjson reads 1,024 levels and writes 254
        deep = [deep]
    assert _key("acme", [{"role": "user", "content": deep}]) is None


def test_the_table_forgets_after_the_ttl_and_keeps_at_most_its_size() -> None:
    clock = FakeClock()
    table = AffinityTable.of_conversations(AffinitySettings(ttl_s=300, max_conversations=2), clock)
    table.remember("a", "us-east")
    clock.advance(299)
    assert table.endpoint_of("a") == "us-east"
    clock.advance(2)
    assert table.endpoint_of("a") is None
    for key in ("b", "c", "d"):
        table.remember(key, "eu-west")
    assert len(table) == 2 and table.endpoint_of("b") is None


REGIONS = (RegionSettings(name="us-east", rtt_ms=2.0), RegionSettings(name="eu-west", rtt_ms=10.0))
LATENCY_FIRST = {"x-router-objective": "latency"}


async def _ask(stack: Stack, messages: list[dict[str, Any]], **headers: str) -> dict[str, str]:
    raw = await stack.client(
        default_headers={**LATENCY_FIRST, **headers}
    ).chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=messages,  # type: ignore[arg-type]
    )
    return dict(raw.headers)


async def _until_first_turns_go_to(stack: Stack, endpoint: str) -> None:
    """New conversations' first turns, until the router sends them to `endpoint` (its
    estimators learned the new delays); bounded."""
    for attempt in range(100):
        ask = {"role": "user", "content": f"new question {attempt}"}
        if (await _ask(stack, [ask]))["x-router-endpoint"] == endpoint:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"first turns never went to {endpoint}")


@pytest.mark.asyncio
async def test_a_later_turn_stays_with_its_endpoint_until_it_misses_the_slo() -> None:
    async with running_stack(regions=REGIONS) as stack:
        first = await _ask(stack, [SYSTEM, FIRST])
        assert first["x-router-endpoint"] == "us-east"
        await stack.control("us-east", rtt_ms=60.0)
        await _until_first_turns_go_to(stack, "eu-west")

        later = await _ask(stack, [SYSTEM, FIRST, ANSWER, SECOND])
        assert later["x-router-endpoint"] == "us-east"
        assert "affinity=us-east" in later["x-router-reason"]

        # A stricter SLO than the held endpoint is predicted to meet, and one the pick meets.
        strict = await _ask(
            stack, [SYSTEM, FIRST, ANSWER, SECOND], **{"x-router-latency-slo-ms": "40"}
        )
        assert strict["x-router-endpoint"] == "eu-west"
        assert "affinity=moved" in strict["x-router-reason"]
        # It moved: the next turn stays on its new endpoint.
        after = await _ask(stack, [SYSTEM, FIRST, ANSWER, SECOND, ANSWER, SECOND])
        assert after["x-router-endpoint"] == "eu-west"
        assert "affinity=eu-west" in after["x-router-reason"]


@pytest.mark.asyncio
async def test_a_held_endpoint_that_is_down_is_left_and_affinity_can_be_turned_off() -> None:
    async with running_stack(regions=REGIONS) as stack:
        await _ask(stack, [SYSTEM, FIRST], **{HEADER: "trip"})
        await stack.control("us-east", down=True)
        moved = await _ask(stack, [SECOND], **{HEADER: "trip"})
        assert moved["x-router-endpoint"] == "eu-west"  # failed over, no request failed
    off = {"routing": {"affinity": {"enabled": False}}}
    async with running_stack(regions=REGIONS, overrides=off) as stack:
        await _ask(stack, [SYSTEM, FIRST], **{HEADER: "trip"})
        again = await _ask(stack, [SECOND], **{HEADER: "trip"})
        assert "affinity" not in again["x-router-reason"]


@pytest.mark.asyncio
async def test_routers_sharing_redis_hold_each_others_conversations(tmp_path: Path) -> None:
    """Two routers (two PoPs, each with its own view of the same regions) and one Redis: the
    second holds a conversation the first served, where its own routing would pick another."""
    near_east = REGIONS
    far_east = (
        RegionSettings(name="us-east", rtt_ms=60.0),
        RegionSettings(name="eu-west", rtt_ms=10.0),
    )
    with redis_server(tmp_path) as redis_url:
        shared = {
            "limits": {"backend": "redis", "redis": {"url": redis_url, "timeout_ms": 500}},
        }
        async with (
            running_stack(regions=near_east, overrides=shared) as first,
            running_stack(regions=far_east, overrides=shared) as second,
        ):
            assert (await _ask(first, [SYSTEM, FIRST]))["x-router-endpoint"] == "us-east"
            conversations, _producers = first.app[STATE].shared_affinity
            await conversations.flush()  # as its task does every 0.1 s
            await _until_first_turns_go_to(second, "eu-west")
            held = await _ask(second, [SYSTEM, FIRST, ANSWER, SECOND])
            assert held["x-router-endpoint"] == "us-east"
            assert "affinity=us-east" in held["x-router-reason"]


class _Table:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    async def lookup(self, key: str) -> str | None:
        return self.endpoint

    def remember(self, key: str, endpoint: str) -> None:
        self.endpoint = endpoint


def _target(name: str, locality: str) -> Any:
    settings = SimpleNamespace(locality=locality)
    return SimpleNamespace(endpoint=SimpleNamespace(name=name, settings=settings))


@pytest.mark.asyncio
async def test_a_held_cloud_endpoint_never_goes_ahead_of_the_edge_the_route_placed_first() -> None:
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": [SYSTEM, FIRST, ANSWER, SECOND]})
    stage = AffinityStage(AffinitySettings(), _Table("us-east"), _Table("us-east"))
    for first, expected in (("edge", ["pop", "us-east"]), ("cloud", ["us-east", "pop"])):
        ctx = chat_context(body, tenant="acme")
        ctx.decision.alias = "gpt-4o-mini"
        ctx.plan = (_target("pop", first), _target("us-east", "cloud"))
        await stage.on_request(ctx)
        assert [t.endpoint.name for t in ctx.plan] == expected


@pytest.mark.asyncio
async def test_a_continued_response_goes_to_its_producer_alone_or_fails_clearly() -> None:
    """Held even with affinity off: only the producer has the stored response."""
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": [SECOND]})  # its chat form
    producers = AffinityTable(10, 3600.0, FakeClock())
    stage = AffinityStage(AffinitySettings(enabled=False), _Table("us-east"), producers)
    done = chat_context(body, tenant="acme")
    done.response_id, done.decision.endpoint = "resp_1", "eu-west"
    stage.on_done(done)  # eu-west produced resp_1 for acme

    def continuing(tenant: str, plan: tuple[str, ...]) -> Any:
        ctx = chat_context(body, tenant=tenant)
        ctx.native = NativeRequest("responses", {"input": "and then?"}, {}, "resp_1")
        ctx.plan = tuple(_target(name, "cloud") for name in plan)
        return ctx

    held = continuing("acme", ("us-east", "eu-west"))
    await stage.on_request(held)
    assert [t.endpoint.name for t in held.plan] == ["eu-west"]
    assert "producer=" in held.decision.reason
    with pytest.raises(NoEligibleEndpoint) as unavailable:  # ejected, or not eligible
        await stage.on_request(continuing("acme", ("us-east",)))
    assert unavailable.value.code == "previous_response_unavailable"
    with pytest.raises(InvalidRequest) as unknown:  # another tenant's response is unknown
        await stage.on_request(continuing("globex", ("us-east", "eu-west")))
    assert unknown.value.code == "previous_response_not_found"
    assert unknown.value.param == "previous_response_id"
