"""The Chat Completions, text completions, embeddings and models wire format the simulated cloud
answers with: bodies and SSE events (error bodies are in `errors`).

Everything here is a pure function of its arguments, so answers are deterministic and testable
without a server. Bodies are plain dicts serialised by orjson: at the benchmark's request rates a
validation model per response would cost more than the rest of the mock together.
"""

from __future__ import annotations

import array
import base64
import hashlib
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal, NamedTuple

import orjson

# `error_body` lived here before the errors of every API moved to `errors`; kept importable.
from .errors import error_body as error_body
from .errors import injected_error

Kind = Literal["chat", "completion"]
FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]

SYSTEM_FINGERPRINT: Final = "fp_mock_cloud"
OWNED_BY: Final = "mock-cloud"
# A fixed `created` for models keeps GET /v1/models byte-identical between runs.
MODELS_CREATED: Final = 1_700_000_000
DONE_EVENT: Final = b"data: [DONE]\n\n"
# Never part of an answer (a NUL character), so it marks where a token's text goes in a template.
_PLACEHOLDER: Final = "\x00"
_PLACEHOLDER_JSON: Final = orjson.dumps(_PLACEHOLDER)
_FILLER: Final = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit")


class Billed(NamedTuple):
    """The usage an answer reported, in its API's own fields (chat's `prompt_tokens` and
    `completion_tokens`; Responses' and Messages' `input_tokens` and `output_tokens`): what the
    region bills for it (`RegionStats.bill`)."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Generation:
    """What a chat or text completion request asked for, after validation."""

    kind: Kind
    model: str
    choices: int
    tokens: int
    finish_reason: FinishReason
    prompt_tokens: int
    stream: bool
    include_usage: bool
    # The answer's pieces, one per token, when they are not the region's template at `tokens`
    # long (an echo of the request, or an answer cut at a stop sequence); None: the answer is
    # `answer_deltas(region, tokens)`, whose encoded pieces are cached.
    pieces: tuple[str, ...] | None = None
    # `text`, or a refusal or tool call (`settings.ANSWER_KINDS`) made of the same pieces.
    answer_kind: str = "text"
    # Of the prompt tokens, those the region's prompt cache served (`prompt_cache`).
    cached_tokens: int = 0

    def billed(self) -> Billed:
        """What `usage()` reports, as the region bills it."""
        return Billed(self.prompt_tokens, self.tokens * self.choices)

    def usage(self) -> dict[str, Any]:
        """OpenAI's usage. `prompt_tokens_details` only when the prompt cache served tokens: the
        mock's usage kept its short form before it had a prompt cache, and a cold answer still
        has it (OpenAI's clients read a missing one as none cached)."""
        completion = self.tokens * self.choices
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }
        if self.cached_tokens:
            usage["prompt_tokens_details"] = {
                "cached_tokens": self.cached_tokens,
                "audio_tokens": 0,
            }
        return usage


@lru_cache(maxsize=256)
def answer_deltas(region: str, tokens: int) -> tuple[str, ...]:
    """The answer as one text piece per token, e.g. ("Hello", " from", " us-east.", " lorem").

    One token is one whitespace-separated word, so usage counts are exact; the pieces joined are the
    full text. Cached because nearly every request asks for one of a few lengths.
    """
    words = ["Hello", "from", f"{region}."]
    words.extend(_FILLER[i % len(_FILLER)] for i in range(max(0, tokens - len(words))))
    return tuple(w if i == 0 else " " + w for i, w in enumerate(words[:tokens]))


@lru_cache(maxsize=256)
def answer_deltas_json(region: str, tokens: int) -> tuple[bytes, ...]:
    """`answer_deltas` as JSON strings, ready to splice into stream events."""
    return tuple(orjson.dumps(piece) for piece in answer_deltas(region, tokens))


def answer_text(region: str, tokens: int) -> str:
    return "".join(answer_deltas(region, tokens))


