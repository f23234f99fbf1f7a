"""Chat Completions streams for the tests of their translations: the streams fed to the Responses
and Messages ingresses' events (and the chat streams sent through them and back), the check that
a translation is the same however the stream is split, and a chat stream read back as the
official `openai` client reads it, as the upstream translations to chat must write it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import orjson
from openai._streaming import SSEDecoder
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from router.wire.responses.events import ResponsesEvents
from router.wire.responses.request import ResponsesRequest
from tests.known_fields import assert_known_fields_only

MODEL = "gpt-4o-mini-2024-07-18"
USAGE = {
    "prompt_tokens": 9,
    "completion_tokens": 12,
    "total_tokens": 21,
    "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}


# Writing a chat stream.


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


def usage_chunk(usage: dict[str, Any] = USAGE) -> dict[str, Any]:
    return {**chunk({}), "choices": [], "usage": usage}


def tool_start(index: int, call_id: str, name: str = "get_weather") -> dict[str, Any]:
    """The chunk that starts tool call `index`: its id and name, no arguments yet."""
    call = {"index": index, "id": call_id, "type": "function"}
    return chunk({"tool_calls": [{**call, "function": {"name": name, "arguments": ""}}]})


def tool_piece(index: int, arguments: str) -> dict[str, Any]:
    """A chunk with the next piece of tool call `index`'s arguments."""
    return chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})


def sse(chunks: Iterable[dict[str, Any]], *, done: bool = True) -> bytes:
    events = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)
    return events + (b"data: [DONE]\n\n" if done else b"")


def round_trip_streams(usage: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Chat streams, by name, to send through an ingress's events and back to chat: a text, a
    text cut at the cap, text then two tool calls, and two calls whose pieces interleave; each
    ends with a usage chunk of `usage` (what the ingress's API carries of a chat usage)."""
    opening = chunk({"role": "assistant", "content": ""})
    end = usage_chunk(usage)
    return {
        "text": [
            opening,
            chunk({"content": "Hel"}),
            chunk({"content": "lo 👋"}),
            chunk({}, "stop"),
            end,
        ],
        "length": [opening, chunk({"content": "Cut"}), chunk({}, "length"), end],
        "tools": [
            opening,
            chunk({"content": "Looking."}),
            tool_start(0, "call_rome"),
            *(tool_piece(0, piece) for piece in ('{"ci', 'ty": "Rome"}')),
            tool_start(1, "call_oslo"),
            *(tool_piece(1, piece) for piece in ('{"city"', ': "Oslo"}')),
            chunk({}, "tool_calls"),
            end,
        ],
        "interleaved": [
            opening,
            tool_start(0, "call_paris"),
            tool_start(1, "call_oslo"),
            tool_piece(0, '{"city": '),
            tool_piece(1, '{"city": '),
            tool_piece(0, '"Paris"}'),
            tool_piece(1, '"Oslo"}'),
            chunk({}, "tool_calls"),
            end,
        ],
    }


# Translating a stream.


class StreamTranslation(Protocol):
    def feed(self, chunk: bytes) -> bytes: ...

    def finish(self, complete: bool) -> bytes: ...


def translating(new: Callable[..., StreamTranslation]) -> Callable[..., bytes]:
    """`translate(pieces, complete=True, **options)`: the pieces fed to a new translation,
    `new(**options)`, then finished."""

    def translate(pieces: Iterable[bytes], *, complete: bool = True, **options: Any) -> bytes:
        events = new(**options)
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


def numbered_responses_events(request: ResponsesRequest) -> ResponsesEvents:
    """The Responses ingress's translation for `request`, as `resp_1` created at 1_700_000_000,
    its items' ids numbered in order (`msg_0`, `fc_1`, ...), so that its events are exact."""
    numbers = itertools.count()
    return ResponsesEvents(
        request,
        response_id="resp_1",
        created_at=1_700_000_000,
        new_id=lambda prefix: f"{prefix}_{next(numbers)}",
    )


# Reading a chat stream.


def read_chunks(out: bytes) -> list[dict[str, Any]]:
    """The stream's data as the openai client decodes it: every chunk valid in its types with
    no field they do not know, an error object, or `[DONE]` last."""
    datas = [sse_event.data for sse_event in SSEDecoder().iter_bytes(iter([out]))]
    chunks = []
    for data in datas:
        if data == "[DONE]":
            assert data is datas[-1]
            continue
        decoded = orjson.loads(data)
        if "error" in decoded:
            assert data is datas[-1]
            assert set(decoded["error"]) == {"message", "type", "param", "code"}
        else:
            assert_known_fields_only(ChatCompletionChunk.model_validate(decoded))
        chunks.append(decoded)
    return chunks


def assemble(out: bytes) -> Any:
    """The completion as the openai client's stream helper accumulates it (its snapshot: the
    final completion raises for a `length` or `content_filter` finish)."""
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for decoded in read_chunks(out):
        state.handle_chunk(ChatCompletionChunk.model_validate(decoded))
    return state.current_completion_snapshot
