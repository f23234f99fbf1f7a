"""What every translation of a chat stream into another API's events shares: reading the stream
as it arrives (`router.wire.event_reader`), and ending it once.

A subclass says what an event means (`_read_event`) and how a stream that ended normally is
completed (`_complete`), and sets `_ended` once it sent its terminal event.
"""

from __future__ import annotations

from router.wire.event_reader import EventReader


class ChatStreamTranslation:
    def __init__(self) -> None:
        self._reader = EventReader()
        self._finished = False  # `finish` was called: no more input
        self._ended = False  # the terminal event was sent: no more output

    def feed(self, chunk: bytes) -> bytes:
        if self._finished:
            return b""
        out: list[bytes] = []
        for event in self._reader.feed(chunk):  # a chat stream's events are all data
            if not self._ended:
                self._read_event(event.data, out)
        return b"".join(out)

    def finish(self, complete: bool) -> bytes:
        """The stream ended. Normally ended without `[DONE]`, it is completed; broken (or the
        client gone), nothing is sent: the writer may still send the terminal error."""
        self._finished = True
        self._reader.clear()
        if not complete or self._ended:
            return b""
        out: list[bytes] = []
        self._complete(out)
        return b"".join(out)

    def _read_event(self, data: bytes, out: list[bytes]) -> None:
        raise NotImplementedError

    def _complete(self, out: list[bytes]) -> None:
        raise NotImplementedError
