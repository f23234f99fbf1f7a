"""One open-loop run: sends every request of the schedule at its time, records each result in
its slot, drains the stragglers and summarises the measured window.

The hot path is kept small because the generator shares a core with other processes: the body bytes,
URL and headers are built once, every request reuses one keep-alive `ClientSession`, results go into
preallocated lists indexed by request number, and a stream's content tokens are timed by a regular
expression over its whole lines (`StreamTokenClock`), never decoded. Profiled at 2500 req/s, most
of the generator's CPU is the kernel's loopback TCP send path, not Python.

The result has the standard metrics of LLM serving benchmarks (vLLM's `bench serve`, NVIDIA's
AIPerf): end-to-end latency, time to first token (TTFT), time per output token after the first
(TPOT, per request), the inter-token latency of every gap (ITL), output tokens per second (the
usage the answer reports, else its content tokens), and goodput: the requests per second that met
every SLO the run states.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import Counter
from dataclasses import dataclass
from time import monotonic
from typing import Final

import aiohttp
import yarl

from loadtest.generator.requests import (
    OUTCOME_NO_CONTENT,
    OUTCOME_OK,
    OUTCOME_STREAM_ERROR,
    OUTCOME_TRUNCATED,
    OUTCOME_UNFINISHED,
    StreamTokenClock,
    completion_tokens_in,
    request_body,
)
from loadtest.generator.schedule import LoadPlan
from loadtest.generator.settings import LoadSettings
from loadtest.generator.stats import LatencySummary, LoadResult
from loadtest.generator.timer import Sleeper, open_sleeper

_PENDING: Final = ""
# The end of a stream kept to judge how it ended: `[DONE]`, or an error event (up to its code).
_TAIL_BYTES: Final = 512

# The first request is scheduled this long after the session exists, so set-up is not counted.
_START_DELAY_S: Final = 0.05


class _Run:
    """The state of one run: the session, the prebuilt request and per-request result slots."""

    def __init__(
        self, settings: LoadSettings, session: aiohttp.ClientSession, sleeper: Sleeper
    ) -> None:
        self.settings = settings
        self.sleeper = sleeper
        self.plan = LoadPlan.from_settings(settings)
        self.session = session
        self.url = yarl.URL(settings.base_url.rstrip("/") + "/chat/completions")
        self.body = request_body(settings)
        total = self.plan.total_requests
        self.send_lag_s = [math.nan] * total
        self.latency_s = [math.nan] * total
        self.ttft_s = [math.nan] * total
        # A stream's content tokens' arrival times, and the output tokens of every answer.
        self.token_times: list[list[float] | None] = [None] * total
        self.output_tokens = [0] * total
        self.outcome = [_PENDING] * total
        self.in_flight: set[asyncio.Task[None]] = set()

    async def send_all(self) -> None:
        plan = self.plan
        request = self._chat_stream if self.settings.kind == "chat-stream" else self._chat_json
        in_flight = self.in_flight
        t0 = monotonic() + _START_DELAY_S
        index = 0
        while index < plan.total_requests:
            now = monotonic()
            due = plan.scheduled_at(t0, index)
            if due > now:
                await self.sleeper.sleep_until(due)
                continue
            while index < plan.total_requests and due <= now:
                task = asyncio.create_task(request(index, due))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                index += 1
                due = plan.scheduled_at(t0, index)

    async def drain(self) -> None:
        if self.in_flight:
            await asyncio.wait(self.in_flight, timeout=self.settings.drain_timeout_s)
        leftovers = list(self.in_flight)
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    async def _chat_json(self, index: int, scheduled: float) -> None:
        self.send_lag_s[index] = monotonic() - scheduled
        try:
            async with self.session.post(self.url, data=self.body) as response:
                body = await response.read()
                status = response.status
        except Exception as exc:  # any failure is a counted error, labelled by its type
            self.outcome[index] = type(exc).__name__
            return
        if status == 200:
            self.latency_s[index] = monotonic() - scheduled
            self.output_tokens[index] = completion_tokens_in(body) or 0
            self.outcome[index] = OUTCOME_OK
        else:
            self.outcome[index] = f"http_{status}"

    async def _chat_stream(self, index: int, scheduled: float) -> None:
        self.send_lag_s[index] = monotonic() - scheduled
        clock = StreamTokenClock()
        tail = b""
        try:
            async with self.session.post(self.url, data=self.body) as response:
                if response.status != 200:
                    await response.read()
                    self.outcome[index] = f"http_{response.status}"
                    return
                async for chunk in response.content.iter_any():
                    clock.feed(chunk, monotonic())
                    tail = (tail + chunk)[-_TAIL_BYTES:]
        except Exception as exc:  # any failure is a counted error, labelled by its type
            self.outcome[index] = type(exc).__name__
            return
        done = monotonic()
        if b"[DONE]" not in tail and b'"error"' in tail:
            self.outcome[index] = OUTCOME_STREAM_ERROR
        elif not clock.times:
            self.outcome[index] = OUTCOME_NO_CONTENT
        elif b"[DONE]" not in tail:
            self.outcome[index] = OUTCOME_TRUNCATED
        else:
            self.ttft_s[index] = clock.times[0] - scheduled
            self.latency_s[index] = done - scheduled
            self.token_times[index] = clock.times
            reported = clock.completion_tokens
            self.output_tokens[index] = clock.tokens if reported is None else reported
            self.outcome[index] = OUTCOME_OK

    def result(self) -> LoadResult:
        settings = self.settings
        first = self.plan.warmup_requests
        measured = range(first, self.plan.total_requests)
        outcomes = Counter(self.outcome[i] or OUTCOME_UNFINISHED for i in measured)
        outcomes.pop(OUTCOME_OK, None)
        ok = [i for i in measured if self.outcome[i] == OUTCOME_OK]
        streaming = settings.kind == "chat-stream"
        lags = [self.send_lag_s[i] for i in measured if not math.isnan(self.send_lag_s[i])]
        tpot_s = {i: _tpot_s(self.token_times[i]) for i in ok}
        gaps_s = [gap for i in ok for gap in _gaps_s(self.token_times[i])]
        good = sum(1 for i in ok if self._meets_slos(i, tpot_s[i]))
        return LoadResult(
            url=str(self.url),
            kind=settings.kind,
            offered_rate_per_s=settings.rate_per_s,
            duration_s=settings.duration_s,
            warmup_s=settings.warmup_s,
            timer=self.sleeper.name,
            requests=len(measured),
            ok=len(ok),
            errors=sum(outcomes.values()),
            errors_by_kind=dict(sorted(outcomes.items())),
            sent_rate_per_s=self._sent_rate(measured),
            ok_rate_per_s=len(ok) / settings.duration_s,
            latency=self._summary(self.latency_s, ok, from_send=False),
            ttft=self._summary(self.ttft_s, ok, from_send=False) if streaming else None,
            send_lag=LatencySummary.of_seconds(lags),
            latency_from_send=self._summary(self.latency_s, ok, from_send=True),
            ttft_from_send=self._summary(self.ttft_s, ok, from_send=True) if streaming else None,
            tpot=LatencySummary.of_seconds([t for t in tpot_s.values() if t is not None]),
            itl=LatencySummary.of_seconds(gaps_s),
            output_tokens_per_s=sum(self.output_tokens[i] for i in ok) / settings.duration_s,
            goodput_per_s=good / settings.duration_s,
            slo=_slos(settings),
        )

    def requests(self) -> list[RequestRecord]:
        """The measured requests, each: when it was due (seconds into the measured window), its
        latency and TTFT (ms, None when it failed or is not a stream) and its outcome."""
        first = self.plan.warmup_requests
        start = self.plan.scheduled_at(0.0, first)
        return [
            RequestRecord(
                due_s=self.plan.scheduled_at(0.0, i) - start,
                latency_ms=_ms(self.latency_s[i]),
                ttft_ms=_ms(self.ttft_s[i]),
                outcome=self.outcome[i] or OUTCOME_UNFINISHED,
            )
            for i in range(first, self.plan.total_requests)
        ]

    def _meets_slos(self, index: int, tpot_s: float | None) -> bool:
        """Whether a successful request met every SLO the run states (a stream of one token
        has no TPOT, and meets that one)."""
        settings = self.settings
        checks = (
            (settings.ttft_slo_ms, self.ttft_s[index]),
            (settings.tpot_slo_ms, tpot_s),
            (settings.latency_slo_ms, self.latency_s[index]),
        )
        return all(
            slo_ms is None or value is None or math.isnan(value) or value * 1e3 <= slo_ms
            for slo_ms, value in checks
        )

    def _summary(
        self, times_s: list[float], indices: list[int], *, from_send: bool
    ) -> LatencySummary | None:
        if from_send:
            return LatencySummary.of_seconds([times_s[i] - self.send_lag_s[i] for i in indices])
        return LatencySummary.of_seconds([times_s[i] for i in indices])

    def _sent_rate(self, measured: range) -> float:
        sent = [
            self.plan.scheduled_at(0.0, i) + self.send_lag_s[i]
            for i in measured
            if not math.isnan(self.send_lag_s[i])
        ]
        if len(sent) < 2 or max(sent) <= min(sent):
            return 0.0
        return (len(sent) - 1) / (max(sent) - min(sent))


@dataclass(frozen=True, slots=True)
class RequestRecord:
    due_s: float
    latency_ms: float | None
    ttft_ms: float | None
    outcome: str


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else seconds * 1e3


def _tpot_s(times: list[float] | None) -> float | None:
    """Time per output token after the first, of one stream (None under two tokens)."""
    if times is None or len(times) < 2:
        return None
    return (times[-1] - times[0]) / (len(times) - 1)


def _gaps_s(times: list[float] | None) -> list[float]:
    """The inter-token gaps of one stream (tokens of one read arrive together: gap 0)."""
    if times is None:
        return []
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def _slos(settings: LoadSettings) -> dict[str, float]:
    stated = {
        "ttft_ms": settings.ttft_slo_ms,
        "tpot_ms": settings.tpot_slo_ms,
        "latency_ms": settings.latency_slo_ms,
    }
    return {name: value for name, value in stated.items() if value is not None}


def open_session(settings: LoadSettings) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=settings.max_connections, limit_per_host=0, keepalive_timeout=30.0
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers={
            "Authorization": f"Bearer {settings.api_key}",
            "Content-Type": "application/json",
        },
        timeout=aiohttp.ClientTimeout(total=settings.request_timeout_s),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def run_load(settings: LoadSettings) -> LoadResult:
    """Run one open-loop load test and summarise the measured window."""
    result, _ = await run_load_detailed(settings)
    return result


async def run_load_detailed(settings: LoadSettings) -> tuple[LoadResult, list[RequestRecord]]:
    """`run_load`, and every measured request's own record (for plots over time)."""
    sleeper = open_sleeper()
    try:
        async with open_session(settings) as session:
            run = _Run(settings, session, sleeper)
            await run.send_all()
            await run.drain()
            return run.result(), run.requests()
    finally:
        sleeper.close()
