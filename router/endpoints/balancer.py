"""Endpoint selection: which candidate serves a request, and in what order the others are tried.

This module owns the choice among candidates that already passed the model, tag and privacy
filters. Its inputs are numbers computed elsewhere (predicted latency from `estimators`,
availability from `health`, price from the endpoint's table), so it is pure, fast and exact to test.

How it chooses:
- Only available candidates compete. If none is, all of them are ranked the same way and the best
  is tried anyway: an endpoint that is probably down beats a certain error.
- The objective sets the score: `latency` is the predicted latency; `cost` is the price, prices
  within 1 % of the cheapest counting as the cheapest so that latency decides between them;
  `balanced` is w_latency * latency / best latency + w_cost * price / best price, so with the
  default weights (1 and 1, a tenant's `routing.weights`) the best on both scores 2. A free
  endpoint (the local worker) has a price term of 0 and the cheapest paid one w_cost; free and slow
  therefore still loses to paid and fast unless the cost weight says otherwise. A cost weight of 0
  ranks like `latency`, a latency weight of 0 like `cost` (without its 1 % tie).
- An SLO (max predicted latency) overrides the objective: the cheapest candidate predicted to meet
  it wins (as under `cost`); if none does, the fastest wins and the reason says `slo_missed`.
- Power of two choices (Mitzenmacher; Linkerd and Finagle balance the same way) among the
  near-best, the candidates scoring within (1 + p2c_band) of the best: draw two at random and take
  the better. Load is part of the predicted latency (x (in-flight + 1)), so near-equal endpoints
  share the traffic without herding onto one, while an endpoint outside the band gets none.
- The fail-over order is the pick, then the rest of the competing candidates by score, then the
  unavailable ones by score, so a request may still try an ejected endpoint rather than fail.

Each candidate gets one sort key `(group, score, tie_break)`; group 1 holds candidates missing the
SLO, ranked by latency after those meeting it. Keys are sorted once.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from router.config.model import Objective

# Prices within this share of the cheapest are a tie, broken by latency.
_PRICE_TIE_SHARE = 0.01
# Endpoint names are cut to this many characters in the reason, which stays under ~200 characters.
_REASON_NAME_CHARS = 40
_REASON_MAX_CHARS = 200
_TOKENS_PER_MTOK = 1_000_000.0

_Key = tuple[int, float, float]
_Weights = tuple[float, float]  # (latency, cost) in `balanced`
_DEFAULT_WEIGHTS: _Weights = (1.0, 1.0)


# Not frozen: a frozen dataclass builds through object.__setattr__, measurably slower on the
# hot path, and candidates are never shared or mutated after construction anyway.
@dataclass(slots=True)
class Candidate:
    endpoint: str
    upstream_model: str
    region: str
    predicted_latency_ms: float
    # Estimated cost of this request on this candidate.
    price_usd: float
    # Health says it may take traffic now.
    available: bool = True


@dataclass(slots=True)
class Selection:
    # The pick first, then the fail-over order.
    ordered: tuple[Candidate, ...]
    # Short, header-safe ASCII explanation for `x-router-reason` and the access log.
    reason: str
    all_unavailable: bool

    @property
    def pick(self) -> Candidate | None:
        return self.ordered[0] if self.ordered else None


def estimate_price_usd(
    input_tokens: int,
    output_tokens: int,
    input_price_per_mtok: float,
    output_price_per_mtok: float,
) -> float:
    return (
        input_tokens * input_price_per_mtok + output_tokens * output_price_per_mtok
    ) / _TOKENS_PER_MTOK


def choose(
    candidates: Sequence[Candidate],
    *,
    objective: Objective,
    latency_slo_ms: float | None,
    p2c_band: float,
    rng: random.Random,
    latency_weight: float = 1.0,
    cost_weight: float = 1.0,
) -> Selection:
    """`latency_weight` and `cost_weight` weigh the two terms of `balanced` (ignored otherwise)."""
    if not candidates:
        return Selection((), "no_candidates", False)
    competing = [c for c in candidates if c.available]
    all_unavailable = not competing
    benched: list[Candidate] = []
    if all_unavailable:
        competing = list(candidates)
    elif len(competing) < len(candidates):
        benched = [c for c in candidates if not c.available]

    weights = (latency_weight, cost_weight)
    keys = _keys(competing, objective, latency_slo_ms, weights)
    order = sorted(range(len(competing)), key=keys.__getitem__)
    near_best = _near_best_count(keys, order, p2c_band)
    ranked = [competing[i] for i in order]
    pick = ranked.pop(_power_of_two(keys, order, near_best, rng))
    ordered = (pick, *ranked, *_ranked(benched, objective, latency_slo_ms, weights))

    slo_missed = latency_slo_ms is not None and keys[order[0]][0] == 1
    goal = _goal(objective, latency_slo_ms, weights)
    reason = _reason(ordered, goal, slo_missed, near_best, all_unavailable)
    return Selection(ordered, reason, all_unavailable)


def _ranked(
    candidates: list[Candidate],
    objective: Objective,
    latency_slo_ms: float | None,
    weights: _Weights,
) -> list[Candidate]:
    if not candidates:
        return candidates
    keys = _keys(candidates, objective, latency_slo_ms, weights)
    return [candidates[i] for i in sorted(range(len(candidates)), key=keys.__getitem__)]


def _keys(
    candidates: list[Candidate],
    objective: Objective,
    latency_slo_ms: float | None,
    weights: _Weights,
) -> list[_Key]:
    if latency_slo_ms is not None:
        return _slo_keys(candidates, latency_slo_ms)
    if objective == "cost":
        return _cost_keys(candidates)
    if objective == "balanced":
        return _balanced_keys(candidates, weights)
    return [(0, c.predicted_latency_ms, c.price_usd) for c in candidates]


def _cost_keys(candidates: list[Candidate]) -> list[_Key]:
    best_usd = min(c.price_usd for c in candidates)
    tied_usd = best_usd * (1.0 + _PRICE_TIE_SHARE)
    return [
        (0, best_usd if c.price_usd <= tied_usd else c.price_usd, c.predicted_latency_ms)
        for c in candidates
    ]


def _slo_keys(candidates: list[Candidate], latency_slo_ms: float) -> list[_Key]:
    """Group 0: meets the SLO, ranked as under `cost`; group 1: misses it, ranked by latency."""
    meeting_usd = [c.price_usd for c in candidates if c.predicted_latency_ms <= latency_slo_ms]
    best_usd = min(meeting_usd, default=0.0)
    tied_usd = best_usd * (1.0 + _PRICE_TIE_SHARE)
    return [
        (0, best_usd if c.price_usd <= tied_usd else c.price_usd, c.predicted_latency_ms)
        if c.predicted_latency_ms <= latency_slo_ms
        else (1, c.predicted_latency_ms, c.price_usd)
        for c in candidates
    ]


def _balanced_keys(candidates: list[Candidate], weights: _Weights) -> list[_Key]:
    latency_weight, cost_weight = weights
    # The smallest positive value is the unit, so a zero (a free endpoint) scores 0, not inf.
    latency_unit_ms = min(
        (c.predicted_latency_ms for c in candidates if c.predicted_latency_ms > 0), default=0.0
    )
    price_unit_usd = min((c.price_usd for c in candidates if c.price_usd > 0), default=0.0)
    return [
        (
            0,
            _weighed(c.predicted_latency_ms, latency_unit_ms, latency_weight)
            + _weighed(c.price_usd, price_unit_usd, cost_weight),
            c.predicted_latency_ms,
        )
        for c in candidates
    ]


def _weighed(value: float, unit: float, weight: float) -> float:
    # A zero weight drops the term outright: 0 * inf (a ratio to a subnormal unit) would be NaN,
    # and NaN keys sort arbitrarily.
    return weight * (value / unit) if unit > 0 and weight > 0 else 0.0


def _near_best_count(keys: list[_Key], order: list[int], p2c_band: float) -> int:
    """How many ranked candidates score within (1 + p2c_band) of the best, in the best's group."""
    group, best_score, _ = keys[order[0]]
    limit = best_score * (1.0 + p2c_band)
    count = 1
    for index in order[1:]:
        key = keys[index]
        if key[0] != group or key[1] > limit:
            break
        count += 1
    return count


