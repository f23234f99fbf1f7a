"""OpenAI's Responses API (`POST /v1/responses`) served through the Chat Completions pipeline.

A Responses request is translated into the Chat Completions request it means
(`router.wire.responses.request`), which every stage handles as any other (limits, privacy,
cache, routing, fail-over, hedging, cascade); the answer, once every response half has seen it
(privacy's values restored, the cache's copy taken), is translated back: a JSON answer into a
`Response` object (`router.wire.responses.answer`), a stream into the API's typed events
(`router.wire.responses.events`), and a stream broken after its start ends with the API's
`error` event.

An endpoint that speaks Responses gets the request itself (`router.wire.native`), and its answer
comes back in the API's format: it goes to the client as it is, and a stream of it broken after
its start ends with the API's `error` event, numbered after the last event relayed. The router
keeps no responses: `previous_response_id` goes to the endpoint that produced the response
(`router.stages.affinity`); the other fields that need stored state are refused when the request
is parsed, with a 400 naming them.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import replace

import orjson

from router.answer import Answer
from router.errors import RouterError, Untranslatable
from router.wire.native import NativeRequest
from router.wire.requests import (
    Operation,
    ParsedRequest,
    chat_bytes,
    decode_json_object,
    parse_request,
)
from router.wire.responses.answer import response_from_chat
from router.wire.responses.events import ResponsesEvents
from router.wire.responses.request import ResponsesRequest, responses_request
from router.wire.untranslatable import chat_form


def parse_responses(raw: bytes) -> tuple[ParsedRequest, ResponsesTranslation]:
    """The Chat Completions request a Responses body means (without the parts no translation
    carries: `router.wire.untranslatable`), and the way back for its answer."""
    body = decode_json_object(raw)
    request, untranslatable = chat_form(responses_request, body)
    parsed = parse_request(Operation.CHAT, chat_bytes(request.chat_body))
    return parsed, ResponsesTranslation(replace(request, body=body), untranslatable)


def new_id(prefix: str) -> str:
    """An id in OpenAI's style for a response or an output item (`resp_...`, `msg_...`)."""
    return f"{prefix}_{secrets.token_hex(24)}"


class ResponsesTranslation:
    """A Chat Completions answer as the Responses API's: an `AnswerFilter` applied last."""

    __slots__ = ("_created_at", "_events", "_request", "_response_id", "_untranslatable")

    def __init__(self, request: ResponsesRequest, untranslatable: Untranslatable | None) -> None:
        self._request = request
        self._untranslatable = untranslatable
        self._response_id = new_id("resp")
        self._created_at = int(time.time())
        self._events: ResponsesEvents | None = None

    def native(self, headers: Mapping[str, str]) -> NativeRequest:
        return NativeRequest.of(
            "responses", self._request.body, headers, untranslatable=self._untranslatable
        )

    def fallback(self, error: RouterError) -> Answer | None:
        return None

    def apply(self, answer: Answer) -> None:
        if answer.form == "responses":  # passed through: already in the client's API
            numbering = EventNumbering()
            answer.wrap(numbering)
            answer.terminal_error = numbering.error
            return
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


_SEQUENCE_NUMBER = re.compile(rb'"sequence_number":\s*(\d{1,18})')


class EventNumbering:
    """A passed-through Responses stream's last `sequence_number`, read as it passes, for the
    `error` event that ends it if it breaks: numbered after it, as the API's events are. Reads
    only the last number of each chunk (a chunk's events are numbered in order); a number split
    between two chunks is read from the next one's."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last = -1

    def body(self, body: bytes) -> bytes:
        return body

    def feed(self, chunk: bytes) -> bytes:
        at = chunk.rfind(b'"sequence_number"')
        if at >= 0 and (found := _SEQUENCE_NUMBER.match(chunk, at)) is not None:
            self._last = max(self._last, int(found.group(1)))
        return chunk

    def finish(self, complete: bool) -> bytes:
        return b""

    def error(self, error: RouterError) -> bytes:
        event = {
            "type": "error",
            "code": None if error.code is None else str(error.code),
            "message": error.message,
            "param": error.param,
            "sequence_number": self._last + 1,
        }
        return b"event: error\ndata: " + orjson.dumps(event) + b"\n\n"
