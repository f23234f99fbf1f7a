"""The privacy stage's response half: an answer's placeholders given back their values.

An answer to a redacted request (or any cache hit of a request that carried PII: the cache holds
placeholders only) is restored with the request's own values, its body whole
(`restore_json_body`) or its stream as it passes (`SseRestorer`, which holds back a tail that may
still become a placeholder and sends it at the end, before an error event too).
"""

from __future__ import annotations

from router.privacy.answer_restoration import SseRestorer, restore_json_body
from router.privacy.redaction import Redactor


class RestoringFilter:
    __slots__ = ("_redactor", "_stream")

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._stream: SseRestorer | None = None

    def body(self, body: bytes) -> bytes:
        return restore_json_body(body, self._redactor)

    def feed(self, chunk: bytes) -> bytes:
        if self._stream is None:
            self._stream = SseRestorer(self._redactor)
        return self._stream.feed(chunk)

    def finish(self, complete: bool) -> bytes:
        return b"" if self._stream is None else self._stream.flush()
