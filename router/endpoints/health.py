"""Endpoint health: passive outlier detection, active probes and half-open re-admission.

This module owns, per endpoint and per PoP, the answer to "may this endpoint take traffic now?".
The model is Envoy's outlier detection, because it judges endpoints by the traffic they actually
serve and needs no coordination between router processes:

- Real traffic: `consecutive_failures` connect errors, timeouts or 5xx in a row eject the endpoint
  (Envoy's consecutive_5xx, which also counts local-origin errors by default). One counter for all
  three keeps the rule easy to explain. A 429 neither counts nor resets the streak: the endpoint is
  up but shedding our load (often one tenant's quota), so ejecting it would only push that load
  elsewhere; it is counted in `rate_limited` for the admin view and the estimators see it as a slow
  answer.
- Active probes: `probe_failures_to_eject` failed probes in a row eject a healthy endpoint, which
  catches an endpoint that broke while it had no traffic. A good probe does not end an ejection
  early; a probe while half-open is a trial like any other request.
- Back-off: ejection lasts `base_ejection_s * 2**(times_ejected - 1)`, capped at
  `max(max_ejection_s, base_ejection_s)` (Envoy caps the same way). Doubling rather than Envoy's
  linear multiplier reaches the cap in a few flaps, so a flapping endpoint stops costing retries
  sooner. Each full `max_ejection_s` an endpoint then stays healthy forgets one past ejection (Envoy
  likewise decrements its multiplier while the host stays healthy), so an incident last week does
  not make today's ejection long.
- Half-open: when the ejection time is over, one request at a time (the trial) is let through. Its
  success re-admits the endpoint; its failure ejects it again for longer. A trial that never
  reports (a lost task) frees its slot after `base_ejection_s` so it cannot wedge the endpoint;
  `cancel_trial` frees it at once when a trial ends without a verdict (client gone, 429).
- Start-up grace: an endpoint that has never answered is starting (a worker loading its models, a
  sidecar coming up) for `startup_grace_s` after it is first tracked; failed probes in that time
  are not counted, so the prober never ejects an endpoint that is still starting. Real traffic
  is judged as always. `answered` feeds the router's readiness.
- `HealthBoard` applies `max_ejection_percent` across endpoints: see `HealthBoard`.

Pure logic: no I/O, no asyncio; time comes from an injected `Clock`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from router.clock import Clock
from router.config.model import HealthSettings

# 2**62 already exceeds any sane cap; bounding the exponent keeps the float finite.
_MAX_BACKOFF_EXPONENT = 62


class FailureKind(enum.Enum):
    CONNECT = "connect"
    TIMEOUT = "timeout"
    STATUS_5XX = "status_5xx"
    STATUS_429 = "status_429"
    PROBE = "probe"


class HealthState(enum.Enum):
    HEALTHY = "healthy"
    EJECTED = "ejected"
    HALF_OPEN = "half_open"


class EndpointHealth:
    """Health of one endpoint. `record_*` return True when the endpoint should now be ejected;
    the owner (normally `HealthBoard`) decides and calls `eject()`."""

    __slots__ = (
        "_clock",
        "_ejected_until_s",
        "_healthy_since_s",
        "_settings",
        "_tracked_since_s",
        "_trial_started_s",
        "answered",
        "consecutive_failures",
        "consecutive_probe_failures",
        "ejections",
        "last_probe_rtt_ms",
        "rate_limited",
        "readmissions",
        "times_ejected",
    )

    def __init__(self, settings: HealthSettings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._ejected_until_s: float | None = None
        self._healthy_since_s: float | None = clock.now()
        self._trial_started_s: float | None = None
        self._tracked_since_s = clock.now()
        self.answered = False  # a probe or a request has succeeded at least once
        self.consecutive_failures = 0
        self.consecutive_probe_failures = 0
        self.times_ejected = 0  # decays with time: it sets the next ejection's length
        self.ejections = 0  # every ejection since the router started (for the metrics)
        self.rate_limited = 0
        self.readmissions = 0  # every return from HALF_OPEN to HEALTHY
        self.last_probe_rtt_ms: float | None = None

    @property
    def state(self) -> HealthState:
        until_s = self._ejected_until_s
        if until_s is None:
            return HealthState.HEALTHY
        return HealthState.EJECTED if self._clock.now() < until_s else HealthState.HALF_OPEN

    @property
    def starting(self) -> bool:
        """Never answered, and still inside its start-up grace."""
        grace_s = self._settings.startup_grace_s
        return not self.answered and self._clock.now() - self._tracked_since_s < grace_s

    @property
    def ejected_until_s(self) -> float | None:
        return self._ejected_until_s

    def available(self) -> bool:
        """HEALTHY, or HALF_OPEN with the trial slot free."""
        return self._ejected_until_s is None or self.admits_trial()

    def admits_trial(self) -> bool:
        until_s = self._ejected_until_s
        if until_s is None:
            return False
        now_s = self._clock.now()
        return now_s >= until_s and self._trial_slot_free(now_s)

    def begin_trial(self) -> None:
        """Take the trial slot; a no-op unless HALF_OPEN, so it may be called on every attempt."""
        if self.state is HealthState.HALF_OPEN:
            self._trial_started_s = self._clock.now()

    def cancel_trial(self) -> None:
        """Free the trial slot without a verdict."""
        self._trial_started_s = None

    def record_success(self) -> None:
        self.answered = True
        self.consecutive_failures = 0
        if self.state is HealthState.HALF_OPEN:
            self._readmit()

    def record_first_byte(self) -> None:
        """A stream's first byte: the endpoint serves (a half-open trial ends now, not when a
        long stream does), but the stream's verdict comes at its end, so the failures in a row
        stand: an endpoint that breaks every stream after its start is still ejected."""
        self.answered = True
        if self.state is HealthState.HALF_OPEN:
            self._readmit()

    def record_failure(self, kind: FailureKind) -> bool:
        if kind is FailureKind.PROBE:
            return self._probe_failed()
        state = self.state
        if kind is FailureKind.STATUS_429:
            self.rate_limited += 1
            if state is HealthState.HALF_OPEN:
                self.cancel_trial()
            return False
        if state is HealthState.EJECTED:
            # A straggler sent before the ejection: the endpoint is already out.
            return False
        if state is HealthState.HALF_OPEN:
            self._trial_started_s = None
            return True
        self.consecutive_failures += 1
        return self.consecutive_failures >= self._settings.consecutive_failures

    def record_probe(self, ok: bool, rtt_ms: float | None) -> bool:
        if rtt_ms is not None:
            self.last_probe_rtt_ms = rtt_ms
        if not ok:
            return self._probe_failed()
        self.answered = True
        self.consecutive_probe_failures = 0
        if self.state is HealthState.HALF_OPEN:
            self._readmit()
        return False

    def eject(self) -> float:
        """Eject now; returns the ejection time in seconds."""
        now_s = self._clock.now()
        self.times_ejected = self._decayed_times_ejected(now_s) + 1
        self.ejections += 1
        duration_s = self._backoff_s(self.times_ejected)
        self._ejected_until_s = now_s + duration_s
        self._healthy_since_s = None
        self._trial_started_s = None
        self.consecutive_failures = 0
        self.consecutive_probe_failures = 0
        return duration_s

    def as_dict(self) -> dict[str, object]:
        now_s = self._clock.now()
        until_s = self._ejected_until_s
        ejected_for_s = 0.0 if until_s is None else max(0.0, until_s - now_s)
        return {
            "state": self.state.value,
            "starting": self.starting,
            "answered": self.answered,
            "consecutive_failures": self.consecutive_failures,
            "consecutive_probe_failures": self.consecutive_probe_failures,
            "times_ejected": self._decayed_times_ejected(now_s),
            "ejected_for_s": round(ejected_for_s, 2),
            "trial_in_flight": not self._trial_slot_free(now_s),
            "rate_limited": self.rate_limited,
            "last_probe_rtt_ms": (
                None if self.last_probe_rtt_ms is None else round(self.last_probe_rtt_ms, 2)
            ),
        }

    def _probe_failed(self) -> bool:
        if self.starting:
            return False
        self.consecutive_probe_failures += 1
        state = self.state
        if state is HealthState.EJECTED:
            return False
        if state is HealthState.HALF_OPEN:
            return True
        return self.consecutive_probe_failures >= self._settings.probe_failures_to_eject

    def _readmit(self) -> None:
        self.readmissions += 1
        self._ejected_until_s = None
        self._trial_started_s = None
        self._healthy_since_s = self._clock.now()
        self.consecutive_failures = 0

    def _trial_slot_free(self, now_s: float) -> bool:
        started_s = self._trial_started_s
        return started_s is None or now_s - started_s >= self._settings.base_ejection_s

    def _decayed_times_ejected(self, now_s: float) -> int:
        since_s = self._healthy_since_s
        if since_s is None or self.times_ejected == 0:
            return self.times_ejected
        forgiven = int((now_s - since_s) // self._settings.max_ejection_s)
        return max(0, self.times_ejected - forgiven)

    def _backoff_s(self, times_ejected: int) -> float:
        settings = self._settings
        cap_s = max(settings.max_ejection_s, settings.base_ejection_s)
        exponent = min(max(times_ejected - 1, 0), _MAX_BACKOFF_EXPONENT)
        return min(cap_s, settings.base_ejection_s * float(2**exponent))


class HealthBoard:
    """The health of every endpoint of this PoP, and the `max_ejection_percent` guard.

    An ejection is allowed when, after it, at most `max_ejection_percent` of the endpoints are out
    (EJECTED or HALF_OPEN: a half-open endpoint takes one request at a time, so it is not capacity).
    Like Envoy, at least one endpoint may always be ejected when there are two or more and the
    percentage is above 0 (with two endpoints and 40 %, one bad endpoint must still go). That
    exception never takes the last healthy endpoint: below 100 %, when everything fails, the rest
    stay in and the balancer keeps sending them traffic (and its "all unavailable" path tries the
    best anyway). Re-ejecting an endpoint that is already out (a failed half-open trial) is always
    allowed, as it takes no capacity away.
    """

    __slots__ = ("_clock", "_endpoints", "_settings")

    def __init__(self, settings: HealthSettings, clock: Clock, names: Iterable[str] = ()) -> None:
        self._settings = settings
        self._clock = clock
        self._endpoints: dict[str, EndpointHealth] = {}
        self.sync(names)

    def sync(self, names: Iterable[str]) -> None:
        """Track exactly `names` (after a config reload): keep known state, add new, drop gone."""
        wanted = list(names)
        kept = {name: self._endpoints.get(name) for name in wanted}
        self._endpoints = {
            name: health if health is not None else EndpointHealth(self._settings, self._clock)
            for name, health in kept.items()
        }

    def names(self) -> tuple[str, ...]:
        return tuple(self._endpoints)

    def get(self, name: str) -> EndpointHealth:
        return self._endpoints[name]

    def available(self, name: str) -> bool:
        return self._endpoints[name].available()

    def record_success(self, name: str) -> None:
        self._endpoints[name].record_success()

    def record_first_byte(self, name: str) -> None:
        self._endpoints[name].record_first_byte()

    def record_failure(self, name: str, kind: FailureKind) -> bool:
        """Returns True when this failure ejected the endpoint."""
        health = self._endpoints[name]
        return health.record_failure(kind) and self._eject_if_allowed(health)

    def record_probe(self, name: str, ok: bool, rtt_ms: float | None) -> bool:
        """Returns True when this probe ejected the endpoint."""
        health = self._endpoints[name]
        return health.record_probe(ok, rtt_ms) and self._eject_if_allowed(health)

    def out_count(self) -> int:
        """Endpoints not HEALTHY (EJECTED or HALF_OPEN)."""
        return sum(1 for h in self._endpoints.values() if h.state is not HealthState.HEALTHY)

    def as_dict(self) -> dict[str, dict[str, object]]:
        return {name: health.as_dict() for name, health in self._endpoints.items()}

    def _eject_if_allowed(self, health: EndpointHealth) -> bool:
        if not self._may_eject(health):
            return False
        health.eject()
        return True

    def _may_eject(self, health: EndpointHealth) -> bool:
        if health.state is not HealthState.HEALTHY:
            return True
        total = len(self._endpoints)
        out = self.out_count()
        max_percent = self._settings.max_ejection_percent
        if (out + 1) * 100 <= max_percent * total:
            return True
        return out == 0 and total >= 2 and max_percent > 0
