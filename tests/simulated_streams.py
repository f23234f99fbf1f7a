"""The simulated cloud's streams in the native APIs (`loadtest.mock_cloud.wire_responses`,
`wire_messages`), for the tests that read them as an upstream's: a Responses stream answering a
request for gpt-4o-mini, a Messages stream from claude-sonnet-4-5, and either written whole."""

from __future__ import annotations

from typing import Any

from loadtest.mock_cloud.answers import NativeAnswer
from loadtest.mock_cloud.parsing_responses import responses_request
from loadtest.mock_cloud.settings import RegionSettings
from loadtest.mock_cloud.wire_messages import MessagesStream
from loadtest.mock_cloud.wire_responses import ResponsesStream

REGION = RegionSettings(name="us-east")


def simulated_responses_stream(
    answer: NativeAnswer, *, input_tokens: int, cached_tokens: int = 0, **body: Any
) -> ResponsesStream:
    """`answer` as `resp_1` (its item `msg_1`) to `{"model": "gpt-4o-mini", "input": "hi"}` and
    the fields of `body`, created at 1_700_000_000 and completed a second later."""
    request = responses_request({"model": "gpt-4o-mini", "input": "hi", **body}, REGION)
    return ResponsesStream(
        request,
        answer,
        response_id="resp_1",
        item_id="msg_1",
        created_at=1_700_000_000,
        input_tokens=input_tokens,
        cached_tokens=cached_tokens,
        now=lambda: 1_700_000_001.0,
    )


def simulated_messages_stream(
    answer: NativeAnswer, *, input_tokens: int, cached_tokens: int = 0
) -> MessagesStream:
    """`answer` as the Message `msg_1` from claude-sonnet-4-5."""
    return MessagesStream(
        answer,
        message_id="msg_1",
        model="claude-sonnet-4-5",
        input_tokens=input_tokens,
        cached_tokens=cached_tokens,
    )


def whole_stream(stream: ResponsesStream | MessagesStream) -> bytes:
    """The whole stream as the simulated cloud writes it: its parts made in order, as a
    Responses stream numbers its events as they are made."""
    opening = stream.head() + stream.opening()
    tokens = b"".join(stream.token(i) for i in range(stream.tokens))
    return opening + tokens + stream.closing()
