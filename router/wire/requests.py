"""Parsing and validating OpenAI request bodies: only what routing needs, once.

The body is decoded with orjson once (and scanned for repeated keys by a pass that builds nothing,
`router.wire.duplicate_keys`); the checks below are the ones the OpenAI API itself makes before
serving (types and ranges of the fields it documents), each failing with a 400 that names the
`param`. Unknown fields are left alone: the raw bytes are forwarded unchanged unless the upstream's
model name differs from the public alias (or the privacy stage redacted the body). So that the body
the stages check is the body an upstream reads, a body that repeats a key in any object is refused,
and every field an upstream may read as an output cap (`max_tokens`, `max_completion_tokens`, `n`,
`best_of`) is checked, not only the first found.
Full JSON Schema validation per request would cost hundreds of microseconds; the schema is checked
in tests instead.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from router.errors import InvalidRequest
from router.wire.duplicate_keys import check_unique_keys

# The most output tokens a request may ask for per choice: above any model's output limit today
# (the largest are about 128k), far below sizes that overflow an upstream's 32- or 64-bit counters
# or a budget estimate (`2**63` tokens). The router knows no per-model context length.
MAX_OUTPUT_TOKENS = 2**20


class Operation(enum.Enum):
    CHAT = ("chat", "/chat/completions")
    COMPLETION = ("text_completion", "/completions")
    EMBEDDINGS = ("embeddings", "/embeddings")

    def __init__(self, otel_name: str, path: str) -> None:
        self.otel_name = otel_name  # gen_ai.operation.name
        self.path = path


@dataclass(slots=True)
class ParsedRequest:
    operation: Operation
    raw: bytes
    body: dict[str, Any]
    model: str
    stream: bool
    include_usage: bool
    # The larger of `max_tokens` and `max_completion_tokens` (an upstream may read either), per
    # choice; None when the request states neither.
    max_output_tokens: int | None
    # A cheap input-size estimate (about four bytes a token) for pricing before the upstream counts.
    estimated_input_tokens: int
    # Completions the upstream generates: `n`, or `best_of` when larger (it generates best_of
    # and returns n); 1 by default.
    choices: int = 1

    def estimated_output_tokens(self, assumed_per_choice: int) -> int:
        """Output tokens the request may cost at most: its cap (or `assumed_per_choice` when it
        states none) for each choice the upstream generates."""
        per_choice = self.max_output_tokens
        if per_choice is None:
            per_choice = assumed_per_choice
        return per_choice * self.choices

    def with_body(self, body: dict[str, Any]) -> ParsedRequest:
        """The same request with another body of the same shape (its PII redacted)."""
        return dataclasses.replace(self, raw=orjson.dumps(body), body=body)

    def body_for(self, upstream_model: str, *, with_logprobs: bool = False) -> bytes:
        """The bytes to send upstream: the client's own unless the model name must change, or
        the router needs token log-probabilities (the cascade) that the client did not ask for."""
        wants_logprobs = with_logprobs and self.body.get("logprobs") is not True
        if upstream_model == self.model and not wants_logprobs:
            return self.raw
        body = {**self.body, "model": upstream_model}
        if wants_logprobs:
            body["logprobs"] = True
        return orjson.dumps(body)


_CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def parse_request(operation: Operation, raw: bytes) -> ParsedRequest:
    body = decode_json_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _missing_or_invalid("model", model, "a non-empty string")
    _VALIDATORS[operation](body)
    stream = _optional_bool(body, "stream") or False
    include_usage = False
    stream_options = body.get("stream_options")
    if stream_options is not None:
        if not isinstance(stream_options, dict):
            raise _invalid_type("stream_options", "an object")
        if not stream:
            raise InvalidRequest(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
        include_usage = _optional_bool(stream_options, "include_usage", "stream_options.") or False
    if stream and operation is Operation.EMBEDDINGS:
        raise InvalidRequest("Embeddings cannot be streamed.", param="stream")
    return ParsedRequest(
        operation=operation,
        raw=raw,
        body=body,
        model=model,
        stream=stream,
        include_usage=include_usage,
        max_output_tokens=_max_output_tokens(body),
        estimated_input_tokens=max(1, len(raw) // 4),
        choices=_choices(body),
    )


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """A request body decoded: a JSON object whose objects repeat no key, or a 400."""
    if not raw:
        raise InvalidRequest(
            "We could not parse the JSON body of your request: the body is empty.", param=None
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"We could not parse the JSON body of your request. ({exc.args[0]})"
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    check_unique_keys(raw)
    # orjson reads 1,024 levels of nesting but writes only 254: a body between the two would
    # fail later, where a stage writes it again (a model renamed, PII redacted, a translation).
    # Only a body with that many brackets at all can be so deep, so the check is rarely made.
    if raw.count(b"[") + raw.count(b"{") > _WRITABLE_DEPTH:
        try:
            orjson.dumps(body)
        except orjson.JSONEncodeError:
            raise InvalidRequest(
                f"The request body is nested more than {_WRITABLE_DEPTH} levels deep."
            ) from None
    return body


_WRITABLE_DEPTH = 254


def chat_bytes(chat_body: dict[str, Any]) -> bytes:
    """A Chat Completions body translated from another API's, written: a 400 when it nests
    deeper than can be written (the translation adds a level or two to what the client sent)."""
    try:
        return orjson.dumps(chat_body)
    except orjson.JSONEncodeError:
        raise InvalidRequest(
            f"The request body is nested more than {_WRITABLE_DEPTH} levels deep."
        ) from None


def _validate_chat(body: Mapping[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _missing_or_invalid("messages", messages, "a non-empty array of messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _invalid_type(f"messages[{i}]", "an object")
        role = message.get("role")
        # The type check first: a list or object as the role is unhashable for the set lookup.
        if not isinstance(role, str) or role not in _CHAT_ROLES:
            raise InvalidRequest(
                f"Invalid value for 'messages[{i}].role': expected one of "
                f"{', '.join(sorted(_CHAT_ROLES))}.",
                param=f"messages[{i}].role",
            )
        content = message.get("content")
        if content is None and role in ("system", "developer", "user", "tool"):
            raise InvalidRequest(
                f"Missing required parameter: 'messages[{i}].content'.",
                param=f"messages[{i}].content",
            )
        if content is not None and not isinstance(content, str | list):
            raise _invalid_type(f"messages[{i}].content", "a string or an array of parts")
    _check_sampling(body, min_max_tokens=1)
    _optional_int(body, "seed")
    _optional_number(body, "top_p", 0.0, 1.0)
    _check_stop(body)
    for name in ("tools", "functions"):
        value = body.get(name)
        if value is not None and not isinstance(value, list):
            raise _invalid_type(name, "an array")
    _optional_bool(body, "logprobs")
    _optional_int(body, "top_logprobs", minimum=0, maximum=20)


def _validate_completion(body: Mapping[str, Any]) -> None:
    prompt = body.get("prompt")
    if prompt is None or not _is_text_or_tokens(prompt):
        raise _missing_or_invalid(
            "prompt", prompt, "a string, an array of strings, or an array of token arrays"
        )
    # 0 is valid for completions (the spec's minimum): with `echo` it scores a prompt without
    # generating, which evaluation harnesses rely on. Chat refuses 0.
    _check_sampling(body, min_max_tokens=0)
    _optional_int(body, "best_of", minimum=0, maximum=20)
    _optional_int(body, "logprobs", minimum=0, maximum=5)
    _optional_int(body, "seed")
    _optional_number(body, "top_p", 0.0, 1.0)
    _check_stop(body)


def _validate_embeddings(body: Mapping[str, Any]) -> None:
    value = body.get("input")
    if value is None or not _is_text_or_tokens(value) or value in ("", []):
        raise _missing_or_invalid(
            "input", value, "a non-empty string, array of strings, or array of token arrays"
        )
    encoding = body.get("encoding_format")
    if encoding is not None and encoding not in ("float", "base64"):
        raise InvalidRequest(
            "Invalid value for 'encoding_format': expected 'float' or 'base64'.",
            param="encoding_format",
        )
    _optional_int(body, "dimensions", minimum=1)


_VALIDATORS: dict[Operation, Callable[[Mapping[str, Any]], None]] = {
    Operation.CHAT: _validate_chat,
    Operation.COMPLETION: _validate_completion,
    Operation.EMBEDDINGS: _validate_embeddings,
}


def _check_sampling(body: Mapping[str, Any], *, min_max_tokens: int) -> None:
    """The output caps, whichever an upstream reads (an OpenAI-compatible server may read either
    token field on either operation), and the sampling parameters."""
    for name in ("max_tokens", "max_completion_tokens"):
        _optional_int(body, name, minimum=min_max_tokens, maximum=MAX_OUTPUT_TOKENS)
    _optional_int(body, "n", minimum=1, maximum=128)
    _optional_number(body, "temperature", 0.0, 2.0)
    _optional_number(body, "presence_penalty", -2.0, 2.0)
    _optional_number(body, "frequency_penalty", -2.0, 2.0)
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise _invalid_type("user", "a string")


def _check_stop(body: Mapping[str, Any]) -> None:
    stop = body.get("stop")
    if stop is None or isinstance(stop, str):
        return
    if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) for s in stop):
        raise _invalid_type("stop", "a string or an array of at most 4 strings")


def _is_text_or_tokens(value: object) -> bool:
    if isinstance(value, str):
        return True
    if not isinstance(value, list):
        return False
    return (
        all(isinstance(v, str) for v in value)
        or all(_is_int(v) for v in value)
        or all(isinstance(v, list) and all(_is_int(t) for t in v) for v in value)
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _max_output_tokens(body: Mapping[str, Any]) -> int | None:
    caps = _ints(body, ("max_completion_tokens", "max_tokens"))
    return max(caps) if caps else None


def _choices(body: Mapping[str, Any]) -> int:
    return max([1, *_ints(body, ("n", "best_of"))])


def _ints(body: Mapping[str, Any], names: tuple[str, ...]) -> list[int]:
    values: list[int] = []
    for name in names:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            values.append(value)
    return values


def _optional_bool(body: Mapping[str, Any], name: str, prefix: str = "") -> bool | None:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise _invalid_type(prefix + name, "a boolean")


def _optional_int(
    body: Mapping[str, Any], name: str, *, minimum: int | None = None, maximum: int | None = None
) -> None:
    value = body.get(name)
    if value is None:
        return
    if not _is_int(value):
        raise _invalid_type(name, "an integer")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise InvalidRequest(
            f"Invalid '{name}': integer must be {bounds}, got {value}.", param=name
        )


def _optional_number(body: Mapping[str, Any], name: str, minimum: float, maximum: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _invalid_type(name, "a number")
    if not minimum <= value <= maximum:
        raise InvalidRequest(
            f"Invalid '{name}': number must be between {minimum} and {maximum}, got {value}.",
            param=name,
        )


def _invalid_type(param: str, expected: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid type for '{param}': expected {expected}.", param=param)


def _missing_or_invalid(param: str, value: object, expected: str) -> InvalidRequest:
    if value is None:
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param)
    return _invalid_type(param, expected)
