"""Latency estimators: what the balancer believes each endpoint will cost in milliseconds.

This module owns four things, all per PoP (nearness is local by nature):

- `RttEwma`, the network round trip to an endpoint from active probes. Probes are small, evenly
  spaced and cheap, so a plain EWMA with a fixed alpha is enough: it smooths jitter and follows a
  route change within a few probes.
- `PeakEwma`, the cost of real traffic (time to first byte, whole response). This is Finagle's
  peak-sensitive EWMA, which Linkerd 2 uses for the same job: a sample above the current cost is
  taken at once (a slow endpoint is avoided on the first slow answer), while lower samples are
  blended in with a weight `exp(-elapsed_s / tau_s)` that depends on the time since the previous
  sample rather than on the request rate, so a busy and a quiet endpoint recover at the same speed.
  Reading the value decays it further for the idle time since the last sample. Finagle decays toward
  0; we decay toward the probed network RTT, the least a request can cost there, so an endpoint that
  had a spike and then got no traffic becomes attractive again without ever looking faster than
  its network path.
- `RecentQuantile`, a quantile (the p95) of the last 128 first-byte times, for the hedge delay
  (`router.forwarding.hedging`). A mean-like EWMA says nothing about the tail, and the tail is what
  a hedge waits out. A ring of 128 floats sorted on read (a few microseconds, read only for tenants
  that hedge) is exact over its window and needs no tuning, unlike streaming estimators (P²,
  t-digest) whose error matters most at the few samples an endpoint starts with.
- `EndpointModelStats`, the traffic record of one (endpoint, upstream model) pair.

`predicted_latency_ms` turns these into the one number the balancer compares, multiplied by
(in-flight + 1) as Linkerd does, so load shows up before latency does.

Pure logic: no I/O, no asyncio; time comes from an injected `Clock`.
"""

from __future__ import annotations

from math import ceil, exp

from router.clock import Clock
from router.config.model import EstimatorSettings


def _round_ms(value_ms: float | None) -> float | None:
    return None if value_ms is None else round(value_ms, 2)


class RttEwma:
    """Exponentially weighted moving average of active-probe round trips."""

    __slots__ = ("_alpha", "last_ms", "samples", "value_ms")

    def __init__(self, alpha: float) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self._alpha = alpha
        self.value_ms: float | None = None
        self.last_ms: float | None = None
        self.samples = 0

    def observe(self, sample_ms: float) -> None:
        value_ms = self.value_ms
        if value_ms is None:
            self.value_ms = sample_ms
        else:
            self.value_ms = value_ms + self._alpha * (sample_ms - value_ms)
        self.last_ms = sample_ms
        self.samples += 1

    def as_dict(self) -> dict[str, object]:
        return {
            "value_ms": _round_ms(self.value_ms),
            "last_ms": _round_ms(self.last_ms),
            "samples": self.samples,
        }


class PeakEwma:
    """Peak-sensitive EWMA (Finagle `PeakEwma`) whose reads decay toward a floor over idle time."""

    __slots__ = ("_clock", "_cost_ms", "_penalized", "_stamp_s", "_tau_s", "samples")

    def __init__(self, tau_s: float, clock: Clock) -> None:
        if tau_s <= 0.0:
            raise ValueError(f"tau_s must be positive, got {tau_s}")
        self._tau_s = tau_s
        self._clock = clock
        self._cost_ms: float | None = None
        # The cost was last raised by a failure (a lower bound), not by a measured answer.
        self._penalized = False
        self._stamp_s = 0.0
        self.samples = 0

    @property
    def cost_ms(self) -> float | None:
        """The cost as of the last sample, before any idle decay."""
        return self._cost_ms

    def observe(self, sample_ms: float) -> None:
        now_s = self._clock.now()
        cost_ms = self._cost_ms
        if cost_ms is None or sample_ms >= cost_ms:
            self._cost_ms = sample_ms
        else:
            w = exp(-(now_s - self._stamp_s) / self._tau_s)
            # Written as sample + (cost - sample) * w so the result never drops below the sample.
            self._cost_ms = sample_ms + (cost_ms - sample_ms) * w
        self._stamp_s = now_s
        self._penalized = False
        self.samples += 1

    def observe_lower_bound(self, sample_ms: float) -> None:
        """Record that a request took at least `sample_ms` (it failed or timed out after that long).

        A slow failure is evidence of slowness, so it raises the cost like a peak; a fast failure
        (connection refused) is no evidence of speed, so it never lowers it.
        """
        cost_ms = self._cost_ms
        if cost_ms is None or sample_ms > cost_ms:
            self.observe(sample_ms)
            self._penalized = True

    def forget_penalty(self) -> None:
        """Drop a cost that failures set, once the endpoint is known to answer again (readmitted
        after an ejection): a timed-out attempt says how long the endpoint did not answer, not
        how fast it answers now. Without this, a 1 s timeout's cost decayed with the idle time
        alone, and a region whose partition had healed got no traffic for half a minute
        (tests/network/test_partition.py). The next request measures it afresh."""
        if self._penalized:
            self._cost_ms = None
            self._penalized = False

    def value_ms(self, floor_ms: float) -> float | None:
        """The cost decayed toward `floor_ms` for the time since the last sample; None if unseen.

        A cost already at or below the floor is returned as it is: traffic measured faster than the
        probe path is believed over the probe.
        """
        cost_ms = self._cost_ms
        if cost_ms is None or cost_ms <= floor_ms:
            return cost_ms
        idle_s = self._clock.now() - self._stamp_s
        if idle_s <= 0.0:
            return cost_ms
        return floor_ms + (cost_ms - floor_ms) * exp(-idle_s / self._tau_s)

    def as_dict(self, floor_ms: float = 0.0) -> dict[str, object]:
        return {
            "cost_ms": _round_ms(self._cost_ms),
            "value_ms": _round_ms(self.value_ms(floor_ms)),
            "samples": self.samples,
        }


