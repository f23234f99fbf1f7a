"""The workload's runs on real sockets against the simulated cloud (in this process, so a test can
read what each region received): the closed loop's bound on requests in flight, tenants' keys
and shares, a streaming share, a conversation's turns carrying the target's own answers, and the
Responses and Messages kinds' TTFT, usage and outcomes, a cut stream and a missing end event
included. Counts, bytes and orders only: no assertion on how fast anything runs."""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest

from loadtest.generator import Conversation, LoadSettings, Tenant, Uniform, run_load_detailed
from loadtest.generator.summary import RequestRecord
from loadtest.mock_cloud.cloud import MockCloud
from loadtest.mock_cloud.settings import CloudSettings, ControlSettings, RegionSettings
from loadtest.mock_cloud.wire import answer_text

NATIVE_STREAMS = ("chat-stream", "responses-stream", "messages-stream")
PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses", "messages": "/v1/messages"}


@asynccontextmanager
async def region(**settings: Any) -> AsyncIterator[MockCloud]:
    """The simulated cloud with one region, `direct`, 8-token answers unless said otherwise."""
    settings.setdefault("completion_tokens", 8)
    cloud_settings = CloudSettings(
        control=ControlSettings(port=0), regions=(RegionSettings(name="direct", **settings),)
    )
    async with MockCloud(cloud_settings) as cloud:
        yield cloud


def base_url(cloud: MockCloud) -> str:
    return cloud.regions["direct"].base_url


def received(cloud: MockCloud) -> list[Any]:
    """What the region received, oldest first (its in-process records: headers as sent)."""
    return list(cloud.regions["direct"].state.records)


def short(cloud: MockCloud, **fields: Any) -> LoadSettings:
    fields.setdefault("rate_per_s", 100.0)
    fields.setdefault("duration_s", 0.2)
    fields.setdefault("warmup_s", 0.0)
    return LoadSettings(base_url=base_url(cloud), **fields)


@pytest.mark.asyncio
async def test_a_closed_loop_never_has_more_than_its_clients_in_flight() -> None:
    async with region(ttft_ms=15.0) as cloud:
        stats = cloud.regions["direct"].state.stats
        peak = 0

        async def watch() -> None:
            nonlocal peak
            for _ in range(100_000):  # bounded; cancelled when the run ends
                peak = max(peak, stats.in_flight)
                await asyncio.sleep(0.001)

        watcher = asyncio.create_task(watch())
        try:
            result, records = await run_load_detailed(
                short(cloud, concurrency=3, duration_s=0.4, warmup_s=0.1)
            )
        finally:
            watcher.cancel()
        total = stats.requests_total
    assert 1 <= peak <= 3 and result.max_in_flight == 3
    assert (result.loop, result.concurrency, result.errors) == ("closed", 3, 0)
    # The warm-up's requests were sent, not counted; every measured one is a record.
    assert total > result.requests == len(records) == result.ok > 0
    # From the client's own records: never more than three requests overlapping in time.
    assert _most_overlapping(records) <= 3
    # Achieved, not offered: a closed loop's rate is its result.
    assert result.offered_rate_per_s == result.sent_rate_per_s > 0


def _most_overlapping(records: list[RequestRecord]) -> int:
    events = []
    for record in records:
        assert record.latency_ms is not None
        events.append((record.due_s, 1))
        events.append((record.due_s + record.latency_ms / 1e3, -1))
    # At equal times an end comes before a start: a client sends as its last answer ends.
    events.sort(key=lambda event: (event[0], event[1]))
    return max(itertools.accumulate(change for _, change in events))


@pytest.mark.asyncio
async def test_an_open_poisson_loop_sends_its_seeded_schedule() -> None:
    from loadtest.generator import schedule_for

    async with region() as cloud:
        settings = short(cloud, arrival="poisson", rate_per_s=150.0, duration_s=0.3, seed=5)
        result, records = await run_load_detailed(settings)
        sent = len(received(cloud))
    plan = schedule_for(settings)
    assert sent == result.requests == plan.total_requests == len(records) == result.ok
    assert result.arrival == "poisson" and result.loop == "open"
    # Each request is recorded as due at its arrival, relative to the first.
    offsets = plan.offsets_s()
    assert [round(r.due_s, 6) for r in records] == [round(o - offsets[0], 6) for o in offsets]


