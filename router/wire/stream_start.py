"""A chat stream's start, read before the client is committed to it.

An upstream may answer 200 and then send an error in band, as its first event (vLLM and
OpenAI-compatible servers do for quota and overload; OpenAI itself may send a role-only chunk
first). Relayed, the client would get a stream that fails at once while another endpoint could
have answered: Bifrost never fails over on such errors (its issue 5395). So the forwarding stage
holds the stream until its first event with more than the assistant's role, and an error found
before then is a failure before the first byte: the request fails over.

Holding costs nothing for a stream whose first event carries content (the usual case), and is
bounded otherwise: at most two events and `PEEK_BYTES`.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import orjson

# Past this many bytes without a verdict the stream is relayed as it is.
PEEK_BYTES: Final = 64 * 1024
# The events looked at: a role-only first chunk, then the one after it.
_EVENTS: Final = 2

StartVerdict = Literal["relay", "read_more"] | dict[str, Any]


def stream_start(head: bytes) -> StartVerdict:
    """`relay` once the stream shows content (or anything but an error), `read_more` while its
    first events are not complete yet, or the upstream's in-band error object."""
    position = 0
    for _ in range(_EVENTS):
        end, separator = _event_end(head, position)
        if end < 0:
            return "read_more" if len(head) < PEEK_BYTES else "relay"
        data = _data_of(head[position:end])
        position = end + separator
        if data is None:
            continue  # a comment or a keep-alive: nothing yet
        if b'"error"' in data:
            error = _error_in(data)
            if error is not None:
                return error
        if not _only_a_role(data):
            return "relay"
    return "relay"


def _event_end(head: bytes, position: int) -> tuple[int, int]:
    """Where the event at `position` ends and its blank line's length (-1: not in `head` yet);
    lines end with LF or CRLF."""
    lf, crlf = head.find(b"\n\n", position), head.find(b"\r\n\r\n", position)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, 4
    return lf, 2


def _data_of(event: bytes) -> bytes | None:
    lines = [
        line[6:] if line.startswith(b"data: ") else line[5:]
        for line in event.replace(b"\r\n", b"\n").split(b"\n")
        if line.startswith(b"data:")
    ]
    return b"\n".join(lines) if lines else None


def _error_in(data: bytes) -> dict[str, Any] | None:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    error = chunk.get("error") if isinstance(chunk, dict) else None
    return error if isinstance(error, dict) else None


def _only_a_role(data: bytes) -> bool:
    """A chunk that says only who speaks (`{"role": "assistant", "content": ""}`), as OpenAI's
    first chunk does: what follows it decides."""
    if b'"role"' not in data:
        return False
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        return False
    delta = choices[0].get("delta")
    if not isinstance(delta, dict) or choices[0].get("finish_reason"):
        return False
    return all(not value for key, value in delta.items() if key != "role")
