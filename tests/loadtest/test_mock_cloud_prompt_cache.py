"""Each region of the simulated cloud caches the prompt prefixes it served, as providers do.

Driven by the official `openai` and `anthropic` clients (strict response validation) on loopback.
A prompt token is a word: the long system prompt is 1,100 distinct words, a first question 200 (so
a hit on the first turn's prompt, 1,280 in 128-token blocks, tells from one on the system prompt
alone, 1,024), a later question 5 and the template answer 16.
Time is a fake clock handed to the cloud, so the TTL is crossed without waiting, and the time to
first token is the one the region says it simulated (`x-mock-ttft-ms`, to the microsecond), never a
wall-clock bound.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import pytest
import pytest_asyncio
from anthropic import AsyncAnthropic
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from loadtest.mock_cloud import CloudSettings, ControlSettings, MockCloud, RegionSettings
from loadtest.mock_cloud.prompt_cache import PromptCache, cached_tokens, prefixes, prompt_head
from loadtest.mock_cloud.settings import SettingsError
from loadtest.mock_cloud.wire import answer_text
from tests.openai_clients import async_openai

MODEL = "gpt-4o-mini"
CLAUDE = "claude-sonnet-4-5"
TTFT_MS = 300.0
SYSTEM = " ".join(f"s{i}" for i in range(1100))
ANSWER = answer_text("us-east", 16)
TTL_S = 300.0
QUESTION = " ".join(f"a{i}" for i in range(200))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture
async def cloud(clock: FakeClock) -> AsyncIterator[MockCloud]:
    regions = tuple(
        RegionSettings(name=name, ttft_ms=TTFT_MS, models=(MODEL, "gpt-4o", CLAUDE))
        for name in ("us-east", "eu-west")
    )
    settings = CloudSettings(regions=regions, control=ControlSettings(port=0))
    async with MockCloud(settings, seed=0, clock=clock) as running:
        yield running


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest_asyncio.fixture
async def oai(cloud: MockCloud) -> AsyncIterator[AsyncOpenAI]:
    async with client_at(cloud, "us-east") as client:
        yield client


def client_at(cloud: MockCloud, region: str) -> AsyncOpenAI:
    base_url = cloud.regions[region].base_url
    return async_openai(base_url, api_key="sk-any", max_retries=0, _strict_response_validation=True)


def words(prefix: str, n: int) -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def first_turn(system: str = SYSTEM) -> list[ChatCompletionMessageParam]:
    return [{"role": "system", "content": system}, {"role": "user", "content": QUESTION}]


def second_turn(system: str = SYSTEM) -> list[ChatCompletionMessageParam]:
    return [
        *first_turn(system),
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": words("b", 5)},
    ]


async def chat(
    client: AsyncOpenAI, messages: list[ChatCompletionMessageParam], model: str = MODEL
) -> tuple[ChatCompletion, float]:
    """The completion and the time to first token the region says it simulated."""
    raw = await client.chat.completions.with_raw_response.create(model=model, messages=messages)
    return raw.parse(), float(raw.headers["x-mock-ttft-ms"])


def cached(completion: ChatCompletion) -> int:
    usage = completion.usage
    assert usage is not None
    details = usage.prompt_tokens_details
    return 0 if details is None or details.cached_tokens is None else details.cached_tokens


def warm_ttft_ms(cached_tokens: int, prompt_tokens: int) -> float:
    return TTFT_MS * (1 - 0.8 * cached_tokens / prompt_tokens)


async def patch_region(
    http: aiohttp.ClientSession, cloud: MockCloud, name: str, **fields: Any
) -> aiohttp.ClientResponse:
    async with http.patch(f"{cloud.control_url}/control/regions/{name}", json=fields) as response:
        await response.read()
        return response


async def stats(http: aiohttp.ClientSession, cloud: MockCloud, name: str) -> dict[str, Any]:
    async with http.get(f"{cloud.control_url}/control/regions/{name}/stats") as response:
        result: dict[str, Any] = await response.json()
        return result


# --- Chat Completions ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_second_turn_at_the_same_region_reads_the_first_from_cache_and_starts_sooner(
    cloud: MockCloud, http: aiohttp.ClientSession, oai: AsyncOpenAI
) -> None:
    cold, cold_ttft_ms = await chat(oai, first_turn())
    warm, warm_ttft = await chat(oai, second_turn())

    assert cold.usage is not None and cold.usage.prompt_tokens == 1300
    assert cached(cold) == 0 and cold_ttft_ms == TTFT_MS
    # The first turn's prompt (system and question, 1,300 tokens) in 128-token blocks.
    assert warm.usage is not None and warm.usage.prompt_tokens == 1321
    assert cached(warm) == 1280
    assert warm_ttft == pytest.approx(warm_ttft_ms(1280, 1321), abs=0.001)
    assert warm_ttft < cold_ttft_ms
    counted = await stats(http, cloud, "us-east")
    assert (counted["prompt_cache_hits"], counted["prompt_cache_cached_tokens"]) == (1, 1280)


@pytest.mark.asyncio
async def test_another_region_has_nothing_cached(cloud: MockCloud, oai: AsyncOpenAI) -> None:
    await chat(oai, first_turn())
    async with client_at(cloud, "eu-west") as elsewhere:
        moved, ttft_ms = await chat(elsewhere, second_turn())
        assert cached(moved) == 0 and ttft_ms == TTFT_MS
        # And once it has served the conversation, it has it too.
        again, _ = await chat(elsewhere, second_turn())
        assert cached(again) == 1280


@pytest.mark.asyncio
async def test_prefixes_expire_after_the_ttl(
    cloud: MockCloud, oai: AsyncOpenAI, clock: FakeClock
) -> None:
    await chat(oai, first_turn())
    clock.now += TTL_S - 0.5
    within, _ = await chat(oai, first_turn())  # seen again: its time starts over
    clock.now += TTL_S
    expired, ttft_ms = await chat(oai, second_turn())

    assert cached(within) == 1280
    assert cached(expired) == 0 and ttft_ms == TTFT_MS


@pytest.mark.asyncio
async def test_prompts_under_the_minimum_are_never_cached(oai: AsyncOpenAI) -> None:
    short = words("s", 700)
    await chat(oai, first_turn(short))
    repeated, ttft_ms = await chat(oai, second_turn(short))
    # 1,021 tokens, of which the first turn's 900 were seen: under 1,024, nothing is cached.
    assert repeated.usage is not None and repeated.usage.prompt_tokens == 921
    assert cached(repeated) == 0 and ttft_ms == TTFT_MS


@pytest.mark.asyncio
async def test_a_repeated_prompt_is_cached_whole_in_128_token_blocks(oai: AsyncOpenAI) -> None:
    messages = first_turn(words("s", 1300))
    await chat(oai, messages)
    repeated, ttft_ms = await chat(oai, messages)
    assert cached(repeated) == 1408
    assert ttft_ms == pytest.approx(warm_ttft_ms(1408, 1500), abs=0.001)


@pytest.mark.asyncio
async def test_another_model_or_another_system_prompt_shares_nothing(oai: AsyncOpenAI) -> None:
    await chat(oai, first_turn())
    other_model, _ = await chat(oai, second_turn(), model="gpt-4o")
    other_system, _ = await chat(oai, second_turn(SYSTEM + " changed"))
    assert cached(other_model) == cached(other_system) == 0


@pytest.mark.asyncio
async def test_a_streamed_answer_reports_cached_tokens_in_its_usage_chunk(
    oai: AsyncOpenAI,
) -> None:
    await chat(oai, first_turn())
    raw = await oai.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=second_turn(),
        stream=True,
        stream_options={"include_usage": True},
    )
    assert float(raw.headers["x-mock-ttft-ms"]) == pytest.approx(
        warm_ttft_ms(1280, 1321), abs=0.001
    )
    chunks = [chunk async for chunk in raw.parse()]
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 1280
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER


# --- Responses and Messages ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_responses_input_items_and_continuations_read_the_cache(oai: AsyncOpenAI) -> None:
    first = await oai.responses.create(model=MODEL, instructions=SYSTEM, input=QUESTION)
    resent = await oai.responses.create(
        model=MODEL,
        instructions=SYSTEM,
        input=[
            {"role": "user", "content": QUESTION},  # the same message as the string input
            {"role": "assistant", "content": first.output_text},
            {"role": "user", "content": words("b", 5)},
        ],
    )
    raw = await oai.responses.with_raw_response.create(
        model=MODEL, instructions=SYSTEM, previous_response_id=first.id, input=words("c", 5)
    )
    continued = raw.parse()

    assert first.usage is not None and first.usage.input_tokens_details.cached_tokens == 0
    assert resent.usage is not None and resent.usage.input_tokens_details.cached_tokens == 1280
    # The continuation's prompt: the first one's (1,300), its answer (16), then its own (1,105).
    assert continued.usage is not None and continued.usage.input_tokens == 2421
    assert continued.usage.input_tokens_details.cached_tokens == 1280
    assert float(raw.headers["x-mock-ttft-ms"]) == pytest.approx(
        warm_ttft_ms(1280, 2421), abs=0.001
    )
    # A continuation of the continuation finds its whole prompt cached.
    again = await oai.responses.create(
        model=MODEL, instructions=SYSTEM, previous_response_id=continued.id, input="more"
    )
    assert again.usage is not None
    assert again.usage.input_tokens_details.cached_tokens == 2304  # 2,421 in 128-token blocks


@pytest.mark.asyncio
async def test_messages_report_cache_reads_outside_their_input_tokens(cloud: MockCloud) -> None:
    client = AsyncAnthropic(
        base_url=cloud.regions["us-east"].anthropic_base_url,
        api_key="sk-ant-any",
        max_retries=0,
        _strict_response_validation=True,
        http_client=anthropic.DefaultAsyncHttpxClient(verify=False),
    )
    async with client:
        first = await client.messages.create(
            model=CLAUDE,
            max_tokens=64,
            system=SYSTEM,
            messages=[{"role": "user", "content": QUESTION}],
        )
        async with client.messages.stream(
            model=CLAUDE,
            max_tokens=64,
            system=SYSTEM,
            messages=[
                {"role": "user", "content": QUESTION},
                {"role": "assistant", "content": ANSWER},
                {"role": "user", "content": words("b", 5)},
            ],
        ) as stream:
            second = await stream.get_final_message()

    assert (first.usage.input_tokens, first.usage.cache_read_input_tokens) == (1300, 0)
    assert (second.usage.input_tokens, second.usage.cache_read_input_tokens) == (1321 - 1280, 1280)


# --- settings, control, bounds -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_turning_the_cache_off_forgets_it_and_stops_saying_the_ttft(
    cloud: MockCloud, http: aiohttp.ClientSession, oai: AsyncOpenAI
) -> None:
    await chat(oai, first_turn())
    assert (await patch_region(http, cloud, "us-east", prompt_cache=False)).status == 200
    raw = await oai.chat.completions.with_raw_response.create(model=MODEL, messages=second_turn())
    assert cached(raw.parse()) == 0 and "x-mock-ttft-ms" not in raw.headers

    assert (await patch_region(http, cloud, "us-east", prompt_cache=True)).status == 200
    back, ttft_ms = await chat(oai, second_turn())
    assert cached(back) == 0 and ttft_ms == TTFT_MS  # what it held went with it


@pytest.mark.asyncio
async def test_reset_zeroes_the_counters_but_keeps_what_is_cached(
    cloud: MockCloud, http: aiohttp.ClientSession, oai: AsyncOpenAI
) -> None:
    await chat(oai, first_turn())
    await chat(oai, first_turn())
    async with http.post(f"{cloud.control_url}/control/reset") as response:
        assert response.status == 204
    assert (await stats(http, cloud, "us-east"))["prompt_cache_hits"] == 0
    after, _ = await chat(oai, second_turn())
    assert cached(after) == 1280


@pytest.mark.asyncio
async def test_settings_are_validated_and_patched_through_the_control_api(
    cloud: MockCloud, http: aiohttp.ClientSession, oai: AsyncOpenAI
) -> None:
    bad = {
        "prompt_cache": "yes",
        "prompt_cache_ttl_s": -1,
        "prompt_cache_min_tokens": 1.5,
        "prompt_cache_entries": -3,
        "prompt_cache_ttft_saving": 2,
    }
    async with http.patch(f"{cloud.control_url}/control/regions/us-east", json=bad) as response:
        assert response.status == 400
        message = (await response.json())["error"]["message"]
    for field in bad:
        assert f"{field}:" in message
    with pytest.raises(SettingsError, match="prompt_cache_ttft_saving"):
        RegionSettings(name="r", prompt_cache_ttft_saving=-0.1)

    patch = {"prompt_cache_min_tokens": 128, "prompt_cache_ttft_saving": 0.5}
    assert (await patch_region(http, cloud, "us-east", **patch)).status == 200
    short = words("s", 200)
    await chat(oai, first_turn(short))
    warm, ttft_ms = await chat(oai, second_turn(short))
    assert cached(warm) == 384  # the first turn's 400 tokens
    assert ttft_ms == pytest.approx(TTFT_MS * (1 - 0.5 * 384 / 421), abs=0.001)


def test_at_most_the_configured_prefixes_are_kept_least_recently_seen_out() -> None:
    settings = RegionSettings(name="r", prompt_cache_entries=4, prompt_cache_min_tokens=0)
    cache = PromptCache(lambda: 0.0)
    head = prompt_head("chat", MODEL)

    def prompt(*texts: str) -> list[tuple[bytes, int]]:
        return prefixes(head, [{"content": t} for t in texts], [128] * len(texts))

    cache.serve(settings, prompt("a", "b"))
    cache.serve(settings, prompt("c", "d"))
    assert len(cache) == 4
    cache.serve(settings, prompt("a"))  # "a" seen again: now the most recent
    cache.serve(settings, prompt("e"))  # past four: the least recently seen, ["a", "b"], goes
    assert len(cache) == 4
    assert cache.serve(settings, prompt("a", "b")) == 128  # ["a"] was kept
    assert cache.serve(settings, prompt("c")) == 0  # the least recent when ["a", "b"] came back


def test_prefixes_ignore_key_order_and_chain_every_element_before() -> None:
    head = prompt_head("chat", MODEL)
    one = prefixes(head, [{"role": "user", "content": "x"}, {"b": 1, "a": 2}], [1, 2])
    two = prefixes(head, [{"content": "x", "role": "user"}, {"a": 2, "b": 1}], [1, 2])
    assert one == two and [tokens for _, tokens in one] == [1, 3]
    swapped = prefixes(head, [{"a": 2, "b": 1}, {"role": "user", "content": "x"}], [2, 1])
    assert swapped[1][0] != one[1][0]
    assert prefixes(prompt_head("chat", "gpt-4o"), [{"role": "user", "content": "x"}], [1]) != [
        one[0]
    ]


@pytest.mark.asyncio
async def test_what_is_nested_too_deeply_to_digest_is_not_cached(oai: AsyncOpenAI) -> None:
    deep: Any = "x"
    for _ in range(300):  # orjson writes 254 levels at most
        deep = [deep]
    messages: Any = [*first_turn(), {"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    messages[-1]["content"][0]["extra"] = deep
    await chat(oai, messages)
    again, _ = await chat(oai, messages)
    assert cached(again) == 1280  # up to the message before it

    tool = {"type": "function", "function": {"name": "f", "parameters": {"deep": deep}}}
    for _ in range(2):
        raw = await oai.chat.completions.with_raw_response.create(
            model=MODEL, messages=first_turn(), tools=[tool]
        )
        assert cached(raw.parse()) == 0  # tools that cannot be written: nothing is cached


def test_cached_tokens_are_whole_blocks_over_the_minimum() -> None:
    settings = RegionSettings(name="r")
    assert [cached_tokens(n, settings) for n in (1023, 1024, 1151, 1152, 5000)] == [
        0,
        1024,
        1024,
        1152,
        4992,
    ]
    assert cached_tokens(300, dataclasses.replace(settings, prompt_cache_min_tokens=0)) == 256
