"""One run: sends every request of the workload, records each result in its slot, drains the
stragglers (`load` runs it and summarises the measured window). The open loop is here (`_Run`: each
request at its scheduled time, fixed or Poisson, whatever happened to the ones before it); a closed
loop's clients (`closed_loop`) send through the same requests into the same records.

The hot path is kept small because the generator shares a core with other processes: bodies,
URLs and headers are built before the run (`workload`), every request reuses one keep-alive
`ClientSession`, results go into preallocated lists indexed by request number (`slots`), and a
stream's content tokens are timed by regular expressions over its whole lines
(`stream_readers`), never decoded. A phase of one kind, one key and one body draws nothing per
request. Profiled at 2500 req/s, most of the generator's CPU is the kernel's loopback TCP send
path, not Python.

A request's outcome is `ok`, `http_<status>`, the exception's class, or a stream's own
(`stream_readers`). A stream whose connection broke after content had come (a cut mid-body) is
judged as what the client got, a stream without its end event (`stream_without_done`), whatever
the transport's exception: the same class for a cut connection as for a clean end without
`[DONE]`, in every API. A stream that stalls until its timeout keeps the timeout's class: a hang.

The result has the standard metrics of LLM serving benchmarks (vLLM's `bench serve`, NVIDIA's
AIPerf): end-to-end latency, time to first token (TTFT), time per output token after the first
(TPOT, per request), the inter-token latency of every gap (ITL), output tokens per second (the
usage the answer reports, else its content tokens), and goodput: the requests per second that met
every SLO the run states (`summary`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from time import monotonic
from typing import Any, Final

import aiohttp

from loadtest.generator.arrivals import schedule_for
from loadtest.generator.conversation import Dialogue, Held, TurnSlots
from loadtest.generator.questions import QuestionsExhausted
from loadtest.generator.requests import OUTCOME_OK
from loadtest.generator.schedule import LoadPlan
from loadtest.generator.settings import LoadSettings, api_of
from loadtest.generator.slots import RequestSlots
from loadtest.generator.timer import Sleeper
from loadtest.generator.workload import Drawn, Workload

# The first request is scheduled this long after the session exists, so set-up is not counted.
_START_DELAY_S: Final = 0.05
CACHE_HEADER: Final = "x-router-cache"

__all__ = ["open_session"]


class _Run:
    """The state of one run: the session, the workload, the open loop's schedule (a closed
    loop's clients are `closed_loop`'s) and per-request result slots."""

    def __init__(
        self, settings: LoadSettings, session: aiohttp.ClientSession, sleeper: Sleeper
    ) -> None:
        self.settings = settings
        self.sleeper = sleeper
        self.session = session
        self.workload = Workload(settings)
        self.plan = schedule_for(settings) if not settings.closed_loop else LoadPlan(1.0, 0, 0)
        if settings.cache is not None and not settings.closed_loop:
            self.workload.check_questions_for(self.plan.total_requests)
        self.url = self.workload.kinds[0].url
        self.slots = RequestSlots(0 if settings.closed_loop else self.plan.total_requests)
        slots = self.slots
        self.send_lag_s = slots.send_lag_s
        self.latency_s = slots.latency_s
        self.ttft_s = slots.ttft_s
        self.token_times = slots.token_times
        self.output_tokens = slots.output_tokens
        self.outcome = slots.outcome
        self.in_flight: set[asyncio.Task[object]] = set()
        # Requests sent (the schedule's, unless a cache mix ran out of questions) and where the
        # measured ones start.
        self.end = 0 if settings.closed_loop else self.plan.total_requests
        self.measured_from = 0 if settings.closed_loop else self.plan.warmup_requests
        self.notes: list[str] = []
        self.max_in_flight: int | None = None
        self._headers_each = not _one_bearer_key(settings)
        self._plain = self.workload.draw() if self.workload.plain else None
        self._dialogues: dict[int, Dialogue] = {}
        self._turn_slots = (
            TurnSlots.of(settings.conversation, settings.rate_per_s)
            if settings.conversation is not None
            else None
        )
        self._last_turn = settings.conversation.turns - 1 if settings.conversation else -1
        self._closing = False

    async def send_all(self) -> None:
        """The open loop: every request at its scheduled time (a closed loop's clients are
        `closed_loop.run_clients`)."""
        plan = self.plan
        total = plan.total_requests
        launch = self._launcher()
        t0 = monotonic() + _START_DELAY_S
        index = 0
        while index < total:
            now = monotonic()
            due = plan.scheduled_at(t0, index)
            if due > now:
                await self.sleeper.sleep_until(due)
                continue
            while due <= now:
                try:
                    launch(index, due)
                except QuestionsExhausted:
                    self._ran_out(index)
                    return
                index += 1
                if index >= total:
                    break
                due = plan.scheduled_at(t0, index)

    async def drain(self) -> None:
        """Waits for the requests still out (and a conversation's turns they release) up to the
        drain timeout, then cancels the rest: they are `unfinished`."""
        deadline = monotonic() + self.settings.drain_timeout_s
        while self.in_flight:
            remaining = deadline - monotonic()
            if remaining <= 0:
                break
            await asyncio.wait(set(self.in_flight), timeout=remaining)
        self._closing = True
        leftovers = list(self.in_flight)
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    # The launchers: how the send loop starts request `index`, due at `due`.

    def _launcher(self) -> Callable[[int, float], None]:
        slots = self.slots
        if self._turn_slots is not None:
            return self._launch_turn
        if self._plain is not None and self.settings.kind in ("chat-json", "chat-stream"):
            request = self._chat_stream if self.settings.kind == "chat-stream" else self._chat_json

            def launch_plain(index: int, due: float) -> None:
                slots.due_at[index] = due
                self._start(request(index, due))

            return launch_plain

        def launch(index: int, due: float) -> None:
            drawn = self.workload.draw()
            self._record_draw(index, drawn)
            slots.due_at[index] = due
            assert drawn.body is not None
            self._start(self._send(index, due, drawn, drawn.body))

        return launch

    def _launch_turn(self, index: int, slot_due: float) -> None:
        assert self._turn_slots is not None
        conversation, turn = self._turn_slots.turn_of(index)
        drawn = self.workload.draw()
        dialogue = self._dialogues.setdefault(conversation, Dialogue())
        if turn == 0 or dialogue.first is None:
            dialogue.first = drawn
        else:
            drawn = self.workload.same_conversation(drawn, dialogue.first)
        self._record_draw(index, drawn)
        self.slots.conversation[index] = conversation
        self.slots.turn[index] = turn
        if dialogue.in_flight or dialogue.waiting:
            dialogue.waiting.append(Held(index, slot_due, drawn))
        else:
            self._send_turn(dialogue, conversation, index, slot_due, drawn, held=False)

    def _send_turn(
        self,
        dialogue: Dialogue,
        conversation: int,
        index: int,
        due: float,
        drawn: Drawn,
        *,
        held: bool,
    ) -> None:
        dialogue.in_flight = True
        self.slots.due_at[index] = due
        self.slots.held[index] = held
        self._start(self._open_loop_turn(dialogue, conversation, index, due, drawn))

    async def _open_loop_turn(
        self, dialogue: Dialogue, conversation: int, index: int, due: float, drawn: Drawn
    ) -> None:
        await self._turn(dialogue, index, due, drawn)
        dialogue.in_flight = False
        if dialogue.waiting and not self._closing:
            following = dialogue.waiting.popleft()
            self._send_turn(
                dialogue,
                conversation,
                following.index,
                max(following.slot_due, monotonic()),
                following.drawn,
                held=True,
            )
        elif self.slots.turn[index] == self._last_turn:
            self._dialogues.pop(conversation, None)

    async def _turn(self, dialogue: Dialogue, index: int, due: float, drawn: Drawn) -> None:
        """One turn: sent with the conversation so far; its answer's text added to it."""
        plan = self.workload.kinds[drawn.kind]
        body = self.workload.body(drawn, dialogue.history)
        raw = await self._send(index, due, drawn, body, keep=True)
        answer = None
        if raw is not None:
            answer = plan.api.stream_text(raw) if plan.streamed else plan.api.answer_text(raw)
        dialogue.answered(drawn.user_text, answer)

    def _start(self, request: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(request)
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    def _record_draw(self, index: int, drawn: Drawn) -> None:
        slots = self.slots
        slots.kind[index] = drawn.kind
        slots.tenant[index] = drawn.tenant
        slots.question[index] = drawn.question
        slots.pii[index] = drawn.pii

    def _ran_out(self, index: int) -> None:
        self.end = index
        self.notes.append(f"the cache mix's new questions ran out after {index} requests")

    # The requests themselves.

    async def _chat_json(self, index: int, scheduled: float) -> None:
        assert self._plain is not None and self._plain.body is not None
        await self._json(index, scheduled, self._plain, self._plain.body)

    async def _chat_stream(self, index: int, scheduled: float) -> None:
        assert self._plain is not None and self._plain.body is not None
        await self._stream(index, scheduled, self._plain, self._plain.body)

    async def _send(
        self, index: int, scheduled: float, drawn: Drawn, body: bytes, keep: bool = False
    ) -> bytes | None:
        if self.workload.kinds[drawn.kind].streamed:
            return await self._stream(index, scheduled, drawn, body, keep)
        return await self._json(index, scheduled, drawn, body)

    async def _json(
        self, index: int, scheduled: float, drawn: Drawn, body: bytes, keep: bool = False
    ) -> bytes | None:
        """A JSON answer: its body when it succeeded, else None."""
        plan = self.workload.kinds[drawn.kind]
        headers = plan.headers[drawn.tenant] if self._headers_each else None
        self.send_lag_s[index] = monotonic() - scheduled
        try:
            async with self.session.post(plan.url, data=body, headers=headers) as response:
                answer = await response.read()
                status = response.status
                self.slots.cache[index] = response.headers.get(CACHE_HEADER)
        except Exception as exc:  # any failure is a counted error, labelled by its type
            self.outcome[index] = type(exc).__name__
            return None
        if status != 200:
            self.outcome[index] = f"http_{status}"
            return None
        self.latency_s[index] = monotonic() - scheduled
        self.output_tokens[index] = plan.api.output_tokens(answer)
        self.slots.usage[index] = plan.api.usage(answer)
        self.outcome[index] = OUTCOME_OK
        return answer

    async def _stream(
        self, index: int, scheduled: float, drawn: Drawn, body: bytes, keep: bool = False
    ) -> bytes | None:
        """A streamed answer: its raw bytes when it succeeded (empty unless `keep`), else None."""
        plan = self.workload.kinds[drawn.kind]
        headers = plan.headers[drawn.tenant] if self._headers_each else None
        reader = plan.api.stream_reader(keep)
        self.send_lag_s[index] = monotonic() - scheduled
        try:
            async with self.session.post(plan.url, data=body, headers=headers) as response:
                self.slots.cache[index] = response.headers.get(CACHE_HEADER)
                if response.status != 200:
                    await response.read()
                    self.outcome[index] = f"http_{response.status}"
                    return None
                async for chunk in response.content.iter_any():
                    reader.feed(chunk, monotonic())
        except Exception as exc:  # any failure is a counted error, labelled by its type
            if not (reader.times and _cut(exc)):
                self.outcome[index] = type(exc).__name__
                return None
            # Cut after content came: judged as the stream the client got (see the module).
        done = monotonic()
        outcome = reader.outcome()
        self.outcome[index] = outcome
        if outcome != OUTCOME_OK:
            return None
        self.ttft_s[index] = reader.times[0] - scheduled
        self.latency_s[index] = done - scheduled
        self.token_times[index] = reader.times
        self.output_tokens[index] = reader.output_tokens()
        self.slots.usage[index] = reader.usage()
        return reader.raw()


def _cut(exc: Exception) -> bool:
    """Whether the connection broke (closed mid-body, reset), as against a timeout: a stream
    that stalls until its timeout is a hang, and keeps the timeout's class."""
    broken = isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientConnectionError)
    return broken and not isinstance(exc, TimeoutError)


def _one_bearer_key(settings: LoadSettings) -> bool:
    """Whether every request carries the session's own `Authorization: Bearer` key: one key, and
    no Messages request (those carry `x-api-key`, and no Bearer beside it)."""
    return not settings.tenants and api_of(settings.kind) != "messages"


def open_session(settings: LoadSettings) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=settings.max_connections, limit_per_host=0, keepalive_timeout=30.0
    )
    headers = {"Content-Type": "application/json"}
    if _one_bearer_key(settings):
        headers["Authorization"] = f"Bearer {settings.api_key}"
    return aiohttp.ClientSession(
        connector=connector,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=settings.request_timeout_s),
        cookie_jar=aiohttp.DummyCookieJar(),
    )
