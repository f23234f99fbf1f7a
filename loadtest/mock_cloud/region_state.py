"""One region's state besides its sockets: settings, randomness, counters, recent requests.

Settings are swapped whole; a request reads `state.settings` once and keeps that snapshot, so a
patch never changes a request halfway. Counters satisfy, at any moment,
`requests_total == in_flight + completed + cancelled`.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from multidict import CIMultiDictProxy

from .settings import RegionSettings
from .wire import models_body

AuthVerdict = Literal["valid", "invalid", "missing"]


@dataclass(slots=True)
class RegionStats:
    requests_total: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    # Answered in full, whatever the status.
    completed: int = 0
    # The client went away (or the region went down) before the answer was complete.
    cancelled: int = 0
    errors_injected: int = 0
    timeouts_injected: int = 0

    def reset(self) -> None:
        # Requests still in flight stay counted, so the invariant holds across a reset.
        self.requests_total = self.in_flight
        self.by_path.clear()
        self.completed = self.cancelled = self.errors_injected = self.timeouts_injected = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "requests_total": self.requests_total,
            "by_path": dict(self.by_path),
            "in_flight": self.in_flight,
            "completed": self.completed,
            "cancelled": self.cancelled,
            "errors_injected": self.errors_injected,
            "timeouts_injected": self.timeouts_injected,
        }


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One received request, kept as aiohttp parsed it; formatted only when someone asks."""

    received_at: float
    method: str
    path: str
    query: str
    headers: CIMultiDictProxy[str]
    auth: AuthVerdict
    body: bytes

    def to_json(self) -> dict[str, Any]:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            # The key itself never leaves the process; tests only need to know if it matched.
            shown = self.auth if key == "authorization" else value
            headers[key] = f"{headers[key]}, {shown}" if key in headers else shown
        return {
            "received_at": self.received_at,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": headers,
            "auth": self.auth,
            "body": self.body.decode("utf-8", errors="replace"),
        }


def auth_verdict(authorization: str | None, api_key: str | None) -> AuthVerdict:
    if authorization is None:
        return "missing"
    if api_key is None or authorization == f"Bearer {api_key}":
        return "valid"
    return "invalid"


class RegionState:
    def __init__(self, settings: RegionSettings, rng: random.Random, record_limit: int) -> None:
        self.rng = rng
        self.stats = RegionStats()
        self.records: deque[RequestRecord] = deque(maxlen=record_limit)
        self.settings = settings
        self.models = frozenset(settings.models)
        self.models_body = models_body(settings.models)

    def apply(self, settings: RegionSettings) -> None:
        if settings.name != self.settings.name:
            raise ValueError("a region cannot be renamed")
        # Derived values first: a request that snaps the new settings must see matching models.
        self.models = frozenset(settings.models)
        self.models_body = models_body(settings.models)
        self.settings = settings

    def sample_rtt_s(self, settings: RegionSettings) -> float:
        """One simulated round trip: lognormal around the median `rtt_ms`."""
        if settings.rtt_ms == 0:
            return 0.0
        if settings.rtt_jitter == 0:
            return settings.rtt_ms / 1000
        return settings.rtt_ms * math.exp(self.rng.gauss(0.0, settings.rtt_jitter)) / 1000

    def record(
        self,
        method: str,
        path: str,
        query: str,
        headers: CIMultiDictProxy[str],
        auth: AuthVerdict,
        body: bytes,
    ) -> None:
        if self.records.maxlen:
            self.records.append(
                RequestRecord(time.time(), method, path, query, headers, auth, body)
            )

    def reset(self) -> None:
        self.stats.reset()
        self.records.clear()
