"""Server-sent events as OpenAI streams them: just enough to account for usage in passing.

The router forwards stream bytes as they arrive and never re-frames them. To know the usage it
keeps only the tail of the stream (the usage chunk comes last, right before `data: [DONE]`) and
counts content deltas as a fallback for clients that did not ask for usage. The same tail says
how a stream that closed ended (`StreamEnding`): with its `data: [DONE]`, finished (a finish
reason) but without it, or cut short.
"""

from __future__ import annotations

from typing import Literal

import orjson

from router.errors import RouterError
from router.wire.usage import Usage, usage_from_body

# How an upstream's stream that closed ended: with its terminator (`whole`), with its answer
# finished but no terminator (`unterminated`), or neither (`cut`).
StreamEnding = Literal["whole", "unterminated", "cut"]
_FINISHED = (b'"finish_reason":"', b'"finish_reason": "')

_TAIL_BYTES = 8192
_CONTENT_MARKERS = (b'"content":"', b'"text":"')


SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


class StreamUsageCounter:
    __slots__ = ("_chunks_with_content", "_tail")

    def __init__(self) -> None:
        self._tail = b""
        self._chunks_with_content = 0

    def feed(self, chunk: bytes) -> None:
        for marker in _CONTENT_MARKERS:
            self._chunks_with_content += chunk.count(marker)
        tail = self._tail + chunk
        self._tail = tail[-_TAIL_BYTES:] if len(tail) > _TAIL_BYTES else tail

    def ending(self) -> StreamEnding:
        tail = self._tail.rstrip()
        if tail.endswith(b"[DONE]"):
            return "whole"
        return "unterminated" if any(mark in tail for mark in _FINISHED) else "cut"

    def usage(self, estimated_input_tokens: int) -> Usage:
        reported = self._reported_usage()
        if reported is not None:
            return reported
        return Usage(estimated_input_tokens, self._chunks_with_content, counted=True)

    def _reported_usage(self) -> Usage | None:
        """The usage of the last event that reports one, found by searching back from the end:
        3.4 µs on a 7.5 KB tail of 41 chunks, where splitting the tail into events took 13 µs."""
        tail = self._tail
        at = max(tail.rfind(b'"usage":{'), tail.rfind(b'"usage": {'))
        if at < 0:
            return None
        start = tail.rfind(b"data:", 0, at)
        if start < 0:
            return None
        end = tail.find(b"\n\n", at)
        try:
            return usage_from_body(orjson.loads(tail[start + 5 : end if end >= 0 else None]))
        except orjson.JSONDecodeError:
            return None


def error_event(error: RouterError) -> bytes:
    """A terminal SSE event for a stream that broke after its first byte; the OpenAI clients
    raise an APIError when a chunk carries `error`."""
    return b"data: " + error.to_body() + b"\n\n"


def response_model_in(chunk: bytes) -> str:
    """The `model` of the first stream chunk, found without decoding the whole chunk."""
    start = chunk.find(b'"model":"')
    if start < 0:
        return ""
    start += len(b'"model":"')
    end = chunk.find(b'"', start)
    return chunk[start:end].decode("utf-8", "replace") if end > start else ""