def _power_of_two(keys: list[_Key], order: list[int], near_best: int, rng: random.Random) -> int:
    """Position in `order` of the pick: the better of two drawn among the first `near_best`."""
    if near_best < 2:
        return 0
    first = int(rng.random() * near_best)
    second = int(rng.random() * (near_best - 1))
    if second >= first:
        second += 1
    # Ties go to the first drawn, so equal candidates split the traffic evenly.
    return second if keys[order[second]] < keys[order[first]] else first


def _goal(objective: Objective, latency_slo_ms: float | None, weights: _Weights) -> str:
    """`latency`, `cost`, `balanced`, `balanced(latency=1,cost=3)` when weighed otherwise than
    1 and 1, or `slo(300ms)`."""
    if latency_slo_ms is not None:
        return f"slo({latency_slo_ms:.0f}ms)"
    if objective == "balanced" and weights != _DEFAULT_WEIGHTS:
        return f"balanced(latency={weights[0]:g},cost={weights[1]:g})"
    return objective


def _reason(
    ordered: tuple[Candidate, ...],
    goal: str,
    slo_missed: bool,
    near_best: int,
    all_unavailable: bool,
) -> str:
    """e.g. `objective=latency; pick=us-east(34.2ms,$0.000120); over=eu-west(80.1ms,$0.000300);
    p2c=2`, prefixed by `all_unavailable; ` and with `objective=slo(300ms); slo_missed` as they
    apply. `over` is the first fail-over; `p2c` the size of the near-best set drawn from."""
    pick = ordered[0]
    reason = (
        f"{'all_unavailable; ' if all_unavailable else ''}objective={goal}"
        f"{'; slo_missed' if slo_missed else ''}"
        f"; pick={pick.endpoint[:_REASON_NAME_CHARS]}"
        f"({pick.predicted_latency_ms:.1f}ms,${pick.price_usd:.6f})"
    )
    if len(ordered) > 1:
        over = ordered[1]
        reason += (
            f"; over={over.endpoint[:_REASON_NAME_CHARS]}"
            f"({over.predicted_latency_ms:.1f}ms,${over.price_usd:.6f})"
        )
    return header_safe(f"{reason}; p2c={near_best}")


def header_safe(text: str) -> str:
    if not (text.isascii() and text.isprintable()):
        text = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    return text[:_REASON_MAX_CHARS]
