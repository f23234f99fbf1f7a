"""The requests a run sends and how their answers are judged: the chat request body of each kind,
the clock of a stream's content tokens (`StreamTokenClock`), the output tokens an answer reports,
and the outcome labels of a request."""

from __future__ import annotations

import re
from typing import Final, NamedTuple

import orjson

from loadtest.generator.settings import LoadSettings

# Outcome labels. Errors are labelled `http_<status>`, the exception's class name, or these.
OUTCOME_OK: Final = "ok"
OUTCOME_UNFINISHED: Final = "unfinished"
OUTCOME_NO_CONTENT: Final = "stream_without_content"
OUTCOME_TRUNCATED: Final = "stream_without_done"
# A stream that ended with an error event (`data: {"error": ...}`): a clear error, not a silent cut.
OUTCOME_STREAM_ERROR: Final = "stream_error"


# Words a sized prompt is made of: ordinary prose, so the router's PII scan sees the text it
# usually sees (and finds nothing), not a run of one character.
_PROSE: Final = (
    "The router sends each request to the nearest healthy endpoint, answers from its cache when "
    "it can, and keeps sensitive data at the edge. "
)


def prompt_of(size_bytes: int) -> str:
    """A user message of `size_bytes` bytes (at least one word): "hi" for 0."""
    if size_bytes <= 0:
        return "hi"
    repeats = size_bytes // len(_PROSE) + 1
    return (_PROSE * repeats)[:size_bytes]


def request_body(settings: LoadSettings) -> bytes:
    """The chat body of a run of fixed sizes (the workload builds every other:
    `loadtest.generator.workload`)."""
    if not isinstance(settings.prompt_bytes, int) or not isinstance(settings.max_tokens, int):
        raise ValueError("a distribution of sizes has no one body: see loadtest.generator.workload")
    messages: list[dict[str, str]] = [{"role": "user", "content": prompt_of(settings.prompt_bytes)}]
    if settings.prefill is not None:
        messages.append({"role": "assistant", "content": settings.prefill})
    body: dict[str, object] = {
        "model": settings.model,
        "messages": messages,
        "max_tokens": settings.max_tokens,
    }
    if settings.kind == "chat-stream":
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)


# A non-empty `content` string: a content token of a chat chunk (one per event and choice).
_CONTENT: Final = re.compile(rb'"content"\s*:\s*"(?!")')
_COMPLETION_TOKENS: Final = re.compile(rb'"completion_tokens"\s*:\s*(\d{1,9})')
_PROMPT_TOKENS: Final = re.compile(rb'"prompt_tokens"\s*:\s*(\d{1,9})')
# A line longer than this is no chat chunk a run judges: dropped, counted as no content.
_MAX_LINE: Final = 1 << 20


class ReportedUsage(NamedTuple):
    """The usage an answer reported to the client, in its API's own fields (chat's
    `prompt_tokens` and `completion_tokens`; Responses' and Messages' `input_tokens` and
    `output_tokens`): what a fallback-accounting check compares with what the provider billed."""

    prompt_tokens: int
    completion_tokens: int


def count_in(data: bytes, field: re.Pattern[bytes]) -> int | None:
    """The count a usage field (a pattern with the number as its group) reports, if it does."""
    found = field.search(data)
    return None if found is None else int(found.group(1))


def usage_in(
    data: bytes, prompt_field: re.Pattern[bytes], completion_field: re.Pattern[bytes]
) -> ReportedUsage | None:
    """The usage an answer reports under those two fields, if it reports both counts."""
    completion = count_in(data, completion_field)
    prompt = count_in(data, prompt_field)
    if completion is None or prompt is None:
        return None
    return ReportedUsage(prompt, completion)


def completion_tokens_in(data: bytes) -> int | None:
    """The `completion_tokens` an answer (or a stream's usage chunk) reports, if it does."""
    return count_in(data, _COMPLETION_TOKENS)


def chat_usage_in(data: bytes) -> ReportedUsage | None:
    """The usage a chat answer (or a stream's usage chunk) reports, if it reports both counts."""
    return usage_in(data, _PROMPT_TOKENS, _COMPLETION_TOKENS)


class StreamTokenClock:
    """When each content token of an SSE chat stream arrived: fed the stream's bytes as they
    come, split anywhere, with their arrival time. A token is a `data:` event with a non-empty
    `content` (what vLLM's and NVIDIA's benchmarks count as one), read from whole lines by a
    regular expression, never decoded: the generator shares a core with what it measures. The
    usage the stream reports, if any, is kept too."""

    __slots__ = ("_line", "completion_tokens", "times", "usage")

    def __init__(self) -> None:
        self._line = b""
        self.times: list[float] = []
        self.completion_tokens: int | None = None
        self.usage: ReportedUsage | None = None

    def feed(self, chunk: bytes, now: float) -> None:
        data = self._line + chunk if self._line else chunk
        end = data.rfind(b"\n")
        if end < 0:
            self._line = data if len(data) <= _MAX_LINE else b""
            return
        self._line = data[end + 1 :]
        for line in data[:end].split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            tokens = len(_CONTENT.findall(line))
            if tokens:
                self.times.extend([now] * tokens)
            elif b'"completion_tokens"' in line:
                self.completion_tokens = completion_tokens_in(line)
                self.usage = chat_usage_in(line)

    @property
    def tokens(self) -> int:
        return len(self.times)
