"""A response half's copy of the answer as it passes: the cache's to store, the content log's.

A JSON answer is kept as it is; a stream is assembled, as it passes, into the `chat.completion` it
amounts to (`StreamAssembler`), kept only if the stream ended normally and whole. The bytes go on
unchanged. What is kept is handed to `keep`.
"""

from __future__ import annotations

from collections.abc import Callable

from router.cache.replay import StreamAssembler


class AnswerCapture:
    __slots__ = ("_assembler", "_keep")

    def __init__(self, keep: Callable[[bytes], None]) -> None:
        self._keep = keep
        self._assembler: StreamAssembler | None = None

    def body(self, body: bytes) -> bytes:
        self._keep(body)
        return body

    def feed(self, chunk: bytes) -> bytes:
        if self._assembler is None:
            self._assembler = StreamAssembler()
        self._assembler.feed(chunk)
        return chunk

    def finish(self, complete: bool) -> bytes:
        if complete and self._assembler is not None:
            answer = self._assembler.answer()
            if answer is not None:
                self._keep(answer)
        return b""
