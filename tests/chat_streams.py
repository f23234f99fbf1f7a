"""Chat Completions streams for the tests of their translations (the Responses and Messages
ingresses' events), and the check that a translation is the same however the stream is split."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import orjson

MODEL = "gpt-4o-mini-2024-07-18"
USAGE = {
    "prompt_tokens": 9,
    "completion_tokens": 12,
    "total_tokens": 21,
    "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": MODEL,
        "system_fingerprint": "fp_1",
        "choices": [choice],
    }


def usage_chunk() -> dict[str, Any]:
    return {**chunk({}), "choices": [], "usage": USAGE}


def sse(chunks: Iterable[dict[str, Any]], *, done: bool = True) -> bytes:
    events = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)
    return events + (b"data: [DONE]\n\n" if done else b"")


class StreamTranslation(Protocol):
    def feed(self, chunk: bytes) -> bytes: ...

    def finish(self, complete: bool) -> bytes: ...


def translating(new: Callable[[], StreamTranslation]) -> Callable[..., bytes]:
    """`translate(pieces, complete=True)`: the pieces fed to a new translation, then finished."""

    def translate(pieces: Iterable[bytes], *, complete: bool = True) -> bytes:
        events = new()
        out = b"".join(events.feed(piece) for piece in pieces)
        return out + events.finish(complete)

    return translate


def same_at_every_split(translate: Callable[..., bytes], stream: bytes) -> bytes:
    """The stream translated whole, split at each byte offset, and one byte at a time: the same
    output every time, which is returned."""
    whole: bytes = translate([stream])
    for k in range(len(stream) + 1):
        assert translate([stream[:k], stream[k:]]) == whole, f"split at byte {k}"
    assert translate(stream[k : k + 1] for k in range(len(stream))) == whole
    return whole
