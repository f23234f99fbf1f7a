"""Streams held open: one prepared streamed request opened many times through the generator's
session (`run.open_session`) and each answer read for as long as it lasts, its events counted, so
that a study can ask how many streams are still receiving (how many slow streams a router holds,
`loadtest/studies/streams.py`). `stream_holders` runs these in client processes.

Each stream is one task reading its answer's chunks as they come (`iter_any`) and counting the
`data:` lines in them: no line is split or decoded, so that ten thousand streams at one event a
second cost their client processes little. A stream's outcome:

- `connecting` until its first event, then `streaming`;
- `refused (503)` or `status <N>` for an answer of another status than 200 (the start of its
  body is kept, one per outcome, to show what the target said);
- `connect: <OSError class> <errno>` when no connection could be made;
- `closed before answer` or `closed mid-stream` when the connection broke before the first event
  or after it, `timeout` past the session's timeout;
- `ended` when the answer ended on its own (a study that holds streams asks for longer ones).

A stream is *receiving* when it is streaming and got an event since the last `mark`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic
from typing import Final

import aiohttp

from loadtest.generator.probe import Prepared

__all__ = ["OUTCOME_CONNECTING", "OUTCOME_ENDED", "OUTCOME_STREAMING", "HeldSample", "HeldStreams"]

OUTCOME_CONNECTING: Final = "connecting"
OUTCOME_STREAMING: Final = "streaming"
OUTCOME_ENDED: Final = "ended"
# How much of a refused answer's body is kept.
_ERROR_BODY_BYTES: Final = 300


class _Stream:
    __slots__ = ("error_body", "events", "first", "marked", "outcome")

    def __init__(self, first: asyncio.Future[None]) -> None:
        self.first = first  # done at the first event, or when the stream failed or ended
        self.events = 0
        self.marked: int | None = None  # the events counted at the last mark
        self.outcome = OUTCOME_CONNECTING
        self.error_body = b""

    def settle(self) -> None:
        if not self.first.done():
            self.first.set_result(None)


@dataclass(frozen=True, slots=True)
class HeldSample:
    """The streams opened so far: how many have each outcome, how many are receiving, and what
    an answer of each refused or failed status said."""

    outcomes: dict[str, int]
    receiving: int
    error_bodies: dict[str, str]


class HeldStreams:
    """The streams of one event loop, opened through `session` (closed by its owner)."""

    def __init__(self, session: aiohttp.ClientSession, request: Prepared) -> None:
        self._session = session
        self._request = request
        self._streams: list[_Stream] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def open(
        self,
        count: int,
        batch: int,
        first_event_timeout_s: float,
        after_batch: Callable[[], None] | None = None,
    ) -> float:
        """Open `count` more streams, `batch` at a time, each batch waiting (at most
        `first_event_timeout_s`) for its streams' first events before the next, then calling
        `after_batch`; the seconds that took."""
        if count < 0 or batch < 1 or first_event_timeout_s <= 0:
            raise ValueError("count must be >= 0, batch >= 1 and the timeout > 0")
        loop = asyncio.get_running_loop()
        started = monotonic()
        for offset in range(0, count, batch):
            firsts = []
            for _ in range(min(batch, count - offset)):
                stream = _Stream(loop.create_future())
                self._streams.append(stream)
                task = asyncio.create_task(self._hold(stream))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                firsts.append(stream.first)
            await asyncio.wait(firsts, timeout=first_event_timeout_s)
            if after_batch is not None:
                after_batch()
        return monotonic() - started

    def mark(self) -> None:
        """Start counting what is received from now on."""
        for stream in self._streams:
            stream.marked = stream.events

    def sample(self) -> HeldSample:
        outcomes = Counter(stream.outcome for stream in self._streams)
        receiving = sum(
            1
            for stream in self._streams
            if stream.outcome == OUTCOME_STREAMING
            and stream.marked is not None
            and stream.events > stream.marked
        )
        bodies = {
            stream.outcome: stream.error_body.decode(errors="replace")
            for stream in self._streams
            if stream.error_body
        }
        return HeldSample(dict(outcomes), receiving, bodies)

    async def close(self) -> None:
        """Stop reading every stream and close its connection; forget them all."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._streams.clear()

    async def _hold(self, stream: _Stream) -> None:
        request = self._request
        post = self._session.post(request.url, data=request.body, headers=request.headers)
        try:
            async with post as response:
                if response.status != 200:
                    status = response.status
                    stream.outcome = "refused (503)" if status == 503 else f"status {status}"
                    stream.error_body = (await response.read())[:_ERROR_BODY_BYTES]
                    return
                async for chunk in response.content.iter_any():
                    stream.events += chunk.count(b"data:")
                    if stream.events and stream.outcome == OUTCOME_CONNECTING:
                        stream.outcome = OUTCOME_STREAMING
                        stream.settle()
            stream.outcome = OUTCOME_ENDED
        except TimeoutError:
            stream.outcome = "timeout"
        except aiohttp.ClientConnectorError as exc:
            error = exc.os_error
            stream.outcome = f"connect: {type(error).__name__} {error.errno}"
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError):
            before = stream.outcome == OUTCOME_CONNECTING
            stream.outcome = "closed before answer" if before else "closed mid-stream"
        except Exception as exc:  # anything else is counted by its class, not lost
            stream.outcome = type(exc).__name__
        finally:
            stream.settle()
