"""How a streamed answer is read as it arrives, one reader per API: when each content token came,
the output tokens the stream's usage reports, and how the stream ended, which decides its outcome.

- Chat Completions (`ChatStreamReader`): a token is a `data:` event with a non-empty `content`
  (`requests.StreamTokenClock`); the end is `data: [DONE]`; an error event (`data: {"error":
  ...}`) without `[DONE]` is a `stream_error`.
- Responses and Messages (`EventStreamReader`): a token is a delta event with non-empty text
  (`response.output_text.delta`; Messages' `content_block_delta`); the end is the terminal event
  (`response.completed`, or `response.incomplete`, the whole answer cut at `max_output_tokens`
  as chat's `length`; Messages' `message_stop`); an `error` event, or `response.failed`, before
  the end is a `stream_error`. The output tokens are the last `output_tokens` of the stream's
  usage (Messages' `message_start` says 1, its `message_delta` the total).

A stream without its end event is `stream_without_done`, one without a token
`stream_without_content`, as for chat. Lines are matched by regular expressions, never decoded
(the generator shares a core with what it measures); a reader keeps the raw stream only when
asked (a conversation needs the answer's text), up to `MAX_KEPT_BYTES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Protocol

from loadtest.generator.requests import (
    OUTCOME_NO_CONTENT,
    OUTCOME_OK,
    OUTCOME_STREAM_ERROR,
    OUTCOME_TRUNCATED,
    ReportedUsage,
    StreamTokenClock,
    count_in,
    usage_in,
)

# The end of a chat stream kept to judge how it ended: `[DONE]`, or an error event.
_TAIL_BYTES: Final = 512
# A line longer than this is no event a run judges: dropped.
_MAX_LINE: Final = 1 << 20
MAX_KEPT_BYTES: Final = 4 << 20
_OUTPUT_TOKENS: Final = re.compile(rb'"output_tokens"\s*:\s*(\d{1,9})')
_INPUT_TOKENS: Final = re.compile(rb'"input_tokens"\s*:\s*(\d{1,9})')
_EVENT_TYPE: Final = re.compile(rb'^data:\s*\{\s*"type"\s*:\s*"([A-Za-z_.]{1,64})"')


class StreamReader(Protocol):
    times: list[float]

    def feed(self, chunk: bytes, now: float) -> None: ...

    def outcome(self) -> str: ...

    def output_tokens(self) -> int: ...

    def usage(self) -> ReportedUsage | None:
        """The usage the stream reported (None: it reported none)."""
        ...

    def raw(self) -> bytes: ...


class ChatStreamReader:
    __slots__ = ("_clock", "_kept", "_tail", "times")

    def __init__(self, keep: bool = False) -> None:
        self._clock = StreamTokenClock()
        self.times = self._clock.times
        self._tail = b""
        self._kept: bytearray | None = bytearray() if keep else None

    def feed(self, chunk: bytes, now: float) -> None:
        self._clock.feed(chunk, now)
        self._tail = (self._tail + chunk)[-_TAIL_BYTES:]
        if self._kept is not None and len(self._kept) < MAX_KEPT_BYTES:
            self._kept += chunk

    def outcome(self) -> str:
        done = b"[DONE]" in self._tail
        if not done and b'"error"' in self._tail:
            return OUTCOME_STREAM_ERROR
        if not self.times:
            return OUTCOME_NO_CONTENT
        return OUTCOME_OK if done else OUTCOME_TRUNCATED

    def output_tokens(self) -> int:
        reported = self._clock.completion_tokens
        return self._clock.tokens if reported is None else reported

    def usage(self) -> ReportedUsage | None:
        return self._clock.usage

    def raw(self) -> bytes:
        return bytes(self._kept or b"")


@dataclass(frozen=True, slots=True)
class EventGrammar:
    """What marks a token, the end and an error in one API's typed events."""

    delta_type: bytes  # the event type of a content delta
    nonempty_text: re.Pattern[bytes]  # a delta's text, not empty
    end_types: frozenset[bytes]
    error_types: frozenset[bytes]


RESPONSES_EVENTS: Final = EventGrammar(
    delta_type=b"response.output_text.delta",
    nonempty_text=re.compile(rb'"delta"\s*:\s*"(?!")'),
    end_types=frozenset({b"response.completed", b"response.incomplete"}),
    error_types=frozenset({b"error", b"response.failed"}),
)
MESSAGES_EVENTS: Final = EventGrammar(
    delta_type=b"content_block_delta",
    nonempty_text=re.compile(rb'"(?:text|partial_json)"\s*:\s*"(?!")'),
    end_types=frozenset({b"message_stop"}),
    error_types=frozenset({b"error"}),
)


class EventStreamReader:
    """A Responses or Messages stream: `event:` lines name each event; a `data:` line whose
    object starts with its `type` counts too, for servers that leave the `event:` line out."""

    __slots__ = (
        "_grammar",
        "_input",
        "_kept",
        "_line",
        "_reported",
        "ended",
        "errored",
        "times",
    )

    def __init__(self, grammar: EventGrammar, keep: bool = False) -> None:
        self._grammar = grammar
        self._line = b""
        self._reported: int | None = None
        self._input: int | None = None
        self._kept: bytearray | None = bytearray() if keep else None
        self.times: list[float] = []
        self.ended = False
        self.errored = False

    def feed(self, chunk: bytes, now: float) -> None:
        if self._kept is not None and len(self._kept) < MAX_KEPT_BYTES:
            self._kept += chunk
        data = self._line + chunk if self._line else chunk
        end = data.rfind(b"\n")
        if end < 0:
            self._line = data if len(data) <= _MAX_LINE else b""
            return
        self._line = data[end + 1 :]
        grammar = self._grammar
        for line in data[:end].split(b"\n"):
            if line.startswith(b"data:"):
                if grammar.delta_type in line and grammar.nonempty_text.search(line):
                    self.times.append(now)
                    continue
                if b'"output_tokens"' in line:
                    found = _OUTPUT_TOKENS.findall(line)
                    if found:
                        self._reported = int(found[-1])
                    found = _INPUT_TOKENS.findall(line)
                    if found:
                        self._input = int(found[-1])
                typed = _EVENT_TYPE.match(line)
                if typed is not None:
                    self._saw(typed.group(1))
            elif line.startswith(b"event:"):
                self._saw(line[6:].strip())

    def _saw(self, event_type: bytes) -> None:
        if event_type in self._grammar.end_types:
            self.ended = True
        elif event_type in self._grammar.error_types:
            self.errored = True

    def outcome(self) -> str:
        if self.errored and not self.ended:
            return OUTCOME_STREAM_ERROR
        if not self.times:
            return OUTCOME_NO_CONTENT
        return OUTCOME_OK if self.ended else OUTCOME_TRUNCATED

    def output_tokens(self) -> int:
        return len(self.times) if self._reported is None else self._reported

    def usage(self) -> ReportedUsage | None:
        """The last `input_tokens` and `output_tokens` the stream's usage reported (Messages:
        `message_start` has the input, `message_delta` the output's total)."""
        if self._input is None or self._reported is None:
            return None
        return ReportedUsage(self._input, self._reported)

    def raw(self) -> bytes:
        return bytes(self._kept or b"")


def output_tokens_in(body: bytes) -> int | None:
    """The `output_tokens` a Responses or Messages JSON answer's usage reports."""
    return count_in(body, _OUTPUT_TOKENS)


def native_usage_in(body: bytes) -> ReportedUsage | None:
    """The usage a Responses or Messages JSON answer reports, if it reports both counts."""
    return usage_in(body, _INPUT_TOKENS, _OUTPUT_TOKENS)
