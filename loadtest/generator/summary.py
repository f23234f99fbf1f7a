"""A run's measured window, summarised: the standard metrics over its successes (`summarise`),
the workload's breakdowns (by kind, per tenant, the target's cache verdicts, PII, conversations),
and every measured request's own record (`request_records`), for plots over time."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from loadtest.generator.questions import QUESTION_KINDS
from loadtest.generator.requests import OUTCOME_OK, OUTCOME_UNFINISHED
from loadtest.generator.settings import LoadSettings
from loadtest.generator.stats import (
    CacheSummary,
    ConversationSummary,
    LatencySummary,
    LoadResult,
    TenantSummary,
    UsageSummary,
)

if TYPE_CHECKING:
    from loadtest.generator.run import _Run


@dataclass(frozen=True, slots=True)
class RequestRecord:
    due_s: float
    latency_ms: float | None
    ttft_ms: float | None
    outcome: str
    # What the workload drew, where it draws it (None otherwise): the kind, the tenant's name,
    # the question's kind in a cache mix, a conversation's turn; and the target's cache verdict.
    kind: str | None = None
    tenant: str | None = None
    question: str | None = None
    turn: int | None = None
    cache: str | None = None


def summarise(run: _Run) -> LoadResult:
    settings = run.settings
    slots = run.slots
    measured = range(run.measured_from, run.end)
    outcome = [slots.outcome[i] or OUTCOME_UNFINISHED for i in measured]
    errors = Counter(outcome)
    errors.pop(OUTCOME_OK, None)
    ok = [i for i in measured if slots.outcome[i] == OUTCOME_OK]
    streamed = [i for i in ok if not math.isnan(slots.ttft_s[i])]
    lags = [slots.send_lag_s[i] for i in measured if not math.isnan(slots.send_lag_s[i])]
    tpot_s = {i: _tpot_s(slots.token_times[i]) for i in ok}
    gaps_s = [gap for i in ok for gap in _gaps_s(slots.token_times[i])]
    good = sum(1 for i in ok if _meets_slos(run, i, tpot_s[i]))
    sent_rate = _sent_rate(run, measured)
    any_stream = any(plan.streamed for plan in run.workload.kinds)
    send_lags = [slots.send_lag_s[i] for i in streamed]
    kinds = run.workload.kinds
    return LoadResult(
        url=str(run.url),
        kind=settings.kind,
        offered_rate_per_s=sent_rate if settings.closed_loop else settings.rate_per_s,
        duration_s=settings.duration_s,
        warmup_s=settings.warmup_s,
        timer=run.sleeper.name,
        requests=len(measured),
        ok=len(ok),
        errors=sum(errors.values()),
        errors_by_kind=dict(sorted(errors.items())),
        sent_rate_per_s=sent_rate,
        ok_rate_per_s=len(ok) / settings.duration_s,
        latency=_summary(slots.latency_s, ok),
        ttft=_summary(slots.ttft_s, streamed) if any_stream else None,
        send_lag=LatencySummary.of_seconds(lags),
        latency_from_send=_summary(slots.latency_s, ok, [slots.send_lag_s[i] for i in ok]),
        ttft_from_send=_summary(slots.ttft_s, streamed, send_lags) if any_stream else None,
        tpot=LatencySummary.of_seconds([t for t in tpot_s.values() if t is not None]),
        itl=LatencySummary.of_seconds(gaps_s),
        output_tokens_per_s=sum(slots.output_tokens[i] for i in ok) / settings.duration_s,
        goodput_per_s=good / settings.duration_s,
        slo=_slos(settings),
        loop="closed" if settings.closed_loop else "open",
        arrival=settings.arrival,
        concurrency=settings.concurrency,
        max_in_flight=run.max_in_flight,
        seed=settings.seed,
        requests_by_kind=(
            dict(sorted(Counter(kinds[slots.kind[i]].kind for i in measured).items()))
            if len(kinds) > 1
            else {}
        ),
        tenants=_tenants(run, measured),
        cache=_cache(run, measured, len(ok)),
        pii_requests=sum(slots.pii[i] for i in measured) if settings.pii_share > 0 else None,
        conversation=_conversation(run, measured),
        usage=_usage(run),
        notes=list(run.notes),
    )


def request_records(run: _Run) -> list[RequestRecord]:
    slots = run.slots
    workload = run.workload
    first = run.measured_from
    if first >= run.end:
        return []
    start = slots.due_at[first]
    mixed = len(workload.kinds) > 1
    names = workload.tenant_names
    return [
        RequestRecord(
            due_s=slots.due_at[i] - start,
            latency_ms=_ms(slots.latency_s[i]),
            ttft_ms=_ms(slots.ttft_s[i]),
            outcome=slots.outcome[i] or OUTCOME_UNFINISHED,
            kind=workload.kinds[slots.kind[i]].kind if mixed else None,
            tenant=names[slots.tenant[i]] if names else None,
            question=QUESTION_KINDS[slots.question[i]] if slots.question[i] >= 0 else None,
            turn=slots.turn[i] if slots.turn[i] >= 0 else None,
            cache=slots.cache[i],
        )
        for i in range(first, run.end)
    ]


def _tenants(run: _Run, measured: range) -> dict[str, TenantSummary]:
    names = run.workload.tenant_names
    if not names:
        return {}
    slots = run.slots
    by_tenant: dict[int, list[int]] = {t: [] for t in range(len(names))}
    for i in measured:
        by_tenant[slots.tenant[i]].append(i)
    summaries = {}
    for tenant, indices in by_tenant.items():
        ok = [i for i in indices if slots.outcome[i] == OUTCOME_OK]
        errors = Counter(slots.outcome[i] or OUTCOME_UNFINISHED for i in indices)
        errors.pop(OUTCOME_OK, None)
        streamed = [i for i in ok if not math.isnan(slots.ttft_s[i])]
        summaries[names[tenant]] = TenantSummary(
            requests=len(indices),
            ok=len(ok),
            errors=sum(errors.values()),
            errors_by_kind=dict(sorted(errors.items())),
            latency=_summary(slots.latency_s, ok),
            ttft=_summary(slots.ttft_s, streamed),
        )
    return summaries


def _cache(run: _Run, measured: range, ok: int) -> CacheSummary | None:
    slots = run.slots
    verdicts = Counter(slots.cache[i] for i in measured if slots.cache[i] is not None)
    mix = run.settings.cache is not None
    if not verdicts and not mix:
        return None
    hits = sum(count for verdict, count in verdicts.items() if _is_hit(verdict))
    by_question: dict[str, dict[str, int]] = {}
    if mix:
        for number, name in enumerate(QUESTION_KINDS):
            asked = [i for i in measured if slots.question[i] == number]
            hit = sum(1 for i in asked if _is_hit(slots.cache[i]))
            by_question[name] = {"requests": len(asked), "hits": hit}
    return CacheSummary(
        verdicts=dict(sorted(verdicts.items())),  # type: ignore[arg-type]
        hits=hits,
        hit_share=hits / ok if verdicts and ok else None,
        by_question=by_question,
    )


def _is_hit(verdict: str | None) -> bool:
    return verdict is not None and verdict.startswith("hit")


def _conversation(run: _Run, measured: range) -> ConversationSummary | None:
    conversation = run.settings.conversation
    if conversation is None:
        return None
    slots = run.slots
    return ConversationSummary(
        turns=conversation.turns,
        conversations=len({slots.conversation[i] for i in measured}),
        held=sum(1 for i in measured if slots.held[i]),
    )


def _usage(run: _Run) -> UsageSummary:
    slots = run.slots
    answered = [i for i in range(run.end) if slots.outcome[i] == OUTCOME_OK]
    reported = [usage for i in answered if (usage := slots.usage[i]) is not None]
    return UsageSummary(
        answers=len(answered),
        with_usage=len(reported),
        prompt_tokens=sum(usage.prompt_tokens for usage in reported),
        completion_tokens=sum(usage.completion_tokens for usage in reported),
    )


def _meets_slos(run: _Run, index: int, tpot_s: float | None) -> bool:
    """Whether a successful request met every SLO the run states (a stream of one token has no
    TPOT, and meets that one; a JSON answer has no TTFT)."""
    settings = run.settings
    slots = run.slots
    checks = (
        (settings.ttft_slo_ms, slots.ttft_s[index]),
        (settings.tpot_slo_ms, tpot_s),
        (settings.latency_slo_ms, slots.latency_s[index]),
    )
    return all(
        slo_ms is None or value is None or math.isnan(value) or value * 1e3 <= slo_ms
        for slo_ms, value in checks
    )


def _summary(
    times_s: list[float], indices: list[int], less_s: list[float] | None = None
) -> LatencySummary | None:
    if less_s is not None:
        return LatencySummary.of_seconds(
            [times_s[i] - lag for i, lag in zip(indices, less_s, strict=True)]
        )
    return LatencySummary.of_seconds([times_s[i] for i in indices])


def _sent_rate(run: _Run, measured: range) -> float:
    slots = run.slots
    sent = [
        slots.due_at[i] + slots.send_lag_s[i]
        for i in measured
        if not math.isnan(slots.send_lag_s[i]) and not math.isnan(slots.due_at[i])
    ]
    if len(sent) < 2 or max(sent) <= min(sent):
        return 0.0
    return (len(sent) - 1) / (max(sent) - min(sent))


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else seconds * 1e3


def _tpot_s(times: list[float] | None) -> float | None:
    """Time per output token after the first, of one stream (None under two tokens)."""
    if times is None or len(times) < 2:
        return None
    return (times[-1] - times[0]) / (len(times) - 1)


def _gaps_s(times: list[float] | None) -> list[float]:
    """The inter-token gaps of one stream (tokens of one read arrive together: gap 0)."""
    if times is None:
        return []
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def _slos(settings: LoadSettings) -> dict[str, float]:
    stated = {
        "ttft_ms": settings.ttft_slo_ms,
        "tpot_ms": settings.tpot_slo_ms,
        "latency_ms": settings.latency_slo_ms,
    }
    return {name: value for name, value in stated.items() if value is not None}