def completion_body(g: Generation, region: str, response_id: str, created: int) -> bytes:
    text = answer_text(region, g.tokens) if g.pieces is None else "".join(g.pieces)
    choices: list[dict[str, Any]]
    if g.kind == "chat":
        message = _chat_message(g.answer_kind, text)
        choices = [
            {"index": i, "message": message, "logprobs": None, "finish_reason": g.finish_reason}
            for i in range(g.choices)
        ]
    else:
        choices = [
            {"text": text, "index": i, "logprobs": None, "finish_reason": g.finish_reason}
            for i in range(g.choices)
        ]
    return orjson.dumps(
        {
            "id": response_id,
            "object": "chat.completion" if g.kind == "chat" else "text_completion",
            "created": created,
            "model": g.model,
            "choices": choices,
            "usage": g.usage(),
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
    )


# The one tool a tool-call answer calls, with the answer's text as its argument.
TOOL_CALL_ID: Final = "call_mock_0"
TOOL_NAME: Final = "lookup"


def _chat_message(answer_kind: str, text: str) -> dict[str, Any]:
    if answer_kind == "refusal":
        return {"role": "assistant", "content": None, "refusal": text}
    if answer_kind in ("tool_call", "tool_call_stop"):
        call = {
            "id": TOOL_CALL_ID,
            "type": "function",
            "function": {"name": TOOL_NAME, "arguments": orjson.dumps({"q": text}).decode()},
        }
        content = None if answer_kind == "tool_call" else ""
        return {"role": "assistant", "content": content, "refusal": None, "tool_calls": [call]}
    return {"role": "assistant", "content": text, "refusal": None}


def _opening_delta(answer_kind: str) -> dict[str, Any]:
    delta: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
    if answer_kind in ("tool_call", "tool_call_stop"):
        head = {"name": TOOL_NAME, "arguments": ""}
        delta["tool_calls"] = [
            {"index": 0, "id": TOOL_CALL_ID, "type": "function", "function": head}
        ]
    return delta


def _token_delta(answer_kind: str, piece: str) -> dict[str, Any]:
    if answer_kind == "refusal":
        return {"refusal": piece}
    if answer_kind in ("tool_call", "tool_call_stop"):
        return {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
    return {"content": piece}


class CompletionStream:
    """The SSE events of one streamed chat or text completion, produced piece by piece.

    The writer (`streaming.write_events`) asks for `head()` (nothing here), `opening() + token(0)`,
    then `token(i)` as each token is due, then `closing()` or, for an in-band error, `error()`;
    with no delays it concatenates them all into a single write. An empty answer has no tokens.
    As OpenAI's do, each chunk carries one choice: with `n` > 1 every step (the role, each token,
    the finish) is one chunk per choice, in index order.
    """

    __slots__ = ("_base", "_deltas", "_g", "_token_parts", "billed")

    def __init__(self, g: Generation, region: str, response_id: str, created: int) -> None:
        self._g = g
        # Set once the closing carries the usage chunk (`EventStream.billed`).
        self.billed: Billed | None = None
        self._deltas = (
            answer_deltas_json(region, g.tokens)
            if g.pieces is None
            else tuple(orjson.dumps(piece) for piece in g.pieces)
        )
        self._base: dict[str, Any] = {
            "id": response_id,
            "object": "chat.completion.chunk" if g.kind == "chat" else "text_completion",
            "created": created,
            "model": g.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
        # OpenAI sends `usage: null` on every chunk but the last only when usage was asked for.
        if g.include_usage:
            self._base["usage"] = None
        # Token events differ only in the text piece. Encoding one step's events (one per choice)
        # around a placeholder and splitting there makes every later step a single bytes.join,
        # which took the encoding from about a fifth of the mock's CPU under the benchmark to a
        # few percent.
        self._token_parts = self._dict_token_events(_PLACEHOLDER).split(_PLACEHOLDER_JSON)
        if len(self._token_parts) != g.choices + 1:  # the placeholder also occurs elsewhere
            self._token_parts = []

    @property
    def tokens(self) -> int:
        return len(self._deltas)

    def opening(self) -> bytes:
        if self._g.kind != "chat":
            return b""
        return self._events(_opening_delta(self._g.answer_kind), None)

    def token(self, i: int) -> bytes:
        piece_json = self._deltas[i]
        if self._token_parts:
            return piece_json.join(self._token_parts)
        return self._dict_token_events(orjson.loads(piece_json))

    def closing(self, *, terminal: bool = True) -> bytes:
        """The finish (and the usage chunk, if asked for), then `[DONE]` unless not `terminal`."""
        g = self._g
        delta: dict[str, str] | str = {} if g.kind == "chat" else ""
        events = self._events(delta, g.finish_reason)
        if g.include_usage:
            usage_chunk = {**self._base, "choices": [], "usage": g.usage()}
            events += b"data: " + orjson.dumps(usage_chunk) + b"\n\n"
            self.billed = g.billed()
        return events + DONE_EVENT if terminal else events

    def malformed(self) -> bytes:
        return cut_short(self._dict_token_events(""))

    def head(self) -> bytes:
        return b""

    def error(self, status: int) -> bytes:
        """OpenAI's in-band error: an event with an error body instead of a chunk, and no
        `[DONE]` after it."""
        return b"data: " + injected_error(status, "openai").openai_body() + b"\n\n"

    def _dict_token_events(self, piece: str) -> bytes:
        delta = _token_delta(self._g.answer_kind, piece) if self._g.kind == "chat" else piece
        return self._events(delta, None)

    def _choice(
        self, index: int, delta: dict[str, Any] | str, finish_reason: str | None
    ) -> dict[str, Any]:
        if self._g.kind == "chat":
            return {
                "index": index,
                "delta": delta,
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        return {"text": delta, "index": index, "logprobs": None, "finish_reason": finish_reason}

    def _events(self, delta: dict[str, Any] | str, finish_reason: str | None) -> bytes:
        """One step of the stream: an event per choice, each with the same delta."""
        return b"".join(
            [
                b"data: "
                + orjson.dumps({**self._base, "choices": [self._choice(c, delta, finish_reason)]})
                + b"\n\n"
                for c in range(self._g.choices)
            ]
        )


def cut_short(events: bytes) -> bytes:
    """The first SSE event of `events` with its data cut halfway: a JSON object that never
    closes, which no JSON parser takes (the `malformed_chunk` fault)."""
    first = events[: events.index(b"\n\n")]
    start = first.index(b"data: ") + len(b"data: ")
    data = first[start:]
    return first[:start] + data[: len(data) // 2] + b"\n\n"


def embedding_vector(data: bytes, dimensions: int) -> array.array[float]:
    """A unit-norm float32 vector that depends only on `data`: equal inputs, equal vectors."""
    raw = array.array("I", hashlib.shake_256(data).digest(4 * dimensions))
    centred = [x / 2_147_483_648.0 - 1.0 for x in raw]  # uniform in [-1, 1)
    norm = math.sqrt(math.fsum(x * x for x in centred)) or 1.0
    return array.array("f", [x / norm for x in centred])


def embeddings_body(
    model: str,
    vectors: Sequence[array.array[float]],
    encoding_format: Literal["float", "base64"],
    prompt_tokens: int,
) -> bytes:
    data = [
        {"object": "embedding", "index": i, "embedding": _encode_vector(v, encoding_format)}
        for i, v in enumerate(vectors)
    ]
    usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    return orjson.dumps({"object": "list", "data": data, "model": model, "usage": usage})


def _encode_vector(vector: array.array[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "float":
        # tolist() of a float32 array: the exact values base64 carries, so both formats agree.
        return vector.tolist()
    if sys.byteorder == "big":  # OpenAI's base64 is little-endian float32
        vector = array.array("f", vector)
        vector.byteswap()
    return base64.b64encode(vector.tobytes()).decode("ascii")


def model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": MODELS_CREATED, "owned_by": OWNED_BY}


def model_body(model_id: str) -> bytes:
    return orjson.dumps(model_object(model_id))


def models_body(models: Sequence[str]) -> bytes:
    return orjson.dumps({"object": "list", "data": [model_object(m) for m in models]})
