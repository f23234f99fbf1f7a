"""Garbage-collection pauses are at `/metrics` by generation, a long one is logged, and start-up's
objects can be frozen out of the collector's reach (router/telemetry/gc_pauses.py)."""

from __future__ import annotations

import gc
import logging
import re
import types

import pytest

from router.telemetry.gc_pauses import LONG_PAUSE_MS, GcPauses, settle_after_start
from router.telemetry.metrics import Metrics
from tests.stack import running_stack


def _pause_counts(exposition: str) -> dict[str, float]:
    pattern = r'router_gc_pause_milliseconds_count\{generation="(\d)"\} ([0-9.e+]+)'
    return {generation: float(count) for generation, count in re.findall(pattern, exposition)}


@pytest.mark.asyncio
async def test_every_collection_is_timed_by_generation_while_the_router_runs() -> None:
    async with running_stack() as stack:
        gc.collect(2)
        gc.collect(0)
        async with stack.http.get(f"{stack.url}/metrics") as response:
            counts = _pause_counts(await response.text())
    assert counts.get("2", 0) >= 1 and counts.get("0", 0) >= 1
    assert not any(isinstance(callback, GcPauses) for callback in gc.callbacks)  # removed at stop


def test_a_long_pause_is_logged_with_its_generation(caplog: pytest.LogCaptureFixture) -> None:
    pauses = GcPauses(Metrics())
    pauses("start", {"generation": 2})
    pauses._started_s -= (LONG_PAUSE_MS + 50) / 1000.0  # as if it had run that long
    with caplog.at_level(logging.WARNING, logger="edge_router.gc"):
        pauses("stop", {"generation": 2, "collected": 3})
        pauses("start", {"generation": 0})
        pauses("stop", {"generation": 0, "collected": 0})  # short: not logged
        assert not caplog.records  # nothing is done inside the collection itself
        pauses.flush()
    (record,) = caplog.records
    assert "generation-2 garbage collection held the event loop" in record.getMessage()


def test_a_collection_only_buffers_its_pause_which_an_exposition_records() -> None:
    """A collection can start inside an instrument's lock (a scrape allocates while it holds
    one): recording from the callback there waited on that lock forever. So the callback
    touches no instrument; the next exposition (or the periodic flush) records the pause."""
    metrics = Metrics()
    pauses = GcPauses(metrics)
    recorded: list[float] = []
    histogram = pauses._pause
    pauses._pause = types.SimpleNamespace(  # type: ignore[assignment]
        record=lambda value, attributes: (
            recorded.append(value),
            histogram.record(value, attributes),
        )
    )
    pauses("start", {"generation": 1})
    pauses("stop", {"generation": 1, "collected": 0})
    assert recorded == []
    assert _pause_counts(metrics.exposition().decode()) == {"1": 1.0}
    assert len(recorded) == 1
    assert _pause_counts(metrics.exposition().decode()) == {"1": 1.0}  # recorded once


def test_start_ups_objects_are_frozen_out_of_the_collectors_reach() -> None:
    try:
        frozen = settle_after_start()
        assert frozen == gc.get_freeze_count() > 0
        gc.collect()
        assert gc.get_freeze_count() == frozen  # a full collection leaves them where they are
    finally:
        gc.unfreeze()
