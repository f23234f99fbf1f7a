"""Garbage-collection pauses: how long each collection held the process, the event loop with it.

CPython's cycle collector stops everything while it runs, and a full (generation-2) collection
walks every tracked object: with 9,000 streams open a process holds well over a million, and such
collections were seen holding the loop 0.85 to 1.4 s (docs/benchmarks.md, "Slow streams one
process holds"). `GcPauses` times every collection through `gc.callbacks` into the histogram
`router_gc_pause_milliseconds` (by generation) at `/metrics`, and logs any collection that held the
loop longer than `LONG_PAUSE_MS`.

`settle_after_start` moves what start-up made (modules, config, models' Python objects, the
cache's index) out of the collector's reach with `gc.freeze()`, so that no later collection walks
it again: those objects live as long as the process.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import logging
from time import perf_counter
from typing import Any

from router.telemetry.metrics import Metrics

log = logging.getLogger("edge_router.gc")

LONG_PAUSE_MS = 100.0
FLUSH_INTERVAL_S = 1.0
MAX_BUFFERED = 4096


class GcPauses:
    """Times every collection. The callback only appends to a bounded buffer: it runs wherever a
    collection starts, which may be inside an OpenTelemetry instrument's lock (a `/metrics`
    scrape allocates while it holds one), and recording there waited on that lock forever, the
    router with it. `flush` records and logs what the buffer holds: before every exposition of
    the metrics, and every `FLUSH_INTERVAL_S` while the router runs (`run`)."""

    def __init__(self, metrics: Metrics) -> None:
        self._pause = metrics.meter.create_histogram(
            "router.gc.pause",
            unit="ms",
            description="How long one garbage collection held the process, by generation.",
        )
        metrics.before_exposition(self.flush)
        self._started_s = 0.0
        # (generation, pause in ms, objects collected); the oldest are dropped past the bound.
        self._done: collections.deque[tuple[int, float, int]] = collections.deque(
            maxlen=MAX_BUFFERED
        )

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started_s = perf_counter()
            return
        pause_ms = (perf_counter() - self._started_s) * 1000.0
        self._done.append((int(info.get("generation", 0)), pause_ms, int(info.get("collected", 0))))

    def flush(self) -> None:
        """Record the buffered pauses in the histogram and log the long ones."""
        while self._done:
            generation, pause_ms, collected = self._done.popleft()
            self._pause.record(pause_ms, {"generation": str(generation)})
            if pause_ms > LONG_PAUSE_MS:
                log.warning(
                    "a generation-%d garbage collection held the event loop %.0f ms (%d collected)",
                    generation,
                    pause_ms,
                    collected,
                )

    async def run(self) -> None:
        """Flush every FLUSH_INTERVAL_S until cancelled."""
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            self.flush()

    def install(self) -> None:
        gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)
        self.flush()


def settle_after_start() -> int:
    """Collect once, then freeze what survived (start-up's objects); how many were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