class RecentQuantile:
    """Quantiles of the last `size` samples: a ring buffer, sorted on the first read after a write.

    Only successful first bytes go in (see `EndpointModelStats.end`): a timeout is no measurement
    of the tail of answers, and hedging aims at requests slower than that tail.
    """

    __slots__ = ("_next", "_ring", "_size", "_sorted")

    def __init__(self, size: int = 128) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self._size = size
        self._ring: list[float] = []
        self._next = 0
        self._sorted: list[float] | None = None

    @property
    def samples(self) -> int:
        """How many samples the window holds (at most `size`)."""
        return len(self._ring)

    def observe(self, sample: float) -> None:
        ring = self._ring
        if len(ring) < self._size:
            ring.append(sample)
        else:
            ring[self._next] = sample
        self._next = (self._next + 1) % self._size
        self._sorted = None

    def quantile(self, q: float) -> float | None:
        """The nearest-rank `q` quantile of the window (0 < q <= 1); None while it is empty."""
        ordered = self._sorted
        if ordered is None:
            if not self._ring:
                return None
            ordered = self._sorted = sorted(self._ring)
        rank = max(1, ceil(q * len(ordered)))
        return ordered[rank - 1]

    def least(self) -> float | None:
        """The smallest sample in the window; None while it is empty."""
        return self.quantile(1.0 / self._size)


# The recent p95 first byte counts once this many successful ones were measured (hedging waits
# for it; a streamed attempt's first-byte timeout is derived from it).
RECENT_MIN_SAMPLES = 20
RECENT_QUANTILE = 0.95


