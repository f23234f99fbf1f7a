"""Reading OpenAI request bodies into what the mock needs to answer, or an OpenAI-style rejection.

Only the fields the mock acts on are checked, with OpenAI's status codes and error shapes, so a
router under test sees the same 400/404 answers it would get from the real API. Everything else in a
body is accepted and ignored, as the real API does with fields it does not know.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import orjson

from .settings import MAX_COMPLETION_TOKENS, MAX_DIMENSIONS, RegionSettings
from .wire import Generation, Kind, error_body

# OpenAI's limit on `n`.
_MAX_CHOICES = 128


class RequestRejected(Exception):
    """The request is answered with an OpenAI error body instead of a result."""

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
        self.status = status
        self.body = error_body(message, error_type, param=param, code=code)


@dataclass(frozen=True, slots=True)
class EmbeddingsRequest:
    model: str
    # Each input as the bytes its vector is derived from.
    inputs: tuple[bytes, ...]
    prompt_tokens: int
    dimensions: int | None
    encoding_format: Literal["float", "base64"]


def json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestRejected(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
            "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what "
            "was sent was not valid JSON.)",
        ) from None
    if not isinstance(data, dict):
        raise RequestRejected(400, "The request body must be a JSON object.")
    return data


def requested_model(data: Mapping[str, Any], models: Collection[str]) -> str:
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise RequestRejected(400, "you must provide a model parameter", param="model")
    if model not in models:
        raise RequestRejected(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    return model


def generation(data: Mapping[str, Any], kind: Kind, settings: RegionSettings) -> Generation:
    model = requested_model(data, settings.models)
    if kind == "chat":
        prompt_tokens = _chat_prompt_tokens(data.get("messages"))
    else:
        prompt_tokens = _input_tokens(data.get("prompt"), "prompt")
    newer = data.get("max_completion_tokens") is not None
    limit_param = "max_completion_tokens" if newer else "max_tokens"
    limit = _optional_int(data, limit_param, 1, MAX_COMPLETION_TOKENS)
    choices = _optional_int(data, "n", 1, _MAX_CHOICES) or 1
    stream = data.get("stream") or False
    if not isinstance(stream, bool):
        raise RequestRejected(400, "'stream' must be a boolean.", param="stream")
    # A given limit is always reached: that is how benchmarks ask for N-token answers.
    tokens = limit or settings.completion_tokens
    finish_reason: Literal["stop", "length"] = "length" if limit else "stop"
    echo: tuple[str, ...] | None = None
    if settings.echo:
        # One token per piece; the echo stops where the request's text does, or at the limit.
        whole = _pieces(echo_text(data, kind), settings.echo_piece_chars)
        echo = whole[:limit] if limit else whole
        tokens = len(echo)
        finish_reason = "length" if len(echo) < len(whole) else "stop"
    return Generation(
        kind=kind,
        model=model,
        choices=choices,
        tokens=tokens,
        finish_reason=finish_reason,
        prompt_tokens=max(1, prompt_tokens),
        stream=stream,
        include_usage=_include_usage(data.get("stream_options"), stream),
        echo=echo,
    )


def echo_text(data: Mapping[str, Any], kind: Kind) -> str:
    """What an echoing region answers: for chat, the texts of the messages in order (string
    contents, text parts and tool call arguments), the non-empty ones joined with "\n"; for a
    text completion, the prompt, or the prompts joined with "\n", a token array written as its
    numbers. `data` has passed `generation`'s checks."""
    if kind == "completion":
        prompt = data["prompt"]
        prompts = [prompt] if isinstance(prompt, str) or _is_token(prompt[0]) else prompt
        return "\n".join(p if isinstance(p, str) else " ".join(map(str, p)) for p in prompts)
    texts: list[str] = []
    for message in data["messages"]:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(
                part["text"]
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
        tool_calls = message.get("tool_calls")
        for call in tool_calls if isinstance(tool_calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                texts.append(function["arguments"])
    return "\n".join(text for text in texts if text)


def _pieces(text: str, size: int) -> tuple[str, ...]:
    return tuple(text[i : i + size] for i in range(0, len(text), size))


def embeddings_request(data: Mapping[str, Any], models: Collection[str]) -> EmbeddingsRequest:
    model = requested_model(data, models)
    inputs, tokens = _embedding_inputs(data.get("input"))
    requested_format = data.get("encoding_format")
    encoding_format: Literal["float", "base64"] = "float"
    if requested_format == "base64":
        encoding_format = "base64"
    elif requested_format not in (None, "float"):
        raise RequestRejected(
            400,
            f"'{requested_format}' is not one of ['float', 'base64'] - 'encoding_format'",
            param="encoding_format",
        )
    return EmbeddingsRequest(
        model=model,
        inputs=inputs,
        prompt_tokens=tokens,
        dimensions=_optional_int(data, "dimensions", 1, MAX_DIMENSIONS),
        encoding_format=encoding_format,
    )


def _optional_int(data: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestRejected(
            400,
            f"Invalid '{name}': expected an integer between {low} and {high}, got {value!r}.",
            param=name,
            code="integer_out_of_range" if isinstance(value, int) else "invalid_type",
        )
    return value


def _include_usage(options: object, stream: bool) -> bool:
    if options is None:
        return False
    if not stream:
        raise RequestRejected(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    if not isinstance(options, dict):
        raise RequestRejected(400, "'stream_options' must be an object.", param="stream_options")
    return options.get("include_usage") is True


def _chat_prompt_tokens(messages: object) -> int:
    if not isinstance(messages, list) or not messages:
        raise RequestRejected(
            400,
            "Missing required parameter: 'messages'."
            if messages is None
            else "Invalid 'messages': expected a non-empty array of messages.",
            param="messages",
            code="missing_required_parameter" if messages is None else "invalid_value",
        )
    words = 0
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RequestRejected(
                400, f"Invalid 'messages[{i}]': expected an object.", param=f"messages[{i}]"
            )
        content = message.get("content")
        if isinstance(content, str):
            words += len(content.split())
        elif isinstance(content, list):  # content parts; only text parts have words
            words += sum(
                len(part["text"].split())
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
    return words


def _input_tokens(value: object, param: str) -> int:
    """Tokens of a prompt/input: words of strings, length of token arrays."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list) and value:
        if all(isinstance(x, str) for x in value):
            return sum(len(x.split()) for x in value)
        if all(_is_token(x) for x in value):
            return len(value)
        if all(isinstance(x, list) and x and all(_is_token(t) for t in x) for x in value):
            return sum(len(x) for x in value)
    raise RequestRejected(
        400,
        f"Invalid '{param}': expected a string, an array of strings, an array of tokens or an "
        "array of token arrays.",
        param=param,
        code="missing_required_parameter" if value is None else "invalid_type",
    )


def _embedding_inputs(value: object) -> tuple[tuple[bytes, ...], int]:
    tokens = _input_tokens(value, "input")  # also checks the shape, so value[0] exists below
    single = isinstance(value, str) or (isinstance(value, list) and _is_token(value[0]))
    items = [value] if single else cast(list[object], value)
    if any(item == "" for item in items):
        raise RequestRejected(
            400, "'$.input' is invalid: it may not contain empty strings.", param="input"
        )
    # Token arrays hash in their own namespace so [1, 2] and "1,2" get different vectors.
    return tuple(
        item.encode() if isinstance(item, str) else b"\x00tokens:" + orjson.dumps(item)
        for item in items
    ), max(1, tokens)


def _is_token(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
