"""Writing a streamed answer on the simulated schedule, whatever the API's events.

Every API's stream is an `EventStream`: chat and text completions (`wire.CompletionStream`),
Responses (`wire_responses.ResponsesStream`) and Messages (`wire_messages.MessagesStream`). The
writer asks for its parts strictly in order (the Responses events number themselves as they are
made): `head()` at once, then, after the time to first token, `opening()` with `token(0)`, one
token every 1/tokens_per_s, and `closing()`, or `error(status)` for an in-band error; a stream
fault (`faults`) stops, bends or corrupts that order. The time to first token is the request's
own: the region's `ttft_ms`, less what its prompt cache saved.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiohttp import web

from .faults import StreamFault
from .settings import RegionSettings
from .wire import Billed


class EventStream(Protocol):
    # The usage the stream reported, once `closing()` has made the events that carry it; None
    # while it has not (or never does: a chat stream whose client did not ask for usage).
    billed: Billed | None

    @property
    def tokens(self) -> int: ...

    def head(self) -> bytes:
        """Sent with the headers, before the time to first token (may be empty)."""
        ...

    def opening(self) -> bytes:
        """Sent with the first token, or with the closing of an answer without tokens."""
        ...

    def token(self, i: int) -> bytes: ...

    def closing(self, *, terminal: bool = True) -> bytes:
        """The end of the answer; without `terminal`, less the event that marks the end of the
        stream (`[DONE]`, `response.completed`/`.incomplete`, `message_stop`)."""
        ...

    def malformed(self) -> bytes:
        """An event of this API whose data is not valid JSON: the next content event cut short
        (the `malformed_chunk` fault). It takes nothing from the answer's own events."""
        ...

    def error(self, status: int) -> bytes:
        """The API's in-band error of the kind `status` names, which ends the stream."""
        ...


async def write_events(
    response: web.StreamResponse,
    stream: EventStream,
    settings: RegionSettings,
    inband_error: bool,
    ttft_ms: float,
    fault: StreamFault | None = None,
) -> None:
    """Time to first token, then one token every 1/tokens_per_s, on a fixed schedule.

    Each token is due at first + i * interval rather than a sleep after the previous write, so slow
    writes under load do not stretch the stream beyond the configured speed. With `inband_error`,
    the error takes the place of content event `settings.inband_error_after_events` (or of the
    closing, if the answer is shorter); an error before any content comes without the opening.
    A stream fault (`faults`) acts at content event `settings.fault_after_events` the same way:
    `stream_cut` and `stall` stop there, before the closing, and leave how the stream ends to the
    caller; `malformed_chunk` puts its bad event there and goes on; `missing_done` only changes
    the closing.
    """
    head = stream.head()
    if head:
        await response.write(head)
    ttft_s = ttft_ms / 1000
    if ttft_s > 0:
        await asyncio.sleep(ttft_s)
    tokens = stream.tokens
    stops_at = None
    if inband_error:
        stops_at = settings.inband_error_after_events
    elif fault in ("stream_cut", "stall"):
        stops_at = settings.fault_after_events
    if stops_at is not None:
        tokens = min(tokens, stops_at)
    opening = stream.opening() if tokens or stops_at is None else b""
    malformed_at = settings.fault_after_events if fault == "malformed_chunk" else None

    def content(i: int) -> bytes:
        event = stream.token(i)
        return stream.malformed() + event if i == malformed_at else event

    def tail() -> bytes:
        if inband_error:
            return stream.error(settings.error_status)
        if fault in ("stream_cut", "stall"):
            return b""
        bad = stream.malformed() if malformed_at is not None and malformed_at >= tokens else b""
        return bad + stream.closing(terminal=fault != "missing_done")

    if not settings.tokens_per_s or not tokens:
        data = opening + b"".join([content(i) for i in range(tokens)]) + tail()
        if data:
            await response.write(data)
        return
    interval_s = 1 / settings.tokens_per_s
    loop = asyncio.get_running_loop()
    first_s = loop.time()
    await response.write(opening + content(0))
    for i in range(1, tokens):
        wait_s = first_s + i * interval_s - loop.time()
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        await response.write(content(i))
    last = tail()
    if last:
        await response.write(last)


def answer_delay_s(settings: RegionSettings, tokens: int, ttft_ms: float) -> float:
    """How long a JSON (not streamed) answer of `tokens` takes beyond the round trip: the time to
    first token and the time to generate the rest, as the stream of it would take."""
    delay_s = ttft_ms / 1000
    if settings.tokens_per_s:
        delay_s += tokens / settings.tokens_per_s
    return delay_s
