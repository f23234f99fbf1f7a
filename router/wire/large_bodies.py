"""The work in proportion to a large request body, done off the event loop, one body at a time.

Parsing a 1 MB body takes about 3 ms (orjson, then the repeated-key check) and scanning it for
PII 0.3 to 1.5 s: on the loop, every other request would wait for it. In a worker thread the loop
keeps serving, taking the GIL back within the interpreter's switch interval (`edge-router serve`
sets 1 ms) as long as no single C call holds it longer (router/privacy/scan_work.py keeps each
regular-expression call of the scan to one slice). One piece of such work runs at a time, parse
and scan alike: with two threads wanting the GIL the loop often lost it to the other one (a timer
on the loop ran 90 to 140 ms late instead of 1 to 5 ms at the same throughput, issue 13), and
the GIL lets one of them run at a time anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

# A body up to this size is parsed and scanned on the loop, cheaper than the hand-off to a
# thread: parsing 4 KB takes about 15 µs, scanning it at worst about 7 ms. Parsing 1 MB takes
# about 3 ms (orjson 1 ms, the repeated-key check 2 ms), 1.4 MB of 30,000 small messages 33 ms;
# in the thread the repeated-key check runs Python for each object, so the loop gets the GIL
# back between them, while orjson's decoding is one call that holds it (about 1 ms a megabyte).
ON_LOOP_MAX_BYTES = 4096

P = ParamSpec("P")
R = TypeVar("R")


class LargeBodyWork:
    """The app's one turn in a worker thread for large bodies' work (one per app, shared by the
    request handler's parsing and the privacy stage's scan)."""

    def __init__(self) -> None:
        self._one_at_a_time = asyncio.Semaphore(1)

    async def run_for(
        self, body_bytes: int, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """`function(*args, **kwargs)`, work in proportion to a body of `body_bytes`: on the
        loop up to `ON_LOOP_MAX_BYTES`, else in the worker thread once its turn comes."""
        if body_bytes <= ON_LOOP_MAX_BYTES:
            return function(*args, **kwargs)
        async with self._one_at_a_time:
            return await asyncio.to_thread(function, *args, **kwargs)
