"""Issue 21's conversation scenario over a real network: two regions at the same distance from the
PoP, each packet on both links delayed up to 8 ms more at random (jitter), so which region looks
nearer changes from one probe to the next. A conversation's later turns stay on the region that
answered its first (the prompt cache is there: routing.affinity), while first turns are still
spread over both. The control run, with affinity off, shows the jitter does move turns between
regions: without it the first assertion would hold by accident."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.network.network_stack import API_KEY, one_pop, until_ready

REGIONS = {"us-east": 10.0, "eu-west": 10.0}  # one way, ms
JITTER_MS = 8.0
CONVERSATIONS, TURNS = 12, 4


async def _turn(
    http: aiohttp.ClientSession, url: str, messages: list[dict[str, str]]
) -> tuple[str, str]:
    """One turn of a conversation: the region that answered and the answer's text."""
    body = {"model": "gpt-4o-mini", "messages": messages, "max_tokens": 8}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with http.post(f"{url}/v1/chat/completions", json=body, headers=headers) as answer:
        assert answer.status == 200, await answer.text()
        reply: dict[str, Any] = await answer.json()
        return answer.headers["x-router-endpoint"], reply["choices"][0]["message"]["content"]


async def _conversation(http: aiohttp.ClientSession, url: str, number: int) -> list[str]:
    """The regions that answered each turn of one conversation, turn after turn."""
    messages = [{"role": "user", "content": f"Conversation {number}: where do we start?"}]
    regions = []
    for turn in range(TURNS):
        region, text = await _turn(http, url, messages)
        regions.append(region)
        messages += [
            {"role": "assistant", "content": text},
            {"role": "user", "content": f"And then, after step {turn + 1}?"},
        ]
        await asyncio.sleep(0.3)  # a probe round or so between turns: the ranking moves
    return regions


async def _conversations(directory: Path, affinity: bool) -> list[list[str]]:
    routing = {"default_objective": "latency", "affinity": {"enabled": affinity}}
    directory.mkdir()  # noqa: ASYNC240 (before any task runs)
    with one_pop(REGIONS, directory, routing=routing) as (bed, url):
        for region in REGIONS:
            bed.shape("pop", region, delay_ms=REGIONS[region], jitter_ms=JITTER_MS)
        async with aiohttp.ClientSession() as http:
            await until_ready(http, url)
            await asyncio.sleep(1.0)  # both regions probed under jitter
            runs = [_conversation(http, url, n) for n in range(CONVERSATIONS)]
            return await asyncio.gather(*runs)


@pytest.mark.asyncio
async def test_conversations_stay_on_their_region_while_jitter_reorders_the_regions(
    tmp_path: Path,
) -> None:
    held = await _conversations(tmp_path / "held", affinity=True)
    free = await _conversations(tmp_path / "free", affinity=False)
    print("affinity on:", held, "affinity off:", free, sep="\n")
    assert all(len(set(regions)) == 1 for regions in held), held
    assert {regions[0] for regions in held} == set(REGIONS), held  # first turns spread
    assert any(len(set(regions)) > 1 for regions in free), free  # the jitter moves turns