@pytest.mark.asyncio
async def test_each_tenant_sends_its_own_key_and_gets_its_own_results() -> None:
    tenants = (Tenant("a", "key-a", 3.0), Tenant("b", "key-b", 1.0))
    async with region() as cloud:
        result, records = await run_load_detailed(
            short(cloud, tenants=tenants, duration_s=1.0, rate_per_s=200.0, seed=2)
        )
        sent = Counter(r.headers["Authorization"] for r in received(cloud))
    by_record = Counter(r.tenant for r in records)
    assert sent == {"Bearer key-a": by_record["a"], "Bearer key-b": by_record["b"]}
    assert {name: t.requests for name, t in result.tenants.items()} == dict(by_record)
    assert by_record["a"] / len(records) == pytest.approx(0.75, abs=0.08)
    for tenant in result.tenants.values():
        assert tenant.ok == tenant.requests and tenant.errors == 0
        assert tenant.latency is not None and tenant.latency.count == tenant.ok


@pytest.mark.asyncio
async def test_a_tenants_errors_stay_its_own() -> None:
    # The region takes one key: the other tenant's requests are refused, and counted as theirs.
    tenants = (Tenant("good", "sk-right"), Tenant("bad", "sk-wrong"))
    async with region(api_key="sk-right") as cloud:
        result, _ = await run_load_detailed(short(cloud, kind="messages-json", tenants=tenants))
        anthropic = {r.headers.get("x-api-key") for r in received(cloud)}
        bearer = {r.headers.get("Authorization") for r in received(cloud)}
    good, bad = result.tenants["good"], result.tenants["bad"]
    assert good.ok == good.requests > 0 and good.errors == 0
    assert bad.ok == 0 and bad.errors_by_kind == {"http_401": bad.requests} and bad.requests > 0
    # Messages carry the key as Anthropic's clients do, and no Bearer beside it.
    assert anthropic == {"sk-right", "sk-wrong"} and bearer == {None}


@pytest.mark.asyncio
async def test_a_streaming_share_mixes_json_and_streams_in_one_phase() -> None:
    async with region() as cloud:
        result, records = await run_load_detailed(
            short(cloud, stream_share=0.5, rate_per_s=200.0, duration_s=0.5, seed=1)
        )
        streamed = sum(orjson.loads(r.body).get("stream") is True for r in received(cloud))
    kinds = Counter(r.kind for r in records)
    assert result.requests_by_kind == dict(kinds) and set(kinds) == {"chat-json", "chat-stream"}
    assert streamed == kinds["chat-stream"] > 0
    # TTFT is a stream's: one per successful stream, none for the JSON answers.
    assert result.ttft is not None and result.ttft.count == kinds["chat-stream"]
    assert all((r.ttft_ms is None) == (r.kind == "chat-json") for r in records)


@pytest.mark.parametrize("kind", ["chat-stream", "responses-json", "messages-stream"])
@pytest.mark.asyncio
async def test_each_turn_carries_the_earlier_turns_and_the_targets_own_answers(kind: str) -> None:
    # An echoing region answers with the texts of the messages it got, joined by newlines: so
    # turn k's assistant messages must be exactly what the region answered to turns before it.
    settings: dict[str, Any] = {
        "kind": kind,
        "conversation": Conversation(turns=3, think_s=0.02),
        "prompt_bytes": Uniform("uniform", 5, 40),
        "max_tokens": 4000,
        "seed": 4,
    }
    async with region(echo=True) as cloud:
        result, records = await run_load_detailed(short(cloud, **settings))
        bodies = [orjson.loads(r.body) for r in received(cloud)]
    assert result.errors == 0 and result.conversation is not None
    assert result.conversation.turns == 3 and result.conversation.conversations >= 2
    turns = Counter(r.turn for r in records)
    assert set(turns) == {0, 1, 2}
    messages_key = "input" if kind.startswith("responses") else "messages"
    later = 0
    for body in bodies:
        messages = body[messages_key]
        assert len(messages) % 2 == 1 and messages[-1]["role"] == "user"
        for index in range(1, len(messages), 2):
            assert messages[index]["role"] == "assistant"
            earlier = [m["content"] for m in messages[:index]]
            assert messages[index]["content"] == "\n".join(earlier)
        later += len(messages) > 1
    assert later == turns[1] + turns[2]


@pytest.mark.asyncio
async def test_a_turn_waits_for_its_previous_answer_and_counts_as_held() -> None:
    # Turns a slot (10 ms) apart, answers 200 ms away: every later turn comes after its slot.
    async with region(ttft_ms=200.0) as cloud:
        result, records = await run_load_detailed(
            short(cloud, conversation=Conversation(turns=3, think_s=0.0), duration_s=0.3)
        )
        bodies = [orjson.loads(r.body) for r in received(cloud)]
    assert result.errors == 0 and result.conversation is not None
    later_turns = sum(1 for r in records if r.turn)
    assert result.conversation.held == later_turns > 0
    # None went early: turn k always carried its k answers before it.
    assert sorted(len(b["messages"]) for b in bodies) == sorted(2 * r.turn + 1 for r in records)


