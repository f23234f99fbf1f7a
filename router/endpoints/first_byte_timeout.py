"""How long one streamed attempt waits for its first chunk: derived from what the (endpoint,
model) normally takes, so that a region that starts hanging fails over in seconds.

`routing.first_byte_timeout_s` (60 s) is the ceiling. Once the target has 20 recent successful
first chunks (`RECENT_MIN_SAMPLES`), an attempt waits `first_byte_timeout_factor` times their p95,
never less than `first_byte_timeout_floor_s`: a region whose p95 is 300 ms is given 10 s, not 60,
before the request moves on (a region that started timing out once held 58 requests for 48 s and
more). Streams only: a JSON answer's first byte comes with the whole answer, whose time grows with
its length, so it keeps the configured timeout.

A cold target (fewer samples) borrows what its siblings measured: the largest p95 among the
request's other targets for the same upstream model, since the model's time to first token is most
of it. When none is measured either (a fresh router), its wait is its share of the ceiling: the
ceiling divided by the distinct endpoints the request may try (at most its attempts), so that a
request meeting silent regions one after another still reaches a live one within the ceiling; a
fresh router in front of three regions, two of them silent, answered after 120 s before.
"""

from __future__ import annotations

from collections.abc import Sequence

from router.config.model import RoutingSettings
from router.endpoints.registry import Target


def first_byte_timeout_s(
    target: Target,
    plan: Sequence[Target],
    max_attempts: int,
    streaming: bool,
    routing: RoutingSettings,
) -> float:
    ceiling_s = routing.first_byte_timeout_s
    if not streaming:
        return ceiling_s
    p95_ms = target.stats.recent_first_byte_p95_ms(streaming=True)
    if p95_ms is None:
        p95_ms = _siblings_p95_ms(target, plan)
    if p95_ms is None:
        return _cold_share_s(plan, max_attempts, routing)
    derived_s = routing.first_byte_timeout_factor * p95_ms / 1000.0
    return min(ceiling_s, max(routing.first_byte_timeout_floor_s, derived_s))


def _siblings_p95_ms(target: Target, plan: Sequence[Target]) -> float | None:
    """The largest first-chunk p95 measured among the plan's other endpoints serving the same
    upstream model, or None when none has enough samples."""
    measured = [
        p95_ms
        for other in plan
        if other.endpoint is not target.endpoint
        and other.upstream_model == target.upstream_model
        and (p95_ms := other.stats.recent_first_byte_p95_ms(streaming=True)) is not None
    ]
    return max(measured, default=None)


def _cold_share_s(plan: Sequence[Target], max_attempts: int, routing: RoutingSettings) -> float:
    endpoints = len({id(target.endpoint) for target in plan})
    tries = max(1, min(max_attempts, endpoints))
    return max(routing.first_byte_timeout_floor_s, routing.first_byte_timeout_s / tries)
