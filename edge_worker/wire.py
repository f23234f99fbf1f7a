"""The worker's OpenAI wire format: requests checked into settings, answers built as OpenAI's.

Only what a local chat model and embedder can honour is accepted; anything else it would have to
ignore silently (`n` > 1, tools, images) is a 400 naming the parameter, so the router can send
such requests to the cloud instead of getting a quietly different answer.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_worker.generator import Piece, Sampling

DEFAULT_MAX_TOKENS = 256


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: list[dict[str, str]]
    sampling: Sampling
    stream: bool
    include_usage: bool


def parse_chat(body: Any, max_context_tokens: int) -> ChatRequest:
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("`model` must be a non-empty string.", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("`messages` must be a non-empty array.", "messages")
    chat = [_message(m, i) for i, m in enumerate(messages)]
    n = body.get("n", 1)
    if n != 1:
        raise BadRequest("Only n=1 is supported by the local model.", "n")
    for unsupported in ("tools", "functions", "response_format", "audio"):
        if body.get(unsupported) not in (None, [], {"type": "text"}):
            raise BadRequest(f"`{unsupported}` is not supported by the local model.", unsupported)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens", DEFAULT_MAX_TOKENS))
    if max_tokens is None:
        max_tokens = DEFAULT_MAX_TOKENS
    if not _is_int(max_tokens) or not 1 <= max_tokens <= max_context_tokens:
        raise BadRequest(f"`max_tokens` must be 1 to {max_context_tokens}.", "max_tokens")
    temperature = _number(body, "temperature", 1.0, 0.0, 2.0)
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
    seed = body.get("seed")
    if seed is not None and not _is_int(seed):
        raise BadRequest("`seed` must be an integer.", "seed")
    stop = body.get("stop")
    stops = _stops(stop)
    logprobs = body.get("logprobs", False)
    if not isinstance(logprobs, bool):
        raise BadRequest("`logprobs` must be a boolean.", "logprobs")
    if body.get("top_logprobs") not in (None, 0):
        raise BadRequest("Only top_logprobs=0 is supported by the local model.", "top_logprobs")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("`stream` must be a boolean.", "stream")
    options = body.get("stream_options") or {}
    include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
    return ChatRequest(
        model=model,
        messages=chat,
        sampling=Sampling(
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            stop=stops,
            logprobs=logprobs,
        ),
        stream=stream,
        include_usage=include_usage,
    )


def _message(message: Any, index: int) -> dict[str, str]:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise BadRequest(f"`{where}` must be an object.", where)
    role = message.get("role")
    if role not in ("system", "developer", "user", "assistant"):
        raise BadRequest(f"`{where}.role` is not supported by the local model.", f"{where}.role")
    content = message.get("content")
    if isinstance(content, list):  # text parts only
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if len(texts) != len(content) or not all(isinstance(t, str) for t in texts):
            raise BadRequest(f"`{where}.content` may hold text parts only.", f"{where}.content")
        content = "".join(t for t in texts if isinstance(t, str))
    if not isinstance(content, str):
        raise BadRequest(f"`{where}.content` must be a string.", f"{where}.content")
    return {"role": "system" if role == "developer" else role, "content": content}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise BadRequest(f"`{name}` must be a number from {low:g} to {high:g}.", name)
    return float(value)


def _stops(stop: Any) -> tuple[str, ...]:
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,) if stop else ()
    if isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop):
        return tuple(s for s in stop if s)
    raise BadRequest("`stop` must be a string or up to 4 strings.", "stop")


def completion_id() -> str:
    return f"chatcmpl-edge-{time.time_ns():x}"


def chat_completion(
    request_id: str, model: str, pieces: list[Piece], prompt_tokens: int, logprobs: bool
) -> dict[str, Any]:
    text = "".join(p.text for p in pieces)
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": text, "refusal": None},
        "finish_reason": pieces[-1].finish_reason if pieces else "length",
        "logprobs": {"content": _logprob_content(pieces), "refusal": None} if logprobs else None,
    }
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": usage(prompt_tokens, len(pieces)),
        "system_fingerprint": None,
    }


def chunk(
    request_id: str,
    model: str,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    logprob_pieces: list[Piece] | None = None,
) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    if logprob_pieces is not None:
        choice["logprobs"] = {"content": _logprob_content(logprob_pieces), "refusal": None}
    return {
        "id": request_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
    }


def usage_chunk(request_id: str, model: str, prompt_tokens: int, completion: int) -> dict[str, Any]:
    return {
        "id": request_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [],
        "usage": usage(prompt_tokens, completion),
    }


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _logprob_content(pieces: list[Piece]) -> list[dict[str, Any]]:
    return [
        {
            "token": p.text,
            "logprob": p.logprob,
            "bytes": list(p.text.encode()),
            "top_logprobs": [],
        }
        for p in pieces
        if p.logprob is not None
    ]


@dataclass(frozen=True, slots=True)
class EmbeddingsRequest:
    model: str
    texts: list[str]
    base64: bool


def parse_embeddings(body: Any) -> EmbeddingsRequest:
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("`model` must be a non-empty string.", "model")
    given = body.get("input")
    texts = [given] if isinstance(given, str) else given
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise BadRequest("`input` must be a string or a non-empty array of strings.", "input")
    if len(texts) > 2048:
        raise BadRequest("`input` may hold at most 2048 strings.", "input")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise BadRequest("`encoding_format` must be `float` or `base64`.", "encoding_format")
    if body.get("dimensions") not in (None, 384):
        raise BadRequest("`dimensions` must be 384 for this model.", "dimensions")
    return EmbeddingsRequest(model, texts, encoding == "base64")


def embeddings_response(
    model: str, vectors: np.ndarray[Any, Any], as_base64: bool, prompt_tokens: int
) -> dict[str, Any]:
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(row.astype("<f4").tobytes()).decode()
            if as_base64
            else row.astype(float).tolist(),
        }
        for i, row in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
