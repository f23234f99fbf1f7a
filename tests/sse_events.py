"""Server-sent events as an upstream that speaks a native API (OpenAI's Responses, Anthropic's
Messages) writes them, and a hypothesis strategy for streams of any such events, for the tests
that read those streams."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import strategies as st


def sse_event(name: str, data: object) -> bytes:
    """One event: its `event:` line (none where `name` is empty), then `data` as JSON."""
    event_line = b"event: " + name.encode() + b"\n" if name else b""
    return event_line + b"data: " + orjson.dumps(data) + b"\n\n"


def event_streams(
    names: st.SearchStrategy[str], data: st.SearchStrategy[Any]
) -> st.SearchStrategy[bytes]:
    """Streams of up to 8 events, each named from `names` and carrying data from `data`."""
    events = st.lists(st.tuples(names, data), max_size=8)
    return events.map(lambda pairs: b"".join(sse_event(name, value) for name, value in pairs))
