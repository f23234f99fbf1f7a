"""Latency estimators: what the balancer believes each endpoint will cost in milliseconds.

This module owns three things, all per PoP (nearness is local by nature):

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
- `EndpointModelStats`, the traffic record of one (endpoint, upstream model) pair.

`predicted_latency_ms` turns these into the one number the balancer compares, multiplied by
(in-flight + 1) as Linkerd does, so load shows up before latency does.

Pure logic: no I/O, no asyncio; time comes from an injected `Clock`.
"""

from __future__ import annotations

from math import exp

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

    __slots__ = ("_clock", "_cost_ms", "_stamp_s", "_tau_s", "samples")

    def __init__(self, tau_s: float, clock: Clock) -> None:
        if tau_s <= 0.0:
            raise ValueError(f"tau_s must be positive, got {tau_s}")
        self._tau_s = tau_s
        self._clock = clock
        self._cost_ms: float | None = None
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
        self.samples += 1

    def observe_lower_bound(self, sample_ms: float) -> None:
        """Record that a request took at least `sample_ms` (it failed or timed out after that long).

        A slow failure is evidence of slowness, so it raises the cost like a peak; a fast failure
        (connection refused) is no evidence of speed, so it never lowers it.
        """
        cost_ms = self._cost_ms
        if cost_ms is None or sample_ms > cost_ms:
            self.observe(sample_ms)

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


class EndpointModelStats:
    """Traffic record of one (endpoint, upstream model) pair, kept across config reloads."""

    __slots__ = ("failures", "in_flight", "latency", "requests", "ttft")

    def __init__(self, settings: EstimatorSettings, clock: Clock) -> None:
        # Streaming time to first byte, ms.
        self.ttft = PeakEwma(settings.peak_ewma_tau_s, clock)
        # Whole response (non-streaming), ms.
        self.latency = PeakEwma(settings.peak_ewma_tau_s, clock)
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
        raises `ttft` the same way.
        """
        if self.in_flight > 0:
            self.in_flight -= 1
        if ttft_ms is not None:
            self.ttft.observe(ttft_ms)
        if ok:
            if not streaming:
                self.latency.observe(elapsed_ms)
            return
        self.failures += 1
        if streaming:
            if ttft_ms is None:
                self.ttft.observe_lower_bound(elapsed_ms)
        else:
            self.latency.observe_lower_bound(elapsed_ms)

    def abandon(self) -> None:
        """An attempt ended without a verdict (cancelled, client gone): no sample, no failure."""
        if self.in_flight > 0:
            self.in_flight -= 1

    def as_dict(self, rtt_ms: float | None = None) -> dict[str, object]:
        floor_ms = 0.0 if rtt_ms is None else rtt_ms
        return {
            "ttft": self.ttft.as_dict(floor_ms),
            "latency": self.latency.as_dict(floor_ms),
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
