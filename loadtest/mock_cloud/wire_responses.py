"""The OpenAI Responses wire format the simulated cloud answers with: `Response` objects and the
typed stream events of `POST /v1/responses`.

One answer is one output item: a message (an `output_text` part, or a `refusal` part) or, for the
tool-call answer kinds, a `function_call` item calling `wire.TOOL_NAME`. A cut at
`max_output_tokens` makes the response `incomplete` (reason `max_output_tokens`), and so does a
`content_filter` answer (reason `content_filter`). Fields the mock does not act on are echoed from
the request with OpenAI's defaults, as OpenAI echoes them.

A stream goes as OpenAI's does: `response.created`, `response.in_progress` (sent with the headers),
then `response.output_item.added` (and `response.content_part.added` for a message) with the first
delta, one delta per token, then the `.done` events and `response.completed` or
`response.incomplete`; every event has an `event:` line and a `sequence_number` from 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import orjson

from .answers import NativeAnswer
from .errors import injected_error
from .parsing_responses import ResponsesRequest
from .wire import TOOL_CALL_ID, TOOL_NAME, Billed, cut_short

_NO_REASONING: Final = {"effort": None, "summary": None}


def response_status(answer: NativeAnswer) -> tuple[str, dict[str, str] | None]:
    """The Response `status` of an answer and its `incomplete_details`."""
    if answer.ended_by == "cap":
        return "incomplete", {"reason": "max_output_tokens"}
    if answer.kind == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def response_usage(input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> dict[str, Any]:
    """`cached_tokens` of the `input_tokens` came from the region's prompt cache."""
    return {
        "input_tokens": input_tokens,
        # `cache_write_tokens` is required by the OpenAPI schema though OpenAI rarely sends it.
        "input_tokens_details": {"cached_tokens": cached_tokens, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def response_object(
    request: ResponsesRequest,
    *,
    response_id: str,
    created_at: int,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    incomplete_details: dict[str, str] | None = None,
    completed_at: int | None = None,
) -> dict[str, Any]:
    """A full Response object. `usage` is left out until it is known: OpenAI sends null, which
    its clients read the same, but its OpenAPI schema does not allow."""
    body = request.body
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "completed_at": completed_at,
        "background": False,
        "error": None,
        "incomplete_details": incomplete_details,
        "instructions": body.get("instructions"),
        "max_output_tokens": request.max_output_tokens,
        "max_tool_calls": body.get("max_tool_calls"),
        "model": request.model,
        "output": output,
        "parallel_tool_calls": _setting(body, "parallel_tool_calls", True),
        "previous_response_id": request.previous_response_id,
        "reasoning": {**_NO_REASONING, **(body.get("reasoning") or {})},
        "service_tier": "default",
        "store": request.store,
        "temperature": _setting(body, "temperature", 1.0),
        "text": {"format": {"type": "text"}, **(body.get("text") or {})},
        "tool_choice": _setting(body, "tool_choice", "auto"),
        "tools": list(request.tools),
        "top_logprobs": _setting(body, "top_logprobs", 0),
        "top_p": _setting(body, "top_p", 1.0),
        "truncation": _setting(body, "truncation", "disabled"),
        "metadata": body.get("metadata") or {},
    }
    if usage is not None:
        response["usage"] = usage
    if isinstance(body.get("user"), str):  # a string in the schema, never null
        response["user"] = body["user"]
    return response


def output_item(answer: NativeAnswer, item_id: str, status: str) -> dict[str, Any]:
    if answer.is_tool_call:
        return {
            "type": "function_call",
            "id": item_id,
            "call_id": TOOL_CALL_ID,
            "name": TOOL_NAME,
            "arguments": answer.arguments if status != "in_progress" else "",
            "status": status,
        }
    content = [] if status == "in_progress" else [_part(answer.kind, answer.text)]
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def response_body(
    request: ResponsesRequest,
    answer: NativeAnswer,
    *,
    response_id: str,
    item_id: str,
    created_at: int,
    completed_at: int,
    input_tokens: int,
    cached_tokens: int = 0,
) -> dict[str, Any]:
    """The JSON (not streamed) answer."""
    status, incomplete_details = response_status(answer)
    return response_object(
        request,
        response_id=response_id,
        created_at=created_at,
        status=status,
        output=[output_item(answer, item_id, _item_status(status))],
        usage=response_usage(input_tokens, answer.output_tokens, cached_tokens),
        incomplete_details=incomplete_details,
        completed_at=completed_at if status == "completed" else None,
    )


class ResponsesStream:
    """The events of one streamed Response, produced in order by `streaming.write_events`:
    `head()`, `opening()`, `token(i)` for each token, then `closing()` or `error(status)`."""

    def __init__(
        self,
        request: ResponsesRequest,
        answer: NativeAnswer,
        *,
        response_id: str,
        item_id: str,
        created_at: int,
        input_tokens: int,
        now: Callable[[], float],
        cached_tokens: int = 0,
    ) -> None:
        self._request = request
        self._cached_tokens = cached_tokens
        self._answer = answer
        self._response_id = response_id
        self._item_id = item_id
        self._created_at = created_at
        self._input_tokens = input_tokens
        self._now = now
        self._sequence_number = 0
        # Set once the closing's terminal event carries the usage (`EventStream.billed`).
        self.billed: Billed | None = None
        if answer.is_tool_call:
            self._delta_type = "response.function_call_arguments.delta"
        elif answer.kind == "refusal":
            self._delta_type = "response.refusal.delta"
        else:
            self._delta_type = "response.output_text.delta"
        # A function call's events have no content part; only text deltas carry `logprobs`.
        part_index = {} if answer.is_tool_call else {"content_index": 0}
        self._item_fields = {"item_id": item_id, "output_index": 0, **part_index}
        self._logprobs: dict[str, list[Any]] = (
            {"logprobs": []} if self._delta_type == "response.output_text.delta" else {}
        )

    @property
    def tokens(self) -> int:
        return self._answer.output_tokens

    def head(self) -> bytes:
        response = self._response("in_progress", [])
        return self._event("response.created", response=response) + self._event(
            "response.in_progress", response=response
        )

    def opening(self) -> bytes:
        item = output_item(self._answer, self._item_id, "in_progress")
        added = self._event("response.output_item.added", output_index=0, item=item)
        if self._answer.is_tool_call:
            return added
        part = _part(self._answer.kind, "")
        return added + self._event("response.content_part.added", **self._item_fields, part=part)

    def token(self, i: int) -> bytes:
        delta = self._answer.deltas[i]
        return self._event(self._delta_type, **self._item_fields, delta=delta, **self._logprobs)

    def closing(self, *, terminal: bool = True) -> bytes:
        """The `.done` events, then `response.completed` (or `.incomplete`) unless not
        `terminal`."""
        answer = self._answer
        status, incomplete_details = response_status(answer)
        item = output_item(answer, self._item_id, _item_status(status))
        if answer.is_tool_call:
            events = [
                self._event(
                    "response.function_call_arguments.done",
                    **self._item_fields,
                    name=TOOL_NAME,
                    arguments=answer.arguments,
                )
            ]
        else:
            done_type = self._delta_type.removesuffix(".delta") + ".done"
            text = (
                {"refusal": answer.text}
                if answer.kind == "refusal"
                else {"text": answer.text, **self._logprobs}
            )
            part = item["content"][0]
            events = [
                self._event(done_type, **self._item_fields, **text),
                self._event("response.content_part.done", **self._item_fields, part=part),
            ]
        events.append(self._event("response.output_item.done", output_index=0, item=item))
        if not terminal:
            return b"".join(events)
        response = self._response(
            status,
            [item],
            usage=response_usage(self._input_tokens, answer.output_tokens, self._cached_tokens),
            incomplete_details=incomplete_details,
            completed_at=int(self._now()) if status == "completed" else None,
        )
        events.append(self._event(f"response.{status}", response=response))
        self.billed = Billed(self._input_tokens, answer.output_tokens)
        return b"".join(events)

    def error(self, status: int) -> bytes:
        """OpenAI's in-band `error` event. The fields are at the top level, as the API reference
        and the OpenAPI schema have them, and also under `error`, as OpenAI sends them (for a
        quota error, say), and as the official Python client reads them to raise an APIError."""
        error = injected_error(status, "openai")
        code = error.code or error.error_type
        fields = {"code": code, "message": error.message, "param": error.param}
        return self._event("error", **fields, error={"type": error.error_type, **fields})

    def malformed(self) -> bytes:
        """A delta cut short, numbered as the next event: it takes no number from the events
        that follow, so the valid ones stay consecutive."""
        fields = {**self._item_fields, "delta": "", **self._logprobs}
        return cut_short(_encode(self._delta_type, self._sequence_number, fields))

    def _response(self, status: str, output: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        return response_object(
            self._request,
            response_id=self._response_id,
            created_at=self._created_at,
            status=status,
            output=output,
            **fields,
        )

    def _event(self, event_type: str, **fields: Any) -> bytes:
        event = _encode(event_type, self._sequence_number, fields)
        self._sequence_number += 1
        return event


def _encode(event_type: str, sequence_number: int, fields: dict[str, Any]) -> bytes:
    event = {"type": event_type, "sequence_number": sequence_number, **fields}
    return b"event: " + event_type.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def _part(kind: str, text: str) -> dict[str, Any]:
    if kind == "refusal":
        return {"type": "refusal", "refusal": text}
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _item_status(response_status: str) -> str:
    return "completed" if response_status == "completed" else "incomplete"


def _setting(body: dict[str, Any], name: str, default: object) -> Any:
    """The client's setting, or OpenAI's default when it sent none (or null)."""
    value = body.get(name)
    return default if value is None else value
