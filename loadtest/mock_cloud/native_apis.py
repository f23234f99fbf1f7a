"""The Responses and Messages endpoints of one region: a request body in, a reply out.

The region's HTTP face (`region_http`) has already counted, recorded, delayed and maybe failed the
request; here it is read (`parsing_responses`, `parsing_messages`), answered (`answers`) and put
in its API's wire format (`wire_responses`, `wire_messages`). A reply is a JSON body with the
delay the answer takes beyond the round trip, or a stream for `streaming.write_events`.

Responses are stored here, in the region's `ResponseStore`, when the request says `store` (the
default) and the answer does not fail in band; a `previous_response_id` the region did not store
(never made, not stored, dropped, or another region's) is OpenAI's 400.

Both are served through the region's prompt cache (`prompt_cache`): the usage says how many input
tokens it served, and the answer starts after the request's own time to first token.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import orjson
from multidict import CIMultiDictProxy

from .answers import native_answer
from .errors import RequestRejected
from .parsing import json_object
from .parsing_messages import count_input_tokens, messages_json, messages_request
from .parsing_responses import responses_request
from .prompt_cache import messages_prompt, responses_prompt
from .region_state import RegionState
from .response_store import StoredResponse
from .settings import RegionSettings
from .streaming import EventStream, answer_delay_s
from .wire import Billed
from .wire_messages import MessagesStream, message_body
from .wire_responses import ResponsesStream, response_body

ANTHROPIC_VERSION_HEADER: Final = "anthropic-version"


@dataclass(frozen=True, slots=True)
class JsonReply:
    body: bytes
    delay_s: float  # beyond the round trip
    ttft_ms: float | None = None  # the request's time to first token, when it has one
    billed: Billed | None = None  # the usage the body reports, if it reports any


@dataclass(frozen=True, slots=True)
class StreamReply:
    stream: EventStream
    inband_error: bool
    ttft_ms: float


Reply = JsonReply | StreamReply
# Whether a stream fails in band (a draw of the region's randomness, counted when it does).
InbandDraw = Callable[[RegionSettings], bool]


class NativeApis:
    def __init__(self, state: RegionState, ids: itertools.count[int]) -> None:
        self._state = state
        self._region = state.settings.name
        self._ids = ids

    def responses(self, settings: RegionSettings, body: bytes, inband: InbandDraw) -> Reply:
        request = responses_request(json_object(body), settings)
        input_tokens = request.input_tokens
        previous = None
        if request.previous_response_id is not None:
            previous = self._state.responses.get(request.previous_response_id)
            if previous is None:
                raise RequestRejected(
                    400,
                    f"Previous response with id '{request.previous_response_id}' not found.",
                    param="previous_response_id",
                    code="previous_response_not_found",
                )
            input_tokens += previous.context_tokens
        input_tokens = max(1, input_tokens)
        prompt = responses_prompt(request, previous) if settings.prompt_cache else []
        served = self._state.serve_prompt(settings, prompt, input_tokens)
        answer = native_answer(settings, request.echo_text, request.max_output_tokens, ())
        n = next(self._ids)
        response_id = f"resp_{self._region}_{n}"
        item_id = f"{'fc' if answer.is_tool_call else 'msg'}_{self._region}_{n}"
        inband_error = request.stream and inband(settings)
        if request.store and not inband_error:
            digest, tokens = prompt[-1] if prompt else (b"", 0)
            context_tokens = input_tokens + answer.output_tokens
            self._state.responses.put(StoredResponse(response_id, context_tokens, digest, tokens))
        now = time.time()
        if request.stream:
            stream = ResponsesStream(
                request,
                answer,
                response_id=response_id,
                item_id=item_id,
                created_at=int(now),
                input_tokens=input_tokens,
                now=time.time,
                cached_tokens=served.cached_tokens,
            )
            return StreamReply(stream, inband_error, served.ttft_ms)
        delay_s = answer_delay_s(settings, answer.output_tokens, served.ttft_ms)
        response = response_body(
            request,
            answer,
            response_id=response_id,
            item_id=item_id,
            created_at=int(now),
            completed_at=int(now + delay_s),
            input_tokens=input_tokens,
            cached_tokens=served.cached_tokens,
        )
        billed = Billed(input_tokens, answer.output_tokens)
        return JsonReply(orjson.dumps(response), delay_s, served.ttft_ms, billed)

    def messages(
        self,
        headers: CIMultiDictProxy[str],
        settings: RegionSettings,
        body: bytes,
        inband: InbandDraw,
    ) -> Reply:
        _require_version(headers)
        request = messages_request(messages_json(body), settings)
        prompt = messages_prompt(request) if settings.prompt_cache else []
        served = self._state.serve_prompt(settings, prompt, request.input_tokens)
        answer = native_answer(
            settings, request.echo_text, request.max_tokens, request.stop_sequences
        )
        message_id = f"msg_{self._region}_{next(self._ids)}"
        if request.stream:
            stream = MessagesStream(
                answer,
                message_id=message_id,
                model=request.model,
                input_tokens=request.input_tokens,
                cached_tokens=served.cached_tokens,
            )
            return StreamReply(stream, inband(settings), served.ttft_ms)
        message = message_body(
            answer,
            message_id=message_id,
            model=request.model,
            input_tokens=request.input_tokens,
            cached_tokens=served.cached_tokens,
        )
        delay_s = answer_delay_s(settings, answer.output_tokens, served.ttft_ms)
        # As `message_usage` reports it: cache reads left out of `input_tokens`.
        billed = Billed(request.input_tokens - served.cached_tokens, answer.output_tokens)
        return JsonReply(orjson.dumps(message), delay_s, served.ttft_ms, billed)

    def count_tokens(
        self, headers: CIMultiDictProxy[str], settings: RegionSettings, body: bytes
    ) -> JsonReply:
        _require_version(headers)
        input_tokens = count_input_tokens(messages_json(body), settings)
        return JsonReply(orjson.dumps({"input_tokens": input_tokens}), 0.0)


def _require_version(headers: CIMultiDictProxy[str]) -> None:
    if ANTHROPIC_VERSION_HEADER not in headers:
        raise RequestRejected(400, f"{ANTHROPIC_VERSION_HEADER}: header is required")
