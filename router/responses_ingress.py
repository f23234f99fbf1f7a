"""OpenAI's Responses API (`POST /v1/responses`) served through the Chat Completions pipeline.

A Responses request is translated into the Chat Completions request it means
(`router.wire.responses.request`), which every stage handles as any other (limits, privacy,
cache, routing, fail-over, hedging, cascade); the answer, once every response half has seen it
(privacy's values restored, the cache's copy taken), is translated back: a JSON answer into a
`Response` object (`router.wire.responses.answer`), a stream into the API's typed events
(`router.wire.responses.events`), and a stream broken after its start ends with the API's
`error` event.

The router keeps no responses: `previous_response_id` and the other fields that need a provider's
stored state are refused when the request is parsed, with a 400 naming them.
"""

from __future__ import annotations

import secrets
import time

import orjson

from router.answer import Answer
from router.errors import RouterError
from router.wire.requests import Operation, ParsedRequest, chat_bytes, parse_request
from router.wire.responses.answer import response_from_chat
from router.wire.responses.events import ResponsesEvents
from router.wire.responses.request import ResponsesRequest, parse_responses_request


def parse_responses(raw: bytes) -> tuple[ParsedRequest, ResponsesTranslation]:
    """The Chat Completions request a Responses body means, and the way back for its answer."""
    request = parse_responses_request(raw)
    parsed = parse_request(Operation.CHAT, chat_bytes(request.chat_body))
    return parsed, ResponsesTranslation(request)


def new_id(prefix: str) -> str:
    """An id in OpenAI's style for a response or an output item (`resp_...`, `msg_...`)."""
    return f"{prefix}_{secrets.token_hex(24)}"


class ResponsesTranslation:
    """A Chat Completions answer as the Responses API's: an `AnswerFilter` applied last."""

    __slots__ = ("_created_at", "_events", "_request", "_response_id")

    def __init__(self, request: ResponsesRequest) -> None:
        self._request = request
        self._response_id = new_id("resp")
        self._created_at = int(time.time())
        self._events: ResponsesEvents | None = None

    def apply(self, answer: Answer) -> None:
        answer.wrap(self)
        answer.terminal_error = self.terminal_error

    def body(self, body: bytes) -> bytes:
        # JSON: the forwarding stage checked it (and an answer from the cache was such a body).
        response = response_from_chat(
            self._request, orjson.loads(body), response_id=self._response_id, new_id=new_id
        )
        return orjson.dumps(response)

    def feed(self, chunk: bytes) -> bytes:
        return self._stream().feed(chunk)

    def finish(self, complete: bool) -> bytes:
        return self._stream().finish(complete)

    def terminal_error(self, error: RouterError) -> bytes:
        return self._stream().error(error.code, error.message, error.param)

    def _stream(self) -> ResponsesEvents:
        events = self._events
        if events is None:
            events = self._events = ResponsesEvents(
                self._request,
                response_id=self._response_id,
                created_at=self._created_at,
                new_id=new_id,
            )
        return events
