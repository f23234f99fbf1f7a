"""The requests a run sends and how their answers are judged: the chat request body of each kind,
the detector of a stream's first content token, and the outcome labels of a request."""

from __future__ import annotations

from typing import Final

import orjson

from loadtest.loadgen_settings import LoadSettings

# Outcome labels. Errors are labelled `http_<status>`, the exception's class name, or these.
OUTCOME_OK: Final = "ok"
OUTCOME_UNFINISHED: Final = "unfinished"
OUTCOME_NO_CONTENT: Final = "stream_without_content"
OUTCOME_TRUNCATED: Final = "stream_without_done"


def request_body(settings: LoadSettings) -> bytes:
    body: dict[str, object] = {
        "model": settings.model,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": settings.max_tokens,
    }
    if settings.kind == "chat-stream":
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)


class SseContentDetector:
    """Says when an SSE byte stream has delivered its first `data:` event with non-empty
    `choices[].delta.content`. Chunks may split lines anywhere; only whole lines are parsed."""

    __slots__ = ("_buffer", "found")

    def __init__(self) -> None:
        self._buffer = b""
        self.found = False

    def feed(self, chunk: bytes) -> bool:
        if self.found:
            return True
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if _is_content_event(line):
                self.found = True
                self._buffer = b""
                return True
        return False


def _is_content_event(line: bytes) -> bool:
    if not line.startswith(b"data:") or b'"content"' not in line:
        return False
    try:
        event = orjson.loads(line[5:].strip())
    except orjson.JSONDecodeError:
        return False
    choices = event.get("choices") if isinstance(event, dict) else None
    if not isinstance(choices, list):
        return False
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(content, str) and content:
            return True
    return False
