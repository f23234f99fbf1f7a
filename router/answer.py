"""What the pipeline answers with: a whole body or a stream of chunks, not yet written anywhere.

A stage that answers returns an `Answer`; the stages that ran before it may each wrap it on the way
back (their response halves, `router.pipeline`), and the server writes it to the client in one
place (`router.answer_writer`). An answer is not an aiohttp object, so a stage can be tested by
calling it and looking at what it returned, with no server.

A response half wraps an answer with an `AnswerFilter`: it sees a JSON answer's body whole, or a
stream's chunks one by one as they go to the client, and may change them (restore redacted
values) or only read them (capture the answer for the cache). A stream without filters is passed
through untouched: a stage that has nothing to do with an answer's bytes costs it nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from router.errors import RouterError
from router.wire.native import AnswerForm, NativeRequest
from router.wire.sse import error_event

Source = Literal["upstream", "cache"]


class Chunks(Protocol):
    """A stream's chunks as they arrive. The first is already there when the answer is made
    (a stream is committed to the client only once it has a first byte); `aclose` ends the
    stream early (the client went away) and must be called whatever happened."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class AnswerFilter(Protocol):
    """A response half's view of one answer."""

    def body(self, body: bytes) -> bytes:
        """A whole JSON answer, as the client will get it from this filter on."""
        ...

    def feed(self, chunk: bytes) -> bytes:
        """One chunk of a stream; what to send on (b"" to hold it back for now)."""
        ...

    def finish(self, complete: bool) -> bytes:
        """The stream ended, once and always: `complete` when it ended normally, False when it
        broke or the client left. Returns what was held back (sent only while the client is
        there)."""
        ...


@dataclass(slots=True)
class Answer:
    """A JSON body (`body`) or an SSE stream (`chunks`): exactly one of the two."""

    body: bytes | None = None
    chunks: Chunks | None = None
    source: Source = "upstream"
    # Chat Completions' (every stage's), or the native API an endpoint answered a passed-through
    # request in (`router.forwarding.upstream_format`): the ingress then hands it on as it is.
    form: AnswerForm = "chat"
    # Headers of this answer beyond the decision's `x-router-*` ones (a cache entry's id).
    headers: dict[str, str] = field(default_factory=dict)
    filters: list[AnswerFilter] = field(default_factory=list)
    # The last event of a stream that broke after its first byte, in the client's format.
    terminal_error: Callable[[RouterError], bytes] = error_event

    def wrap(self, answer_filter: AnswerFilter) -> None:
        """Add a response half's filter: it sees what the filters added before it let through."""
        self.filters.append(answer_filter)

    def filtered_body(self) -> bytes:
        body = self.body
        assert body is not None, "a stream has no body"
        for answer_filter in self.filters:
            body = answer_filter.body(body)
        return body


class Translation(Protocol):
    """How an answer in Chat Completions' format becomes the one its client's API speaks (the
    Responses API's): applied by the handler after every response half, so it sees the answer as
    the client would have had it in Chat Completions' format."""

    def apply(self, answer: Answer) -> None: ...

    def native(self, headers: Mapping[str, str]) -> NativeRequest:
        """The request in its own API, for an endpoint that speaks it; `headers`: the client's."""
        ...

    def fallback(self, error: RouterError) -> Answer | None:
        """The answer the ingress gives itself when the pipeline failed with `error`, if any
        (`count_tokens`' local estimate); None: the client gets the error."""
        ...


class ReadyChunks:
    """A stream made of chunks already in hand (a cached answer replayed as SSE)."""

    __slots__ = ("_chunks",)

    def __init__(self, *chunks: bytes) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        """Nothing to close."""
