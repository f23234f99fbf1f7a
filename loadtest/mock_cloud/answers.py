"""What a Responses or Messages request is answered with: pieces of text, and why they end.

Chat Completions answers (`parsing.generation`) keep the benchmarks' convention that a given
`max_tokens` is always reached. The native APIs answer as a model does instead: the region's
template at `completion_tokens` long (or the echo of the request), cut at the request's cap, and a
text answer at the first stop sequence. Messages requires `max_tokens` on every request, so under
the chat convention every Messages answer would end at its cap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import orjson

from .settings import RegionSettings
from .stop_sequences import cut_at_first_stop
from .wire import answer_deltas

EndReason = Literal["end", "cap", "stop_sequence"]
TOOL_KINDS: Final = frozenset(("tool_call", "tool_call_stop"))
# The arguments of a tool call with nothing to say: still one JSON object, as one piece.
_EMPTY_ARGUMENTS: Final = '{"q":""}'


@dataclass(frozen=True, slots=True)
class NativeAnswer:
    kind: str  # one of `settings.ANSWER_KINDS`
    text: str
    # What is streamed, one piece per token: the text, or a tool call's arguments (the JSON
    # object `{"q": text}`, so that the pieces of a stream join to what a JSON answer carries).
    deltas: tuple[str, ...]
    ended_by: EndReason
    stop_sequence: str | None = None

    @property
    def is_tool_call(self) -> bool:
        return self.kind in TOOL_KINDS

    @property
    def output_tokens(self) -> int:
        return len(self.deltas)

    @property
    def arguments(self) -> str:
        return "".join(self.deltas)


def native_answer(
    settings: RegionSettings, echo: Callable[[], str], cap: int | None, stops: Sequence[str]
) -> NativeAnswer:
    """The answer to a request capped at `cap` tokens (None: no cap) with `stops`; `echo` gives
    the request's text, asked for only when the region echoes."""
    if settings.echo:
        whole = text_pieces(echo(), settings.echo_piece_chars)
    else:
        whole = answer_deltas(settings.name, settings.completion_tokens)
    pieces = whole if cap is None else whole[:cap]
    ended_by: EndReason = "cap" if len(pieces) < len(whole) else "end"
    kind = settings.answer_kind
    stop = None
    # Stop sequences end text; a tool call's arguments are not text the stop sequences watch.
    found = cut_at_first_stop(pieces, stops) if stops and kind not in TOOL_KINDS else None
    if found is not None:
        (pieces, stop), ended_by = found, "stop_sequence"
    deltas = tool_argument_pieces(pieces) if kind in TOOL_KINDS else pieces
    return NativeAnswer(kind, "".join(pieces), deltas, ended_by, stop)


def tool_argument_pieces(pieces: Sequence[str]) -> tuple[str, ...]:
    """`{"q": text}` as JSON, in as many pieces as the text (JSON escapes are per character, so
    each piece is escaped on its own)."""
    if not pieces:
        return (_EMPTY_ARGUMENTS,)
    escaped = [orjson.dumps(piece)[1:-1].decode() for piece in pieces]
    escaped[0] = '{"q":"' + escaped[0]
    escaped[-1] += '"}'
    return tuple(escaped)


def text_pieces(text: str, size: int) -> tuple[str, ...]:
    return tuple(text[i : i + size] for i in range(0, len(text), size))
