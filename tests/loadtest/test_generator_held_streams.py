"""Streams held open through the generator's session (`loadtest.generator.held_streams`) against
the simulated cloud on loopback: which streams count as streaming and receiving, and how each
way a stream can fail is labelled. Nothing here waits on the clock but bounded polls."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable

import orjson
import pytest
import pytest_asyncio

from loadtest.generator.held_streams import HeldStreams
from loadtest.generator.probe import Prepared, probe_session
from loadtest.mock_cloud import CloudSettings, ControlSettings, MockCloud, RegionSettings

KEY = "sk-held"
MODEL = "gpt-4o-mini"
# Long answers, an event every 20 ms: no stream ends during a test.
EVENTS_PER_S = 50.0
LONG_ANSWER = 16_384


@pytest_asyncio.fixture
async def cloud() -> AsyncIterator[MockCloud]:
    settings = CloudSettings(
        regions=(
            RegionSettings(name="slow", tokens_per_s=EVENTS_PER_S, completion_tokens=LONG_ANSWER),
            RegionSettings(name="short", completion_tokens=3),
            RegionSettings(name="down", fault="unavailable"),
            RegionSettings(
                name="cut",
                tokens_per_s=EVENTS_PER_S,
                completion_tokens=LONG_ANSWER,
                fault="stream_cut",
                fault_after_events=2,
            ),
            RegionSettings(name="reset", fault="reset"),
            RegionSettings(
                name="stall",
                tokens_per_s=EVENTS_PER_S,
                completion_tokens=LONG_ANSWER,
                fault="stall",
                fault_after_events=2,
            ),
        ),
        control=ControlSettings(port=0),
    )
    async with MockCloud(settings, seed=0) as running:
        yield running


def stream_of(cloud: MockCloud, region: str, model: str = MODEL) -> Prepared:
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "go"}]}
    return Prepared(f"{cloud.regions[region].base_url}/chat/completions", orjson.dumps(body))


async def until(check: Callable[[], bool], what: str) -> None:
    """Poll until `check` holds; the bound only turns a hang into a failure."""
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting until {what}")


@pytest.mark.asyncio
async def test_open_streams_are_streaming_and_receiving_after_a_mark(cloud: MockCloud) -> None:
    async with probe_session(KEY, 10) as http:
        streams = HeldStreams(http, stream_of(cloud, "slow"))
        ramp_s = await streams.open(6, 4, 10.0)
        assert ramp_s > 0
        before = streams.sample()
        assert before.outcomes == {"streaming": 6}
        assert before.receiving == 0  # nothing counts before a mark
        streams.mark()
        await until(lambda: streams.sample().receiving == 6, "every stream received")
        assert cloud.regions["slow"].stats.in_flight == 6
        await streams.close()
        assert streams.sample().outcomes == {}
        await until(lambda: cloud.regions["slow"].stats.in_flight == 0, "the cloud saw them close")
    assert cloud.regions["slow"].stats.cancelled == 6


@pytest.mark.asyncio
async def test_streams_opened_after_the_mark_do_not_count_as_receiving(cloud: MockCloud) -> None:
    async with probe_session(KEY, 10) as http:
        streams = HeldStreams(http, stream_of(cloud, "slow"))
        await streams.open(2, 2, 10.0)
        streams.mark()
        await streams.open(3, 3, 10.0)
        await until(lambda: streams.sample().receiving == 2, "the marked streams received")
        sample = streams.sample()
        assert sample.outcomes == {"streaming": 5} and sample.receiving == 2
        await streams.close()


@pytest.mark.asyncio
async def test_a_stalled_stream_is_streaming_but_not_receiving(cloud: MockCloud) -> None:
    async with probe_session(KEY, 10) as http:
        streams = HeldStreams(http, stream_of(cloud, "stall"))
        await streams.open(3, 3, 10.0)
        for _ in range(100):  # until a mark finds nothing received 50 ms later (bounded)
            streams.mark()
            await asyncio.sleep(0.05)
            if streams.sample().receiving == 0:
                break
        sample = streams.sample()
        await streams.close()
    assert sample.outcomes == {"streaming": 3} and sample.receiving == 0


@pytest.mark.asyncio
async def test_a_refusal_is_counted_with_what_the_target_said(cloud: MockCloud) -> None:
    async with probe_session(KEY, 10) as http:
        streams = HeldStreams(http, stream_of(cloud, "down"))
        await streams.open(3, 3, 10.0)
        sample = streams.sample()
        await streams.close()
    assert sample.outcomes == {"refused (503)": 3} and sample.receiving == 0
    assert '"error"' in sample.error_bodies["refused (503)"]


@pytest.mark.asyncio
async def test_another_status_is_counted_by_its_number(cloud: MockCloud) -> None:
    async with probe_session(KEY, 10) as http:
        streams = HeldStreams(http, stream_of(cloud, "slow", model="no-such-model"))
        await streams.open(2, 2, 10.0)
        sample = streams.sample()
        await streams.close()
    assert sample.outcomes == {"status 404": 2}
    assert "status 404" in sample.error_bodies


@pytest.mark.asyncio
async def test_a_stream_cut_after_its_first_events_is_closed_mid_stream(cloud: MockCloud) -> None:
    async with probe_session(KEY, 10) as http:
        streams = HeldStreams(http, stream_of(cloud, "cut"))
        await streams.open(4, 4, 10.0)
        streams.mark()
        await until(
            lambda: streams.sample().outcomes == {"closed mid-stream": 4}, "every stream was cut"
        )
        assert streams.sample().receiving == 0
        await streams.close()


@pytest.mark.asyncio
async def test_a_connection_reset_before_any_answer_is_closed_before_answer(
    cloud: MockCloud,
) -> None:
    async with probe_session(KEY, 10) as http:
        streams = HeldStreams(http, stream_of(cloud, "reset"))
        await streams.open(2, 2, 10.0)
        sample = streams.sample()
        await streams.close()
    assert sample.outcomes == {"closed before answer": 2}


@pytest.mark.asyncio
async def test_an_answer_that_ends_is_ended_not_held(cloud: MockCloud) -> None:
    async with probe_session(KEY, 10) as http:
        streams = HeldStreams(http, stream_of(cloud, "short"))
        await streams.open(3, 3, 10.0)
        await until(lambda: streams.sample().outcomes == {"ended": 3}, "the answers ended")
        await streams.close()


@pytest.mark.asyncio
async def test_no_connection_is_a_connect_error_with_its_errno() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    request = Prepared(f"http://127.0.0.1:{port}/v1/chat/completions", b"{}")
    async with probe_session(KEY, 10) as http:
        streams = HeldStreams(http, request)
        await streams.open(2, 1, 10.0)
        sample = streams.sample()
    assert sample.outcomes == {"connect: ConnectionRefusedError 111": 2}


@pytest.mark.asyncio
async def test_each_batch_is_followed_by_the_callers_hook(cloud: MockCloud) -> None:
    batches: list[int] = []
    async with probe_session(KEY, 10) as http:
        streams = HeldStreams(http, stream_of(cloud, "slow"))
        await streams.open(5, 2, 10.0, after_batch=lambda: batches.append(len(batches)))
        await streams.close()
        with pytest.raises(ValueError):
            await streams.open(1, 0, 10.0)
    assert batches == [0, 1, 2]
