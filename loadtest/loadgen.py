"""Open-loop load generator for OpenAI-compatible chat endpoints.

Request i is scheduled at t0 + i / rate whatever happened to the requests before it, and its latency
is measured from that *scheduled* time. A slow target, or a generator that falls behind, therefore
shows up as latency rather than as a quietly lower offered rate (no coordinated omission). How late
the generator itself was in starting each request is reported as `send_lag`, so an overloaded
generator is visible next to the numbers it produced.

The hot path is kept small because the generator shares a core with other processes: the body bytes,
URL and headers are built once, every request reuses one keep-alive `ClientSession`, results go into
preallocated lists indexed by request number, and stream chunks are only parsed until the first
content token has been seen. Send times come from a Linux timerfd rather than loop timers, whose
millisecond resolution made the generator up to 0.5 ms late at 1000 req/s, or spin on one core.
Profiled at 2500 req/s, most of the generator's CPU is the kernel's loopback TCP send path, not
Python.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import math
import os
import resource
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from time import monotonic
from typing import Final, Literal, Protocol, get_args

import aiohttp
import orjson
import yarl

RequestKind = Literal["chat-json", "chat-stream"]
REQUEST_KINDS: Final[tuple[str, ...]] = get_args(RequestKind)

# Outcome labels. Errors are labelled `http_<status>`, the exception's class name, or these.
OUTCOME_OK: Final = "ok"
OUTCOME_UNFINISHED: Final = "unfinished"
OUTCOME_NO_CONTENT: Final = "stream_without_content"
OUTCOME_TRUNCATED: Final = "stream_without_done"
_PENDING: Final = ""

# The first request is scheduled this long after the session exists, so set-up is not counted.
_START_DELAY_S: Final = 0.05


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """One open-loop run against one target."""

    base_url: str
    kind: RequestKind = "chat-json"
    rate_per_s: float = 100.0
    duration_s: float = 10.0
    warmup_s: float = 2.0
    model: str = "gpt-4o-mini"
    api_key: str = "sk-loadtest"
    max_tokens: int = 16
    request_timeout_s: float = 30.0
    drain_timeout_s: float = 5.0
    max_connections: int = 1000

    def __post_init__(self) -> None:
        problems = []
        if self.kind not in REQUEST_KINDS:
            problems.append(f"kind must be one of {REQUEST_KINDS}, not {self.kind!r}")
        if not self.rate_per_s > 0:
            problems.append("rate_per_s must be > 0")
        if not self.duration_s > 0:
            problems.append("duration_s must be > 0")
        if self.warmup_s < 0:
            problems.append("warmup_s must be >= 0")
        if self.request_timeout_s <= 0 or self.drain_timeout_s < 0:
            problems.append("request_timeout_s must be > 0 and drain_timeout_s >= 0")
        if self.max_connections < 1:
            problems.append("max_connections must be >= 1")
        if problems:
            raise ValueError("; ".join(problems))


def request_count(rate_per_s: float, span_s: float) -> int:
    """How many requests fall in [0, span_s) when request i is at i / rate_per_s."""
    # Rounding first keeps 0.3 s * 10/s at 3 requests rather than ceil(3.0000000000000004) = 4.
    return max(0, math.ceil(round(span_s * rate_per_s, 9)))


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """The schedule: request i is sent at t0 + i / rate_per_s; the first `warmup_requests` are
    sent but left out of the statistics."""

    rate_per_s: float
    total_requests: int
    warmup_requests: int

    @classmethod
    def from_settings(cls, settings: LoadSettings) -> LoadPlan:
        return cls(
            rate_per_s=settings.rate_per_s,
            total_requests=request_count(
                settings.rate_per_s, settings.warmup_s + settings.duration_s
            ),
            warmup_requests=request_count(settings.rate_per_s, settings.warmup_s),
        )

    def scheduled_at(self, t0: float, index: int) -> float:
        return t0 + index / self.rate_per_s

    def offsets_s(self) -> list[float]:
        return [self.scheduled_at(0.0, i) for i in range(self.total_requests)]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, interpolating linearly between the
    two nearest ranks (numpy's default method)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0..100, not {q}")
    position = (len(sorted_values) - 1) * q / 100.0
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    fraction = position - lower
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * fraction


@dataclass(frozen=True, slots=True)
class LatencySummary:
    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p99_9_ms: float
    max_ms: float
    mean_ms: float

    @classmethod
    def of_seconds(cls, values_s: Sequence[float]) -> LatencySummary | None:
        if not values_s:
            return None
        ordered = sorted(values_s)
        return cls(
            count=len(ordered),
            p50_ms=percentile(ordered, 50.0) * 1e3,
            p90_ms=percentile(ordered, 90.0) * 1e3,
            p99_ms=percentile(ordered, 99.0) * 1e3,
            p99_9_ms=percentile(ordered, 99.9) * 1e3,
            max_ms=ordered[-1] * 1e3,
            mean_ms=math.fsum(ordered) / len(ordered) * 1e3,
        )


@dataclass(frozen=True, slots=True)
class LoadResult:
    """Statistics over the measured (post warm-up) requests of one run.

    `latency` is the total time of successful requests and `ttft` (streams only) the time to the
    first content chunk, both from the scheduled send time. `send_lag` is how late the generator
    started each request; `latency_from_send` and `ttft_from_send` leave it out (the target's
    service time alone, open to coordinated omission if the generator is what lags, but free of
    the generator's millisecond timer granularity). `sent_rate_per_s` is the rate actually achieved
    in starting requests and `ok_rate_per_s` the successful completions per second of the measured
    window.
    """

    url: str
    kind: str
    offered_rate_per_s: float
    duration_s: float
    warmup_s: float
    timer: str
    requests: int
    ok: int
    errors: int
    errors_by_kind: dict[str, int]
    sent_rate_per_s: float
    ok_rate_per_s: float
    latency: LatencySummary | None
    ttft: LatencySummary | None
    send_lag: LatencySummary | None
    latency_from_send: LatencySummary | None
    ttft_from_send: LatencySummary | None

    def to_json_dict(self) -> dict[str, object]:
        return asdict(self)


class SseContentDetector:
    """Says when an SSE byte stream has delivered its first `data:` event with non-empty
    `choices[].delta.content`. Chunks may split lines anywhere; only whole lines are parsed."""

    __slots__ = ("_buffer", "found")

    def __init__(self) -> None:
        self._buffer = b""
        self.found = False

    def feed(self, chunk: bytes) -> bool:
        if self.found:
            return True
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if _is_content_event(line):
                self.found = True
                self._buffer = b""
                return True
        return False


def _is_content_event(line: bytes) -> bool:
    if not line.startswith(b"data:") or b'"content"' not in line:
        return False
    try:
        event = orjson.loads(line[5:].strip())
    except orjson.JSONDecodeError:
        return False
    choices = event.get("choices") if isinstance(event, dict) else None
    if not isinstance(choices, list):
        return False
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(content, str) and content:
            return True
    return False


class Sleeper(Protocol):
    """Waits until a `time.monotonic()` deadline, never returning before it."""

    name: str

    async def sleep_until(self, deadline: float) -> None: ...

    def close(self) -> None: ...


class LoopSleeper:
    """The event loop's own timers: portable, but uvloop rounds delays to the nearest millisecond,
    so the generator is up to 0.5 ms late, or wakes early and spins (sub-ms gaps round to 0)."""

    name = "loop"

    async def sleep_until(self, deadline: float) -> None:
        for _ in range(1000):  # bounded; each early wake leaves less than half a millisecond
            remaining = deadline - monotonic()
            if remaining <= 0:
                return
            await asyncio.sleep(remaining)

    def close(self) -> None:
        pass


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


_CLOCK_MONOTONIC: Final = 1
_TFD_TIMER_ABSTIME: Final = 1


class TimerFdSleeper:
    """A Linux timerfd on CLOCK_MONOTONIC (the clock behind `time.monotonic`) watched by the
    event loop: it wakes the loop at a nanosecond deadline, where loop timers and epoll's own
    timeout only have millisecond resolution. Measured on the bench VM: 0.04-0.1 ms late at p50,
    against up to 0.5 ms late (or spinning) with uvloop timers."""

    name = "timerfd"

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        create = libc.timerfd_create
        create.argtypes = (ctypes.c_int, ctypes.c_int)
        create.restype = ctypes.c_int
        self._settime = libc.timerfd_settime
        self._settime.argtypes = (
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.c_void_p,
        )
        self._settime.restype = ctypes.c_int
        fd = int(create(_CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC))
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._fd = fd
        self._spec = _Itimerspec()
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None
        loop.add_reader(fd, self._fired)

    def _fired(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            return
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def sleep_until(self, deadline: float) -> None:
        seconds, nanoseconds = divmod(max(1, int(deadline * 1e9)), 1_000_000_000)
        self._spec.it_value.tv_sec = seconds
        self._spec.it_value.tv_nsec = nanoseconds
        if self._settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        self._waiter = self._loop.create_future()
        await self._waiter

    def close(self) -> None:
        self._loop.remove_reader(self._fd)
        os.close(self._fd)


def open_sleeper() -> Sleeper:
    """The most precise sleeper this platform offers, for the running loop."""
    loop = asyncio.get_running_loop()
    try:
        return TimerFdSleeper(loop)
    except (AttributeError, OSError, NotImplementedError):
        return LoopSleeper()


def request_body(settings: LoadSettings) -> bytes:
    body: dict[str, object] = {
        "model": settings.model,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": settings.max_tokens,
    }
    if settings.kind == "chat-stream":
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)


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
                await response.read()
                status = response.status
        except Exception as exc:  # any failure is a counted error, labelled by its type
            self.outcome[index] = type(exc).__name__
            return
        if status == 200:
            self.latency_s[index] = monotonic() - scheduled
            self.outcome[index] = OUTCOME_OK
        else:
            self.outcome[index] = f"http_{status}"

    async def _chat_stream(self, index: int, scheduled: float) -> None:
        self.send_lag_s[index] = monotonic() - scheduled
        detector = SseContentDetector()
        ttft = math.nan
        tail = b""
        try:
            async with self.session.post(self.url, data=self.body) as response:
                if response.status != 200:
                    await response.read()
                    self.outcome[index] = f"http_{response.status}"
                    return
                async for chunk in response.content.iter_any():
                    if not detector.found and detector.feed(chunk):
                        ttft = monotonic() - scheduled
                    tail = (tail + chunk)[-64:]
        except Exception as exc:  # any failure is a counted error, labelled by its type
            self.outcome[index] = type(exc).__name__
            return
        done = monotonic()
        if math.isnan(ttft):
            self.outcome[index] = OUTCOME_NO_CONTENT
        elif b"[DONE]" not in tail:
            self.outcome[index] = OUTCOME_TRUNCATED
        else:
            self.ttft_s[index] = ttft
            self.latency_s[index] = done - scheduled
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
    sleeper = open_sleeper()
    try:
        async with open_session(settings) as session:
            run = _Run(settings, session, sleeper)
            await run.send_all()
            await run.drain()
            return run.result()
    finally:
        sleeper.close()


def _parse_args(argv: Sequence[str] | None) -> LoadSettings:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.loadgen",
        description="Open-loop load generator for an OpenAI-compatible /chat/completions endpoint; "
        "prints the result as JSON.",
    )
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--kind", choices=REQUEST_KINDS, default="chat-json")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds excluded from stats")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--api-key", default="sk-loadtest")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, s")
    parser.add_argument(
        "--drain-timeout", type=float, default=5.0, help="wait for stragglers at the end, s"
    )
    parser.add_argument("--connections", type=int, default=1000, help="connection pool limit")
    args = parser.parse_args(argv)
    try:
        return LoadSettings(
            base_url=args.url,
            kind=args.kind,
            rate_per_s=args.rate,
            duration_s=args.duration,
            warmup_s=args.warmup,
            model=args.model,
            api_key=args.api_key,
            max_tokens=args.max_tokens,
            request_timeout_s=args.timeout,
            drain_timeout_s=args.drain_timeout,
            max_connections=args.connections,
        )
    except ValueError as exc:
        parser.error(str(exc))


def _raise_open_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: Sequence[str] | None = None) -> int:
    import uvloop

    settings = _parse_args(argv)
    _raise_open_file_limit()
    # Objects alive at start never need scanning again; keeps collector pauses out of the numbers.
    gc.freeze()
    result = uvloop.run(run_load(settings))
    sys.stdout.buffer.write(orjson.dumps(result.to_json_dict(), option=orjson.OPT_INDENT_2))
    sys.stdout.buffer.write(b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
