"""A Chat Completions stream read as it arrives: its events' data, each once, whatever the split.

The translations of a chat stream into another API's events (`router.wire.responses.events`,
`router.wire.messages.events`) read it through this. The work is linear in the stream's size:
only the unfinished line is kept between feeds, as a list of pieces (a line fed one byte at a
time is joined once), and only the `data:` lines of the unfinished event.
"""

from __future__ import annotations


class ChatStreamReader:
    __slots__ = ("_data", "_line")

    def __init__(self) -> None:
        self._line: list[bytes] = []  # the pieces of the line not yet ended
        self._data: list[bytes] = []  # the `data:` lines of the event not yet ended

    def feed(self, chunk: bytes) -> list[bytes]:
        """The data of each event that `chunk` completes, in order."""
        events: list[bytes] = []
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
        self._data.clear()

    def _read_line(self, line: bytes, events: list[bytes]) -> None:
        if line.startswith(b"data:"):
            self._data.append(line[6:] if line.startswith(b"data: ") else line[5:])
        elif not line and self._data:
            events.append(b"\n".join(self._data))
            self._data.clear()
        # Other fields (`event:`, `id:`, `retry:`) and comments mean nothing in a chat stream.
