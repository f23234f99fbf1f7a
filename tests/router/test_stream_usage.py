"""A stream's usage, taken in passing: the upstream's own report from its last usage event, else
its content chunks counted."""

from __future__ import annotations

import orjson

from router.wire.sse import StreamUsageCounter
from router.wire.usage import Usage


def _event(body: dict[str, object], prefix: bytes = b"data: ") -> bytes:
    return prefix + orjson.dumps(body) + b"\n\n"


def _content(text: str) -> bytes:
    return _event({"choices": [{"index": 0, "delta": {"content": text}}], "usage": None})


USAGE = {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42}


def _counted(*chunks: bytes) -> Usage:
    counter = StreamUsageCounter()
    for chunk in chunks:
        counter.feed(chunk)
    return counter.usage(estimated_input_tokens=7)


def test_the_upstreams_report_in_the_last_event_is_taken() -> None:
    usage = _counted(
        _content("Hello"),
        _content(" there"),
        _event({"choices": [], "usage": USAGE}),
        b"data: [DONE]\n\n",
    )
    assert usage == Usage(12, 30, counted=False)


def test_a_report_written_with_spaces_or_cut_across_chunks_is_found() -> None:
    spaced = b'data:{"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}\n\n'
    assert _counted(_content("a"), spaced[:20], spaced[20:]) == Usage(3, 4, counted=False)


def test_without_a_report_the_content_chunks_are_counted() -> None:
    assert _counted(_content("a"), _content("b"), _content("c"), b"data: [DONE]\n\n") == Usage(
        7, 3, counted=True
    )


def test_text_that_reads_like_a_report_is_not_taken_for_one() -> None:
    # In a JSON string the quotes are escaped, so `"usage":{` in a model's text never matches.
    assert _counted(_content('the field "usage":{"prompt_tokens": 999}')) == Usage(
        7, 1, counted=True
    )


def test_a_report_cut_short_falls_back_to_the_count() -> None:
    cut = _event({"choices": [], "usage": USAGE})[:-12]
    assert _counted(_content("a"), cut) == Usage(7, 1, counted=True)


def test_the_report_is_found_after_more_than_the_kept_tail_of_content() -> None:
    chunks = [_content("word " * 20) for _ in range(200)]  # about 30 KB
    assert _counted(*chunks, _event({"choices": [], "usage": USAGE})) == Usage(
        12, 30, counted=False
    )
