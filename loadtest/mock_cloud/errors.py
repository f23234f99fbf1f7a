"""Errors a region answers with, in the shape of the API that was asked.

An error is one set of fields (`ApiError`) rendered as OpenAI's body
(`{"error": {"message", "type", "param", "code"}}`) on the OpenAI paths or as Anthropic's
(`{"type": "error", "error": {"type", "message"}}`) on the Messages paths. Anthropic's error
`type` follows the HTTP status as its API reference lists them, so it is derived, never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

import orjson

# OpenAI's APIs (chat, completions, embeddings, models, responses) or Anthropic's (messages).
Dialect = Literal["openai", "anthropic"]

_ANTHROPIC_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(
    message: str, error_type: str, *, param: str | None = None, code: str | None = None
) -> bytes:
    return orjson.dumps(
        {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    )


@dataclass(frozen=True, slots=True)
class ApiError:
    status: int
    message: str
    error_type: str = "invalid_request_error"  # OpenAI's `type`
    param: str | None = None
    code: str | None = None

    def openai_body(self) -> bytes:
        return error_body(self.message, self.error_type, param=self.param, code=self.code)

    def anthropic_body(self) -> bytes:
        return anthropic_error_body(self.status, self.message)

    def body(self, dialect: Dialect) -> bytes:
        return self.openai_body() if dialect == "openai" else self.anthropic_body()


class RequestRejected(Exception):
    """The request is answered with an error body instead of a result."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.error = ApiError(status, message, error_type, param, code)

    @property
    def status(self) -> int:
        return self.error.status

    @property
    def body(self) -> bytes:
        """The OpenAI error body."""
        return self.error.openai_body()


def anthropic_error_type(status: int) -> str:
    """Anthropic's error `type` for a status: other 4xx are `invalid_request_error` (the client
    must change the request), other 5xx `api_error` (a failure on the API's side)."""
    if status in _ANTHROPIC_TYPES:
        return _ANTHROPIC_TYPES[status]
    return "invalid_request_error" if status < 500 else "api_error"


def anthropic_error_object(status: int, message: str) -> dict[str, object]:
    return {"type": "error", "error": {"type": anthropic_error_type(status), "message": message}}


def anthropic_error_body(status: int, message: str) -> bytes:
    return orjson.dumps(anthropic_error_object(status, message))


@lru_cache(maxsize=64)
def injected_error(status: int, dialect: Dialect) -> ApiError:
    """The error `error_rate` (and `inband_error_rate`) injects, as each API words it."""
    if dialect == "anthropic":
        return ApiError(status, _ANTHROPIC_MESSAGES.get(status, _fallback_message(status)))
    if status == 429:
        return ApiError(
            status,
            "Rate limit reached (simulated by the mock cloud).",
            "requests",
            code="rate_limit_exceeded",
        )
    if status >= 500:
        return ApiError(
            status,
            "The server had an error while processing your request. Sorry about that! "
            "(simulated by the mock cloud)",
            "server_error",
        )
    return ApiError(status, f"Simulated error {status} (mock cloud).")


_ANTHROPIC_MESSAGES: Final = {
    429: "Rate limit exceeded (simulated by the mock cloud).",
    500: "Internal server error (simulated by the mock cloud).",
    503: "Service unavailable (simulated by the mock cloud).",
    529: "Overloaded (simulated by the mock cloud).",
}
# The fault modes' 400s (`faults`), by API (`settings.API_NAMES`), worded as each provider words
# them: routers recognise a context overflow by OpenAI's code or by Anthropic's message, and the
# figures only have to be plausible (gpt-4o's and Claude's windows, one token over).
_CONTEXT_LENGTH_ERRORS: Final = {
    "chat": ApiError(
        400,
        "This model's maximum context length is 128000 tokens. However, your messages resulted "
        "in 128001 tokens. Please reduce the length of the messages.",
        param="messages",
        code="context_length_exceeded",
    ),
    "responses": ApiError(
        400,
        "Your input exceeds the context window of this model. Please adjust your input and try "
        "again.",
        param="input",
        code="context_length_exceeded",
    ),
    "messages": ApiError(400, "prompt is too long: 200001 tokens > 200000 maximum"),
}
_PREFILL_MESSAGE: Final = (
    "This model does not support assistant message prefill. The conversation must end with a "
    "user message."
)
_PREFILL_PARAM: Final = {"chat": "messages", "responses": "input", "messages": None}


def context_length_error(api: str) -> ApiError:
    """A prompt longer than the model's window, as the API (`settings.API_NAMES`) answers it."""
    return _CONTEXT_LENGTH_ERRORS[api]


def prefill_rejected_error(api: str) -> ApiError:
    """A conversation that ends with the assistant's message, refused by a model without
    prefill."""
    return ApiError(400, _PREFILL_MESSAGE, param=_PREFILL_PARAM[api])


def _fallback_message(status: int) -> str:
    return f"Simulated error {status} (mock cloud)."
