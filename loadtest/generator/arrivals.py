"""When each request of an open-loop run is due: at a fixed rate (`schedule.LoadPlan`, request i
at i / rate) or as a Poisson process at the same mean rate (`PoissonPlan`: independent
exponential gaps, drawn once before the run from the run's seed, so that a run is reproducible and
its schedule never depends on how the target answers). Either way a request's latency is
measured from the time it was due.

The Poisson schedule is drawn whole before the run (a float per request: 8 MB for a million), so
the send loop only looks its next time up, as it does for the fixed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from loadtest.generator.distributions import seeded_rng
from loadtest.generator.schedule import LoadPlan
from loadtest.generator.settings import MAX_REQUESTS, LoadSettings


class Schedule(Protocol):
    """Request i is due at `scheduled_at(t0, i)`; the first `warmup_requests` are sent but left
    out of the statistics."""

    @property
    def total_requests(self) -> int: ...

    @property
    def warmup_requests(self) -> int: ...

    def scheduled_at(self, t0: float, index: int) -> float: ...

    def offsets_s(self) -> list[float]: ...


@dataclass(frozen=True, slots=True)
class PoissonPlan:
    """Arrivals of a Poisson process at `rate_per_s`: the gaps between them independent and
    exponential with mean 1 / rate_per_s, the first one after a gap from 0; every arrival before
    `warmup_s + duration_s`."""

    rate_per_s: float
    offsets: tuple[float, ...]
    warmup_requests: int

    @classmethod
    def from_settings(cls, settings: LoadSettings) -> PoissonPlan:
        return cls.drawn(settings.rate_per_s, settings.warmup_s, settings.duration_s, settings.seed)

    @classmethod
    def drawn(cls, rate_per_s: float, warmup_s: float, duration_s: float, seed: int) -> PoissonPlan:
        rng = seeded_rng(seed, "arrivals")
        span_s = warmup_s + duration_s
        offsets: list[float] = []
        at = rng.expovariate(rate_per_s)
        while at < span_s and len(offsets) < MAX_REQUESTS:
            offsets.append(at)
            at += rng.expovariate(rate_per_s)
        warmup = sum(1 for offset in offsets if offset < warmup_s)
        return cls(rate_per_s, tuple(offsets), warmup)

    @property
    def total_requests(self) -> int:
        return len(self.offsets)

    def scheduled_at(self, t0: float, index: int) -> float:
        return t0 + self.offsets[index]

    def offsets_s(self) -> list[float]:
        return list(self.offsets)


def schedule_for(settings: LoadSettings) -> LoadPlan | PoissonPlan:
    """The open loop's schedule the settings ask for."""
    if settings.arrival == "poisson":
        return PoissonPlan.from_settings(settings)
    return LoadPlan.from_settings(settings)
