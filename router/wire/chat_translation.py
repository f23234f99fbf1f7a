"""What every translation of a chat stream into another API's events shares: reading the stream
as it arrives (`router.wire.event_reader`), and ending it once.

A subclass says what a chunk means (`_read_chunk`: `[DONE]` completes the stream, and data that
is not a JSON object ends it with an error, here), how a stream that ended normally is completed
(`_complete`) and how one ends on an upstream's error (`_fail_upstream`), and sets `_ended` once
it sent its terminal event.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import orjson

from router.wire.event_reader import EventReader

NOT_AN_OBJECT = "The upstream sent a stream event that is not a JSON object."


class ChatStreamTranslation(ABC):
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
        if data.strip() == b"[DONE]":
            self._complete(out)
            return
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            chunk = None
        if not isinstance(chunk, dict):
            self._fail_upstream(None, NOT_AN_OBJECT, out)
            return
        self._read_chunk(chunk, out)

    @abstractmethod
    def _read_chunk(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        """What one chat chunk (a JSON object) means in the API's events."""

    @abstractmethod
    def _fail_upstream(self, error: dict[str, Any] | None, message: str, out: list[bytes]) -> None:
        """End the stream with the API's error event: for `error`, an in-band error object the
        upstream sent (None: the stream itself was broken), `message` when it says none."""

    @abstractmethod
    def _complete(self, out: list[bytes]) -> None:
        """End a stream that ended normally with the API's closing events."""
