"""Cached answers in and out: a stream assembled into one answer to store, and a stored answer
replayed as a stream.

Only complete, successful text answers are stored, since whatever is stored is replayed as if it
were the model's answer now: a JSON answer whose choices all finished with `stop` and hold
non-empty text, or a stream that ran to `data: [DONE]` likewise, with no error event. Never
stored: a truncated answer (`length`: a later request may get the whole one), a content-filter
stop, a refusal (`message.refusal`, which may hang on a passing moderation verdict), an answer
with tool or function calls (they name call ids and act in the world; the request side of
tools is the cache stage's, per tenant), and an empty one. A streamed answer is stored as the
`chat.completion` it amounts to, so a JSON request may hit an answer first streamed and the
reverse.

Replay sends a stored answer as a well-formed SSE stream of `chat.completion.chunk`s: the role,
the content, the finish reason, the usage when the request asked for it
(`stream_options.include_usage`), then `[DONE]`, all at once (at network speed).
"""

from __future__ import annotations

from typing import Any

import orjson

FINISHED = frozenset({"stop"})


def complete_json_answer(answer: Any) -> bool:
    """Whether a `chat.completion` may be stored: every choice is a whole text answer."""
    if not isinstance(answer, dict) or answer.get("object") != "chat.completion":
        return False
    if answer.get("error"):
        return False
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    return all(isinstance(c, dict) and _replayable_choice(c) for c in choices)


def _replayable_choice(choice: dict[str, Any]) -> bool:
    message = choice.get("message")
    if choice.get("finish_reason") not in FINISHED or not isinstance(message, dict):
        return False
    content = message.get("content")
    return (
        isinstance(content, str)
        and bool(content.strip())
        and not message.get("refusal")
        and not message.get("tool_calls")
        and not message.get("function_call")
        and not _filtered(choice)
    )


def _filtered(choice: dict[str, Any]) -> bool:
    """Azure's content filter may flag an answer it lets through (`filtered: true`)."""
    results = choice.get("content_filter_results")
    if not isinstance(results, dict):
        return False
    return any(isinstance(r, dict) and r.get("filtered") for r in results.values())


class StreamAssembler:
    """Feeds on a stream's bytes as they pass; `answer()` is the `chat.completion` they made, or
    None unless the stream was complete and successful."""

    def __init__(self) -> None:
        self._buffer = b""
        self._content: list[str] = []
        self._finish: str | None = None
        self._head: dict[str, Any] = {}
        self._usage: Any = None
        self._done = False
        self._broken = False

    def feed(self, chunk: bytes) -> None:
        if self._broken:
            return
        self._buffer += chunk
        *events, self._buffer = self._buffer.split(b"\n\n")
        for event in events:
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    self._data(line[5:].strip())

    def _data(self, data: bytes) -> None:
        if data == b"[DONE]":
            self._done = True
            return
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            self._broken = True
            return
        if not isinstance(event, dict) or "error" in event:
            self._broken = True
            return
        if not self._head:
            self._head = {k: event.get(k) for k in ("id", "created", "model", "system_fingerprint")}
        if event.get("usage"):
            self._usage = event["usage"]
        for choice in event.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                self._broken = True  # n > 1 is never cached anyway
                return
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                self._content.append(delta["content"])
            if delta.get("tool_calls") or delta.get("function_call") or delta.get("refusal"):
                self._broken = True  # tool calls and refusals are never replayed
                return
            if _filtered(choice):
                self._broken = True
                return
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]

    def answer(self) -> bytes | None:
        if self._broken or not self._done or self._finish not in FINISHED:
            return None
        if not "".join(self._content).strip():
            return None
        answer = {
            **self._head,
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(self._content)},
                    "finish_reason": self._finish,
                    "logprobs": None,
                }
            ],
            "usage": self._usage,
        }
        return orjson.dumps(answer)


def sse_replay(answer: dict[str, Any], include_usage: bool) -> bytes:
    """A stored `chat.completion` as the SSE stream a streaming request expects."""
    head = {
        "id": answer.get("id"),
        "object": "chat.completion.chunk",
        "created": answer.get("created"),
        "model": answer.get("model"),
        "system_fingerprint": answer.get("system_fingerprint"),
    }
    (choice,) = answer["choices"]
    message = choice["message"]
    events = [
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                              "finish_reason": None, "logprobs": None}]},
        {**head, "choices": [{"index": 0, "delta": {"content": message["content"]},
                              "finish_reason": None, "logprobs": None}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"],
                              "logprobs": None}]},
    ]  # fmt: skip
    if include_usage:
        events.append({**head, "choices": [], "usage": answer.get("usage")})
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"