@pytest.mark.parametrize("kind", ["responses-stream", "messages-stream"])
@pytest.mark.asyncio
async def test_native_streams_have_ttft_tpot_and_the_usages_output_tokens(kind: str) -> None:
    async with region(tokens_per_s=2000.0) as cloud:
        result, records = await run_load_detailed(short(cloud, kind=kind, max_tokens=64))
        paths = {r.path for r in received(cloud)}
    assert paths == {PATHS[kind.split("-")[0]]}
    assert result.ok == result.requests == 20 and result.errors == 0
    assert result.ttft is not None and result.ttft.count == 20
    # Eight tokens a stream: a TPOT each, seven gaps each; the usage says 8.
    assert result.tpot is not None and result.tpot.count == 20
    assert result.itl is not None and result.itl.count == 20 * 7
    assert result.output_tokens_per_s == pytest.approx(20 * 8 / 0.2)
    assert all(r.ttft_ms is not None and r.ttft_ms <= (r.latency_ms or 0) for r in records)


@pytest.mark.parametrize("kind", ["responses-json", "messages-json"])
@pytest.mark.asyncio
async def test_native_json_answers_count_the_usages_output_tokens(kind: str) -> None:
    async with region() as cloud:
        result, _ = await run_load_detailed(short(cloud, kind=kind, max_tokens=64))
    assert result.ok == result.requests == 20 and result.ttft is None
    assert result.output_tokens_per_s == pytest.approx(20 * 8 / 0.2)


@pytest.mark.parametrize("kind", NATIVE_STREAMS)
@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        ({"fault": "stream_cut"}, "stream_without_done"),  # the connection closed mid-body
        ({"fault": "missing_done"}, "stream_without_done"),  # a clean end, no end event
        ({"inband_error_rate": 1.0, "inband_error_after_events": 2}, "stream_error"),
        ({"error_rate": 1.0, "error_status": 529}, "http_529"),
    ],
)
@pytest.mark.asyncio
async def test_every_stream_kind_names_how_a_broken_stream_ended(
    kind: str, fault: dict[str, Any], outcome: str
) -> None:
    async with region(**fault) as cloud:
        result, records = await run_load_detailed(short(cloud, kind=kind, duration_s=0.05))
    assert result.ok == 0 and result.errors_by_kind == {outcome: 5}
    assert {r.outcome for r in records} == {outcome} and result.ttft is None


@pytest.mark.asyncio
async def test_a_stalled_stream_is_a_hang_not_a_cut() -> None:
    async with region(fault="stall") as cloud:
        settings = short(cloud, kind="responses-stream", duration_s=0.03, request_timeout_s=0.3)
        result, _ = await run_load_detailed(settings)
    assert result.ok == 0 and set(result.errors_by_kind) <= {"TimeoutError", "unfinished"}


@pytest.mark.asyncio
async def test_a_conversation_keeps_the_answer_text_of_a_stream_it_read() -> None:
    # The template answer, streamed one word per event: a later turn carries it whole.
    async with region(completion_tokens=5) as cloud:
        settings = short(
            cloud,
            kind="messages-stream",
            conversation=Conversation(turns=2, think_s=0.01),
            duration_s=0.1,
        )
        result, _ = await run_load_detailed(settings)
        bodies = [orjson.loads(r.body) for r in received(cloud)]
    assert result.errors == 0
    answers = {m["content"] for b in bodies for m in b["messages"] if m["role"] == "assistant"}
    assert answers == {answer_text("direct", 5)}


@pytest.mark.asyncio
async def test_the_generators_command_line_runs_a_closed_loop_and_poisson_arrivals() -> None:
    async with region() as cloud:
        outputs = []
        for flags in (["--concurrency", "2"], ["--arrival", "poisson", "--seed", "3"]):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "loadtest.generator", "--url", base_url(cloud),
                "--duration", "0.2", "--warmup", "0", "--rate", "50", *flags,
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            stdout, _ = await asyncio.wait_for(process.communicate(), timeout=60)
            assert process.returncode == 0
            outputs.append(orjson.loads(stdout))
    closed, poisson = outputs
    assert (closed["loop"], closed["concurrency"], closed["errors"]) == ("closed", 2, 0)
    assert 1 <= closed["max_in_flight"] <= 2 and closed["ok"] > 0
    assert (poisson["loop"], poisson["arrival"], poisson["seed"]) == ("open", "poisson", 3)
