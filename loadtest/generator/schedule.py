"""The open-loop schedule: request i is due at t0 + i / rate, whatever happened to the requests
before it, and the first requests of a run are warm-up, sent but not counted."""

from __future__ import annotations

import math
from dataclasses import dataclass

from loadtest.generator.settings import LoadSettings


def request_count(rate_per_s: float, span_s: float) -> int:
    """How many requests fall in [0, span_s) when request i is at i / rate_per_s."""
    # Rounding first keeps 0.3 s * 10/s at 3 requests rather than ceil(3.0000000000000004) = 4.
    return max(0, math.ceil(round(span_s * rate_per_s, 9)))


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """The schedule: request i is sent at t0 + i / rate_per_s; the first `warmup_requests` are
    sent but left out of the statistics."""

    rate_per_s: float
    total_requests: int
    warmup_requests: int

    @classmethod
    def from_settings(cls, settings: LoadSettings) -> LoadPlan:
        return cls(
            rate_per_s=settings.rate_per_s,
            total_requests=request_count(
                settings.rate_per_s, settings.warmup_s + settings.duration_s
            ),
            warmup_requests=request_count(settings.rate_per_s, settings.warmup_s),
        )

    def scheduled_at(self, t0: float, index: int) -> float:
        return t0 + index / self.rate_per_s

    def offsets_s(self) -> list[float]:
        return [self.scheduled_at(0.0, i) for i in range(self.total_requests)]
