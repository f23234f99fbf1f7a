"""Server-sent events read as they arrive: each event's name (`event:`) and data (`data:`
lines), once, whatever the split.

Anthropic names each event (`event: content_block_delta`) and repeats the name as the data's
`type`; a chat stream's events are data only. Every translation of a stream reads it through
this (`router.wire.chat_translation`, `router.wire.upstream_messages.stream`). The work is
linear in the stream's size: only the unfinished line is kept between feeds, as a list of
pieces (a line fed one byte at a time is joined once), and the fields of the unfinished event.
Lines end with LF or CRLF, as every upstream sends them.
"""

from __future__ import annotations

from typing import NamedTuple


class ServerSentEvent(NamedTuple):
    name: str  # "" when the event has no `event:` line
    data: bytes  # its `data:` lines joined with LF


class EventReader:
    __slots__ = ("_data", "_line", "_name")

    def __init__(self) -> None:
        self._line: list[bytes] = []  # the pieces of the line not yet ended
        self._name = ""  # the `event:` of the event not yet ended
        self._data: list[bytes] = []  # its `data:` lines

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events that `chunk` completes, in order."""
        events: list[ServerSentEvent] = []
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            if self._line:
                self._line.append(chunk[start:end])
                line = b"".join(self._line)
                self._line.clear()
            else:
                line = chunk[start:end]
            self._read_line(line.removesuffix(b"\r"), events)
            start = end + 1
        if start < len(chunk):
            self._line.append(chunk[start:])
        return events

    def clear(self) -> None:
        """Forget an unfinished event (the stream ended)."""
        self._line.clear()
        self._name = ""
        self._data.clear()

    def _read_line(self, line: bytes, events: list[ServerSentEvent]) -> None:
        if not line:
            # An event without data is not dispatched (the SSE standard's rule), name or not.
            if self._data:
                events.append(ServerSentEvent(self._name, b"\n".join(self._data)))
            self._name = ""
            self._data.clear()
        elif line.startswith(b"data:"):
            self._data.append(line[6:] if line.startswith(b"data: ") else line[5:])
        elif line.startswith(b"event:"):
            value = line[7:] if line.startswith(b"event: ") else line[6:]
            self._name = value.decode("utf-8", "replace")
        # Comments (`:`), `id:` and `retry:` mean nothing to a translation.
