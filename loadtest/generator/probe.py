"""Closed-loop probes: prepared requests sent `count` times by `concurrency` callers, each caller
sending its next request when its last answer has been read to its last byte, every answer timed
and judged. Studies that time one answer at a time (the answer cache's hits,
`loadtest/studies/cache_hits.py`) use this rather than a client of their own, so the suite sends
load through one HTTP client: the generator's aiohttp session (`run.open_session`), whose settings
(keep-alive pool, default headers, timeout, no cookies) are the load's.

aiohttp's client costs about 150 µs of CPU per request, of the order of what an answer served from
a cache costs the router; a study reads a probe's latency against the same probe sent to the
simulated cloud directly in the same run (target minus direct at the same percentile, as the
suite's lineups do), never as an absolute floor.

A request is timed from just before the session is asked to send it to the answer's last byte
read; the answer is kept whole (status, headers, body) for the caller's judge and then dropped, so
a long series holds no bodies. A failure is labelled as the generator labels one: `http_<status>`
by the default judge, the exception's class when no answer came.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from time import monotonic

import aiohttp
from multidict import CIMultiDictProxy

from loadtest.generator.run import open_session
from loadtest.generator.settings import LoadSettings

__all__ = [
    "Answer",
    "Judge",
    "Prepared",
    "ProbeResult",
    "closed_loop",
    "exchange",
    "probe_session",
    "status_ok",
]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request built once and sent as is: a POST of `body` to `url`, with `headers` on top of
    the session's own (its key and content type)."""

    url: str
    body: bytes
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    latency_s: float  # from the send to the answer's last byte


# Why an answer is not the one expected (a short label, counted), or None when it is.
Judge = Callable[[Answer], str | None]


def status_ok(answer: Answer) -> str | None:
    """The default judge: any 200 is right; another status is `http_<status>`."""
    return None if answer.status == 200 else f"http_{answer.status}"


@dataclass
class ProbeResult:
    """A series' answers: the latency of each one judged right, in the order they ended, the
    others counted by what was wrong, and the series' wall time."""

    latencies_s: list[float] = field(default_factory=list)
    problems: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0

    @property
    def sent(self) -> int:
        return len(self.latencies_s) + sum(self.problems.values())


def probe_session(api_key: str, concurrency: int, timeout_s: float = 30.0) -> aiohttp.ClientSession:
    """The generator's session (`run.open_session`) for `concurrency` callers: `Authorization:
    Bearer api_key` and a JSON content type on every request, at most `concurrency` keep-alive
    connections, `timeout_s` per request. It has no base URL: a prepared request has its own."""
    settings = LoadSettings(
        base_url="",
        api_key=api_key,
        max_connections=concurrency,
        request_timeout_s=timeout_s,
    )
    return open_session(settings)


async def exchange(session: aiohttp.ClientSession, request: Prepared) -> Answer:
    """One request, timed to the answer's last byte; raises what the session raised."""
    started = monotonic()
    async with session.post(request.url, data=request.body, headers=request.headers) as response:
        body = await response.read()
        latency_s = monotonic() - started
        return Answer(response.status, response.headers, body, latency_s)


async def closed_loop(
    session: aiohttp.ClientSession,
    requests: Sequence[Prepared],
    count: int,
    concurrency: int,
    judge: Judge = status_ok,
) -> ProbeResult:
    """`count` requests by `concurrency` callers, `requests` sent in turn, round and round: request
    i is `requests[i % len(requests)]`. Every request is sent, whatever the ones before it got."""
    if not requests or count < 0 or concurrency < 1:
        raise ValueError("a probe needs requests, a count >= 0 and a concurrency >= 1")
    result = ProbeResult()
    numbers = iter(range(count))

    async def caller() -> None:
        for number in numbers:
            try:
                answer = await exchange(session, requests[number % len(requests)])
            except Exception as exc:  # any failure is a counted problem, labelled by its type
                result.problems[type(exc).__name__] += 1
                continue
            problem = judge(answer)
            if problem is None:
                result.latencies_s.append(answer.latency_s)
            else:
                result.problems[problem] += 1

    started = monotonic()
    await asyncio.gather(*(caller() for _ in range(min(concurrency, max(count, 1)))))
    result.wall_s = monotonic() - started
    return result
