"""Anthropic's Messages API (`POST /v1/messages`) served through the Chat Completions pipeline.

As for the Responses API (`router.responses_ingress`): a Messages request is translated into the
Chat Completions request it means (`router.wire.messages.request`), which every stage handles as
any other, and the answer, once every response half has seen it, goes back as a Message
(`router.wire.messages.answer`) or as Anthropic's stream events (`router.wire.messages.events`);
a stream broken after its start ends with Anthropic's `error` event. Errors on this ingress have
Anthropic's shape (`router.wire.messages.errors`, chosen by path in the server's middleware).

An endpoint that speaks Messages gets the request itself, with the client's `anthropic-version`
and `anthropic-beta` (`router.wire.native`), and its answer comes back in Anthropic's format: it
goes to the client as it is, and a stream of it broken after its start ends with Anthropic's
`error` event.

`POST /v1/messages/count_tokens` goes through the pipeline too (`parse_count_tokens`), so that
limits, privacy and routing apply, but only to endpoints that speak Messages (a count has no
other form): the endpoint's own count comes back as it is. Where none can count it (the alias
has none, none is healthy or eligible, the data must stay at the edge, or they all failed), the
router answers with its own estimate (`estimated_input_tokens`) and says so in
`x-router-count: estimate`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import replace

import orjson

from router.answer import Answer
from router.errors import (
    NoEligibleEndpoint,
    NoLocalModel,
    RouterError,
    Untranslatable,
    UpstreamError,
    status_of,
)
from router.wire.messages.answer import message_from_chat
from router.wire.messages.errors import anthropic_error_type
from router.wire.messages.events import MessagesEvents
from router.wire.messages.request import (
    MessagesRequest,
    count_tokens_request,
    estimated_input_tokens,
    messages_request,
)
from router.wire.native import NativeRequest
from router.wire.requests import (
    Operation,
    ParsedRequest,
    chat_bytes,
    decode_json_object,
    parse_request,
)
from router.wire.untranslatable import chat_form

# The paths whose errors have Anthropic's shape.
MESSAGES_PATHS = ("/v1/messages", "/v1/messages/count_tokens")


def parse_messages(raw: bytes) -> tuple[ParsedRequest, MessagesTranslation]:
    """The Chat Completions request a Messages body means (without the parts no translation
    carries: `router.wire.untranslatable`), and the way back for its answer."""
    body = decode_json_object(raw)
    request, untranslatable = chat_form(messages_request, body)
    parsed = parse_request(Operation.CHAT, chat_bytes(request.chat_body))
    return parsed, MessagesTranslation(replace(request, body=body), untranslatable)


def parse_count_tokens(raw: bytes) -> tuple[ParsedRequest, CountTokensTranslation]:
    """The Chat Completions form of a `count_tokens` body (its prompt), and its way back."""
    body = decode_json_object(raw)
    request, untranslatable = chat_form(count_tokens_request, body)
    parsed = parse_request(Operation.CHAT, chat_bytes(request.chat_body))
    return parsed, CountTokensTranslation(replace(request, body=body), untranslatable)


# Errors after which the router counts itself: no endpoint could (not the client's mistakes, its
# limits or its policy's refusals, which it gets as they are).
_COUNT_HERE = (NoEligibleEndpoint, NoLocalModel, UpstreamError)
ESTIMATE_HEADER = "x-router-count"


class CountTokensTranslation:
    """A `count_tokens` answer: an endpoint's own count, or the router's estimate."""

    __slots__ = ("_request", "_untranslatable")

    def __init__(self, request: MessagesRequest, untranslatable: Untranslatable | None) -> None:
        self._request = request
        self._untranslatable = untranslatable

    def native(self, headers: Mapping[str, str]) -> NativeRequest:
        return NativeRequest.of(
            "messages",
            self._request.body,
            headers,
            count_tokens=True,
            untranslatable=self._untranslatable,
        )

    def apply(self, answer: Answer) -> None:
        """An endpoint's count is sent as it is; only one that speaks Messages is asked."""

    def fallback(self, error: RouterError) -> Answer | None:
        if not isinstance(error, _COUNT_HERE) or self._untranslatable is not None:
            return None  # an estimate without the parts left out would be no count of it
        count = {"input_tokens": estimated_input_tokens(self._request)}
        return Answer(body=orjson.dumps(count), headers={ESTIMATE_HEADER: "estimate"})


class MessagesTranslation:
    """A Chat Completions answer as Anthropic's Messages API's: an `AnswerFilter` applied last."""

    __slots__ = ("_events", "_message_id", "_request", "_untranslatable")

    def __init__(self, request: MessagesRequest, untranslatable: Untranslatable | None) -> None:
        self._request = request
        self._untranslatable = untranslatable
        self._message_id = f"msg_{secrets.token_hex(12)}"
        self._events: MessagesEvents | None = None

    def native(self, headers: Mapping[str, str]) -> NativeRequest:
        return NativeRequest.of(
            "messages", self._request.body, headers, untranslatable=self._untranslatable
        )

    def fallback(self, error: RouterError) -> Answer | None:
        return None

    def apply(self, answer: Answer) -> None:
        if answer.form == "messages":  # passed through: already in the client's API
            answer.terminal_error = error_event
            return
        answer.wrap(self)
        answer.terminal_error = self.terminal_error

    def body(self, body: bytes) -> bytes:
        # JSON: the forwarding stage checked it (and an answer from the cache was such a body).
        message = message_from_chat(self._request, orjson.loads(body), message_id=self._message_id)
        return orjson.dumps(message)

    def feed(self, chunk: bytes) -> bytes:
        return self._stream().feed(chunk)

    def finish(self, complete: bool) -> bytes:
        return self._stream().finish(complete)

    def terminal_error(self, error: RouterError) -> bytes:
        return self._stream().error(status_of(error), error.message)

    def _stream(self) -> MessagesEvents:
        events = self._events
        if events is None:
            events = self._events = MessagesEvents(self._request, message_id=self._message_id)
        return events


def error_event(error: RouterError) -> bytes:
    """Anthropic's `error` event, ending a passed-through stream that broke after its start."""
    event = {
        "type": "error",
        "error": {"type": anthropic_error_type(status_of(error)), "message": error.message},
    }
    return b"event: error\ndata: " + orjson.dumps(event) + b"\n\n"
