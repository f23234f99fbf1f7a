"""How long one streamed attempt waits for its first chunk: derived from what the (endpoint,
model) normally takes, so that a region that starts hanging fails over in seconds.

`routing.first_byte_timeout_s` (60 s) is the ceiling, and all a cold target gets. Once the target
has 20 recent successful first chunks (`RECENT_MIN_SAMPLES`), an attempt waits
`first_byte_timeout_factor` times their p95, never less than `first_byte_timeout_floor_s`: a region
whose p95 is 300 ms is given 10 s, not 60, before the request moves on (a region that started
timing out once held 58 requests for 48 s and more). Streams only: a JSON answer's first byte comes
with the whole answer, whose time grows with its length, so it keeps the configured timeout.
"""

from __future__ import annotations

from router.config.model import RoutingSettings
from router.endpoints.estimators import EndpointModelStats


def first_byte_timeout_s(
    stats: EndpointModelStats, streaming: bool, routing: RoutingSettings
) -> float:
    ceiling_s = routing.first_byte_timeout_s
    p95_ms = stats.recent_first_byte_p95_ms(streaming=True) if streaming else None
    if p95_ms is None:
        return ceiling_s
    derived_s = routing.first_byte_timeout_factor * p95_ms / 1000.0
    return min(ceiling_s, max(routing.first_byte_timeout_floor_s, derived_s))