class EndpointModelStats:
    """Traffic record of one (endpoint, upstream model) pair, kept across config reloads."""

    __slots__ = (
        "failures",
        "in_flight",
        "latency",
        "recent_latency",
        "recent_ttft",
        "requests",
        "ttft",
    )

    def __init__(self, settings: EstimatorSettings, clock: Clock) -> None:
        # Streaming time to first byte, ms.
        self.ttft = PeakEwma(settings.peak_ewma_tau_s, clock)
        # Whole response (non-streaming), ms.
        self.latency = PeakEwma(settings.peak_ewma_tau_s, clock)
        # The same two measurements, successful ones only, as windows for their p95.
        self.recent_ttft = RecentQuantile()
        self.recent_latency = RecentQuantile()
        self.in_flight = 0
        self.requests = 0
        self.failures = 0

    def begin(self) -> None:
        """An attempt was sent to this pair."""
        self.in_flight += 1
        self.requests += 1

    def end(
        self,
        *,
        ok: bool,
        elapsed_ms: float,
        ttft_ms: float | None = None,
        streaming: bool = False,
    ) -> None:
        """An attempt ended after `elapsed_ms`; `ttft_ms` if a streamed first byte arrived.

        Successful non-streaming attempts feed `latency`; a failed one only raises it (see
        `PeakEwma.observe_lower_bound`), and a streaming attempt that failed before its first byte
        raises `ttft` the same way. Measured first bytes (a stream's first chunk, a whole JSON
        answer) also go into the windows the hedge delay is read from.
        """
        if self.in_flight > 0:
            self.in_flight -= 1
        if ttft_ms is not None:
            self.ttft.observe(ttft_ms)
            self.recent_ttft.observe(ttft_ms)
        if ok:
            if not streaming:
                self.latency.observe(elapsed_ms)
                self.recent_latency.observe(elapsed_ms)
            return
        self.failures += 1
        if streaming:
            if ttft_ms is None:
                self.ttft.observe_lower_bound(elapsed_ms)
        else:
            self.latency.observe_lower_bound(elapsed_ms)

    def outrun(self, *, elapsed_ms: float, streaming: bool) -> None:
        """A hedge answered first and this attempt was cancelled after `elapsed_ms` without its
        first byte: it would have taken at least that long. The estimate is raised to it as a
        lower bound (so a pick that went slow loses its traffic even while hedges hide it), but
        it is no failure and no measured first byte for the hedge delay's window."""
        if self.in_flight > 0:
            self.in_flight -= 1
        if streaming:
            self.ttft.observe_lower_bound(elapsed_ms)
        else:
            self.latency.observe_lower_bound(elapsed_ms)

    def forget_penalties(self) -> None:
        """The endpoint answers again: costs set by its failures no longer count."""
        self.ttft.forget_penalty()
        self.latency.forget_penalty()

    def abandon(self) -> None:
        """An attempt ended without a verdict (cancelled, client gone): no sample, no failure."""
        if self.in_flight > 0:
            self.in_flight -= 1

    def recent_first_byte_p95_ms(self, streaming: bool) -> float | None:
        """The p95 of the recent successful first bytes (stream: the first chunk; JSON: the whole
        answer), or None while fewer than `RECENT_MIN_SAMPLES` were measured."""
        window = self.recent_ttft if streaming else self.recent_latency
        if window.samples < RECENT_MIN_SAMPLES:
            return None
        return window.quantile(RECENT_QUANTILE)

    def fastest_first_byte_ms(self, streaming: bool) -> float | None:
        """The fastest recent successful first byte (a stream's first chunk, or a whole JSON
        answer; each falling back to the other), None before any: what the pair can do, which
        one slow answer does not change (the peak estimates do change with it)."""
        first, second = (
            (self.recent_ttft, self.recent_latency)
            if streaming
            else (self.recent_latency, self.recent_ttft)
        )
        return first.least() if first.samples else second.least()

    def as_dict(self, rtt_ms: float | None = None) -> dict[str, object]:
        floor_ms = 0.0 if rtt_ms is None else rtt_ms
        return {
            "ttft": self.ttft.as_dict(floor_ms),
            "latency": self.latency.as_dict(floor_ms),
            "p95": {
                "ttft_ms": _round_ms(self.recent_ttft.quantile(0.95)),
                "ttft_samples": self.recent_ttft.samples,
                "latency_ms": _round_ms(self.recent_latency.quantile(0.95)),
                "latency_samples": self.recent_latency.samples,
            },
            "in_flight": self.in_flight,
            "requests": self.requests,
            "failures": self.failures,
        }


def predicted_latency_ms(
    stats: EndpointModelStats | None,
    rtt_ms: float | None,
    *,
    streaming: bool,
    prior_ttft_ms: float,
    endpoint_in_flight: int,
) -> float:
    """The latency the balancer compares for one request to one (endpoint, model) pair.

    Streaming requests read the TTFT estimate, others the whole-latency one, each falling back to
    the other. With no traffic yet the prior is `rtt_ms + prior_ttft_ms`; an endpoint not probed
    yet counts as RTT 0. That optimism is deliberate: a never-measured endpoint gets a request and
    thus a measurement, and the (in-flight + 1) factor stops it from drawing a herd meanwhile.
    """
    floor_ms = 0.0 if rtt_ms is None else rtt_ms
    estimate_ms: float | None = None
    if stats is not None:
        first, second = (stats.ttft, stats.latency) if streaming else (stats.latency, stats.ttft)
        estimate_ms = first.value_ms(floor_ms)
        if estimate_ms is None:
            estimate_ms = second.value_ms(floor_ms)
    if estimate_ms is None:
        estimate_ms = floor_ms + prior_ttft_ms
    return estimate_ms * (endpoint_in_flight + 1)
