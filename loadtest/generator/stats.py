"""Statistics of a run: linear-interpolated percentiles, the latency summary of one series, the
breakdowns of a workload (per tenant, cache verdicts, conversations) and the result of one run as
reported (and printed as JSON)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, interpolating linearly between the
    two nearest ranks (numpy's default method)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0..100, not {q}")
    position = (len(sorted_values) - 1) * q / 100.0
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    fraction = position - lower
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * fraction


@dataclass(frozen=True, slots=True)
class LatencySummary:
    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p99_9_ms: float
    max_ms: float
    mean_ms: float

    @classmethod
    def of_seconds(cls, values_s: Sequence[float]) -> LatencySummary | None:
        if not values_s:
            return None
        ordered = sorted(values_s)
        return cls(
            count=len(ordered),
            p50_ms=percentile(ordered, 50.0) * 1e3,
            p90_ms=percentile(ordered, 90.0) * 1e3,
            p99_ms=percentile(ordered, 99.0) * 1e3,
            p99_9_ms=percentile(ordered, 99.9) * 1e3,
            max_ms=ordered[-1] * 1e3,
            mean_ms=math.fsum(ordered) / len(ordered) * 1e3,
        )


@dataclass(frozen=True, slots=True)
class TenantSummary:
    """One tenant's measured requests: counts, errors by class, latency and TTFT."""

    requests: int
    ok: int
    errors: int
    errors_by_kind: dict[str, int]
    latency: LatencySummary | None
    ttft: LatencySummary | None


@dataclass(frozen=True, slots=True)
class CacheSummary:
    """What the target said of its cache (`x-router-cache`) over the measured requests: each
    verdict's count (`hit-exact`, `hit-semantic`, `miss`, `bypass`), the hits, their share of the
    successes, and, in a cache mix, the requests and hits of each kind of question."""

    verdicts: dict[str, int]
    hits: int
    hit_share: float | None
    by_question: dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """Measured turns of `turns`-turn conversations; `held`: turns sent after their slot because
    the previous turn's answer came after it (`loadtest.generator.conversation`)."""

    turns: int
    conversations: int
    held: int


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """The usage the answers told the client, over every request the run sent (warm-up
    included: a target bills those too): the successful answers, those of them that reported a
    usage, and the input (`prompt_tokens`) and output (`completion_tokens`) tokens it summed to,
    in the API's own fields. What a fallback-accounting check (`loadtest.harness.scorecard`)
    compares with what the provider billed."""

    answers: int
    with_usage: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class LoadResult:
    """Statistics over the measured (post warm-up) requests of one run.

    `latency` is the total time of successful requests and `ttft` (streams only) the time to the
    first content chunk, both from the scheduled send time. `send_lag` is how late the generator
    started each request; `latency_from_send` and `ttft_from_send` leave it out (the target's
    service time alone, open to coordinated omission if the generator is what lags, but free of
    the generator's millisecond timer granularity). `sent_rate_per_s` is the rate actually achieved
    in starting requests and `ok_rate_per_s` the successful completions per second of the measured
    window. `tpot` is each stream's time per output token after its first, `itl` every gap between
    two tokens of a stream, `output_tokens_per_s` the answers' output tokens over the window, and
    `goodput_per_s` the successful requests per second that met every SLO in `slo` (all of them
    when it states none).

    `loop` is `open` (the schedule at `offered_rate_per_s`, `arrival` fixed or poisson) or
    `closed` (`concurrency` clients; `offered_rate_per_s` is then the rate they achieved, a
    result rather than an input, and `max_in_flight` the most requests they had out at once).
    The workload's breakdowns are there when it has them: requests by kind (a streaming share),
    per tenant, the target's cache verdicts, the requests that carried PII, conversations.
    `usage` is the usage the answers reported, over every request sent (`UsageSummary`).
    """

    url: str
    kind: str
    offered_rate_per_s: float
    duration_s: float
    warmup_s: float
    timer: str
    requests: int
    ok: int
    errors: int
    errors_by_kind: dict[str, int]
    sent_rate_per_s: float
    ok_rate_per_s: float
    latency: LatencySummary | None
    ttft: LatencySummary | None
    send_lag: LatencySummary | None
    latency_from_send: LatencySummary | None
    ttft_from_send: LatencySummary | None
    tpot: LatencySummary | None
    itl: LatencySummary | None
    output_tokens_per_s: float
    goodput_per_s: float
    slo: dict[str, float]
    loop: str = "open"
    arrival: str = "fixed"
    concurrency: int | None = None
    max_in_flight: int | None = None
    seed: int = 0
    requests_by_kind: dict[str, int] = field(default_factory=dict)
    tenants: dict[str, TenantSummary] = field(default_factory=dict)
    cache: CacheSummary | None = None
    pii_requests: int | None = None
    conversation: ConversationSummary | None = None
    usage: UsageSummary | None = None
    notes: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, object]:
        return asdict(self)
