"""Event-loop lag: how late the loop runs a timer, the delay every request on this process sees.

One request that holds the loop (a scan of a huge body, a reload parsing every policy) stalls
every other tenant's requests, health probes included, and nothing else shows it: their own
timings only grow. A task asks to wake every `interval_s` and records how late it woke, as the
histogram `router_event_loop_lag_milliseconds` at `/metrics`; an operator alerts on its high
buckets, and the loop-lag benchmark reads it.
"""

from __future__ import annotations

import asyncio

from router.clock import Clock
from router.telemetry.metrics import Metrics

DEFAULT_INTERVAL_S = 0.1


class LoopLagMonitor:
    def __init__(
        self, metrics: Metrics, clock: Clock, interval_s: float = DEFAULT_INTERVAL_S
    ) -> None:
        self._clock = clock
        self._interval_s = interval_s
        self._lag = metrics.meter.create_histogram(
            "router.event_loop.lag",
            unit="ms",
            description="How late the event loop ran a timer: what every request waited for.",
        )

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            asked_s = self._clock.now() + self._interval_s
            await asyncio.sleep(self._interval_s)
            self._lag.record(max(0.0, self._clock.now() - asked_s) * 1000.0)
