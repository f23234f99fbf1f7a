"""Writing a streamed answer on the simulated schedule, whatever the API's events.

Every API's stream is an `EventStream`: chat and text completions (`wire.CompletionStream`),
Responses (`wire_responses.ResponsesStream`) and Messages (`wire_messages.MessagesStream`). The
writer asks for its parts strictly in order (the Responses events number themselves as they are
made): `head()` at once, then, after the time to first token, `opening()` with `token(0)`, one
token every 1/tokens_per_s, and `closing()`, or `error(status)` for an in-band error. The time to
first token is the request's own: the region's `ttft_ms`, less what its prompt cache saved.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiohttp import web

from .settings import RegionSettings


class EventStream(Protocol):
    @property
    def tokens(self) -> int: ...

    def head(self) -> bytes:
        """Sent with the headers, before the time to first token (may be empty)."""
        ...

    def opening(self) -> bytes:
        """Sent with the first token, or with the closing of an answer without tokens."""
        ...

    def token(self, i: int) -> bytes: ...

    def closing(self) -> bytes: ...

    def error(self, status: int) -> bytes:
        """The API's in-band error of the kind `status` names, which ends the stream."""
        ...


async def write_events(
    response: web.StreamResponse,
    stream: EventStream,
    settings: RegionSettings,
    inband_error: bool,
    ttft_ms: float,
) -> None:
    """Time to first token, then one token every 1/tokens_per_s, on a fixed schedule.

    Each token is due at first + i * interval rather than a sleep after the previous write, so slow
    writes under load do not stretch the stream beyond the configured speed. With `inband_error`,
    the error takes the place of content event `settings.inband_error_after_events` (or of the
    closing, if the answer is shorter); an error before any content comes without the opening.
    """
    head = stream.head()
    if head:
        await response.write(head)
    ttft_s = ttft_ms / 1000
    if ttft_s > 0:
        await asyncio.sleep(ttft_s)
    tokens = stream.tokens
    if inband_error:
        tokens = min(tokens, settings.inband_error_after_events)
    opening = stream.opening() if tokens or not inband_error else b""

    def tail() -> bytes:
        return stream.error(settings.error_status) if inband_error else stream.closing()

    if not settings.tokens_per_s or not tokens:
        await response.write(opening + b"".join([stream.token(i) for i in range(tokens)]) + tail())
        return
    interval_s = 1 / settings.tokens_per_s
    loop = asyncio.get_running_loop()
    first_s = loop.time()
    await response.write(opening + stream.token(0))
    for i in range(1, tokens):
        wait_s = first_s + i * interval_s - loop.time()
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        await response.write(stream.token(i))
    await response.write(tail())


def answer_delay_s(settings: RegionSettings, tokens: int, ttft_ms: float) -> float:
    """How long a JSON (not streamed) answer of `tokens` takes beyond the round trip: the time to
    first token and the time to generate the rest, as the stream of it would take."""
    delay_s = ttft_ms / 1000
    if settings.tokens_per_s:
        delay_s += tokens / settings.tokens_per_s
    return delay_s
