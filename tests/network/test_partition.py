"""Issue 21's partition scenario over a real network: under load, the link between a PoP and its
nearest region is cut (every packet dropped, both ways, the TCP connections left open, as a
real partition leaves them), then healed. Asserted: no request fails; one sent into the cut fails
over to the other region after the first-byte timeout (so no request waits for two timeouts);
while the cut lasts, the other region answers; after healing, the nearest region answers again."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from loadtest.network.testbed import TestBed
from tests.network.network_stack import (
    chat,
    one_pop,
    until_ready,
)

REGIONS = {"us-east": 5.0, "eu-west": 20.0}
FIRST_BYTE_TIMEOUT_S = 1.0
RATE_PER_S = 10.0
CUT_AT_S, HEAL_AT_S, END_S = 3.0, 7.0, 16.0
# After the cut, what a request may take: one attempt timed out, then the other region's answer.
LONGEST_S = 2 * FIRST_BYTE_TIMEOUT_S + 1.0


@dataclass(frozen=True)
class Sent:
    at_s: float
    status: int
    endpoint: str
    took_s: float


async def _load(http: aiohttp.ClientSession, url: str, bed: TestBed) -> list[Sent]:
    started = time.monotonic()
    sent: list[Sent] = []

    async def one(at_s: float) -> None:
        t = time.monotonic()
        status, endpoint = await chat(http, url)
        sent.append(Sent(at_s, status, endpoint, time.monotonic() - t))

    async def cut_and_heal() -> None:
        await asyncio.sleep(CUT_AT_S)
        bed.partition("pop", "us-east")
        await asyncio.sleep(HEAL_AT_S - CUT_AT_S)
        bed.heal("pop", "us-east")

    tasks = [asyncio.create_task(cut_and_heal())]
    for i in range(int(END_S * RATE_PER_S)):
        await asyncio.sleep(max(0.0, started + i / RATE_PER_S - time.monotonic()))
        tasks.append(asyncio.create_task(one(time.monotonic() - started)))
    await asyncio.gather(*tasks)
    return sorted(sent, key=lambda s: s.at_s)


@pytest.mark.asyncio
async def test_a_cut_to_the_nearest_region_fails_over_loses_nothing_and_heals(
    tmp_path: Path,
) -> None:
    sections = {
        "routing": {"default_objective": "latency", "connect_timeout_s": 0.5,
                    "first_byte_timeout_s": FIRST_BYTE_TIMEOUT_S, "deadline_s": 10},
        "health": {"probe_interval_s": 0.2, "probe_timeout_s": 0.5, "base_ejection_s": 2.0},
    }  # fmt: skip
    with one_pop(REGIONS, tmp_path, **sections) as (bed, url):
        async with aiohttp.ClientSession() as http:
            await until_ready(http, url)
            await asyncio.sleep(1.0)  # a few probe rounds: both regions measured
            sent = await _load(http, url, bed)
    for s in sent:
        print(f"{s.at_s:6.2f} {s.status} {s.endpoint:8} {s.took_s * 1000:7.1f} ms")
    assert [s.status for s in sent] == [200] * len(sent)
    assert max(s.took_s for s in sent) <= LONGEST_S
    before = [s.endpoint for s in sent if s.at_s < CUT_AT_S]
    during = [s.endpoint for s in sent if CUT_AT_S + LONGEST_S <= s.at_s < HEAL_AT_S]
    after = [s.endpoint for s in sent if s.at_s >= END_S - 3.0]
    assert before.count("us-east") > len(before) / 2, before
    assert during and set(during) == {"eu-west"}, during
    assert "us-east" in after, after
