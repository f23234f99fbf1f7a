"""The dashboard's data (`GET /admin/dashboard`) and `GET /admin/endpoints` for a node of
`edge-router serve --workers N`: every worker's, in one answer.

The page reaches whichever worker accepts its connection, which alone knows the requests it
served. So that worker asks its siblings (`router.pool_membership`) for theirs and merges:
- each second's counts (`served_by`, `errors`) are summed, over the answering worker's two
  minutes (a sibling's second outside them, from a clock a tick later, waits for the next poll);
- each second's latency quantiles (`added_p50_ms`, `added_p99_ms`, `ttft_p50_ms` by endpoint) are
  the worst worker's. Quantiles do not add up, but the node's quantile always lies between the
  workers' lowest and highest, so the highest is a bound the node did no worse than, exact when
  one worker served the second. A mean weighted by requests would be no more exact, and would
  hide the one slow worker (a stalled event loop) the chart is there to show;
- tenants are summed by tenant, then the 50 with the highest spend kept, as the feed keeps them
  (a worker sends its own top 50 only, so a tenant below one worker's 50th place lacks that
  worker's share: rows near the 50th place can be short). `budget_used` is not summed: each
  worker learnt it from the shared limits when it last admitted the tenant, so the highest is
  normally the latest (just after a day starts over, it can be the old day's for a moment);
- the recent requests are merged newest first, 50 of them, as the feed keeps them;
- the cache's verdicts are summed;
- the endpoints are each worker's own (latency estimators and health stay in each worker): one
  card per endpoint and worker, with a `worker` field.
`workers` says how many workers there are and how many answered; one that did not answer in time
(restarting), or whose answer does not parse, is left out.

Every list a worker answers is capped (120 seconds, 50 tenants, 50 requests, the configured
endpoints), so a merge handles at most that many rows a worker: with every list full, parsing,
validating, merging and encoding take about 2 ms for 2 workers and 7 ms for 8 (measured on two
shared cores). It runs in a thread, off the event loop, as `/metrics`' merge does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence

import orjson
from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

TOP_TENANTS = 50
TOP_RECENT = 50

Answers = Sequence[tuple[int, bytes | None]]  # (worker number, its body, or None)


class _Part(BaseModel):
    # A field the feed adds and this model does not know fails the merge's tests, rather than
    # vanishing from the siblings' rows.
    model_config = ConfigDict(extra="forbid")


class Second(_Part):
    t: int
    served_by: dict[str, int]
    errors: int
    added_p50_ms: float | None
    added_p99_ms: float | None
    ttft_p50_ms: dict[str, float | None]


class TenantRow(_Part):
    tenant: str
    requests: int
    input_tokens: int
    output_tokens: int
    spend_usd: float
    saved_usd: float
    cache_hits: int
    budget_used: float | None


class RecentRow(_Part):
    id: str
    at: float
    tenant: str
    model: str
    stream: bool
    status: int
    error_type: str
    served_by: str
    endpoint: str
    duration_ms: float
    first_byte_ms: float | None


class EndpointCard(_Part):
    name: str
    region: str
    locality: str
    state: str
    ejections: int
    rtt_ms: float | None
    in_flight: int
    max_concurrency: int
    ttft_ms: dict[str, float | None]
    worker: int | None = None  # set in a pool: whose view this is


class CacheTotals(_Part):
    verdicts: dict[str, int]
    hits: int
    lookups: int


class WorkerDashboard(_Part):
    """What one worker answers."""

    seconds: list[Second]
    tenants: list[TenantRow]
    recent: list[RecentRow]
    endpoints: list[EndpointCard]
    cache: CacheTotals


class WorkerCount(_Part):
    configured: int
    answered: int


class NodeDashboard(WorkerDashboard):
    workers: WorkerCount


async def node_dashboard(
    own: Mapping[str, object], own_index: int, siblings: Answers, workers: int
) -> bytes:
    """The node's dashboard as JSON, from this worker's (`own`, as `dashboard_api` builds it)
    and its siblings' answers."""
    return await asyncio.to_thread(_node_dashboard_json, own, own_index, siblings, workers)


def _node_dashboard_json(
    own: Mapping[str, object], own_index: int, siblings: Answers, workers: int
) -> bytes:
    return merge_dashboards(own, own_index, siblings, workers).model_dump_json().encode()


def merge_dashboards(
    own: Mapping[str, object], own_index: int, siblings: Answers, workers: int
) -> NodeDashboard:
    answered = [(own_index, WorkerDashboard.model_validate(own))]
    for index, body in siblings:
        parsed = parse_worker_dashboard(body)
        if parsed is not None:
            answered.append((index, parsed))
    bodies = [body for _, body in answered]
    return NodeDashboard(
        seconds=merge_seconds(bodies[0].seconds, [body.seconds for body in bodies[1:]]),
        tenants=merge_tenants(body.tenants for body in bodies),
        recent=merge_recent(body.recent for body in bodies),
        endpoints=merge_endpoints(answered),
        cache=merge_cache(body.cache for body in bodies),
        workers=WorkerCount(configured=workers, answered=len(answered)),
    )


def parse_worker_dashboard(body: bytes | None) -> WorkerDashboard | None:
    if body is None:
        return None
    try:
        return WorkerDashboard.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        return None


def merge_seconds(frame: Sequence[Second], others: Iterable[Sequence[Second]]) -> list[Second]:
    """`frame`'s seconds, each merged with the others' of the same second."""
    by_t: dict[int, list[Second]] = {second.t: [second] for second in frame}
    for seconds in others:
        for second in seconds:
            same = by_t.get(second.t)
            if same is not None:
                same.append(second)
    return [_merge_second(parts) for parts in by_t.values()]


def _merge_second(parts: Sequence[Second]) -> Second:
    if len(parts) == 1:
        return parts[0]
    return Second(
        t=parts[0].t,
        served_by=_sum_counts(part.served_by for part in parts),
        errors=sum(part.errors for part in parts),
        added_p50_ms=_worst(part.added_p50_ms for part in parts),
        added_p99_ms=_worst(part.added_p99_ms for part in parts),
        ttft_p50_ms=_worst_by_key(part.ttft_p50_ms for part in parts),
    )


def _sum_counts(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for one in counts:
        for key, count in one.items():
            total[key] = total.get(key, 0) + count
    return total


def _worst(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return max(known) if known else None


def _worst_by_key(values: Iterable[dict[str, float | None]]) -> dict[str, float | None]:
    by_key: dict[str, list[float | None]] = {}
    for one in values:
        for key, value in one.items():
            by_key.setdefault(key, []).append(value)
    return {key: _worst(each) for key, each in by_key.items()}


def merge_tenants(workers: Iterable[Sequence[TenantRow]]) -> list[TenantRow]:
    totals: dict[str, TenantRow] = {}
    for rows in workers:
        for row in rows:
            known = totals.get(row.tenant)
            totals[row.tenant] = row if known is None else _add_tenant(known, row)
    return sorted(totals.values(), key=lambda row: -row.spend_usd)[:TOP_TENANTS]


def _add_tenant(a: TenantRow, b: TenantRow) -> TenantRow:
    return TenantRow(
        tenant=a.tenant,
        requests=a.requests + b.requests,
        input_tokens=a.input_tokens + b.input_tokens,
        output_tokens=a.output_tokens + b.output_tokens,
        spend_usd=a.spend_usd + b.spend_usd,
        saved_usd=a.saved_usd + b.saved_usd,
        cache_hits=a.cache_hits + b.cache_hits,
        budget_used=_worst((a.budget_used, b.budget_used)),
    )


def merge_recent(workers: Iterable[Sequence[RecentRow]]) -> list[RecentRow]:
    rows = [row for recent in workers for row in recent]
    return sorted(rows, key=lambda row: -row.at)[:TOP_RECENT]


def merge_endpoints(workers: Sequence[tuple[int, WorkerDashboard]]) -> list[EndpointCard]:
    """Every worker's card of each endpoint, the endpoints in the config's order, then by worker."""
    order: dict[str, int] = {}
    cards: list[EndpointCard] = []
    for index, body in sorted(workers, key=lambda answer: answer[0]):
        for card in body.endpoints:
            order.setdefault(card.name, len(order))
            cards.append(card.model_copy(update={"worker": index}))
    return sorted(cards, key=lambda card: order[card.name])


def merge_cache(workers: Iterable[CacheTotals]) -> CacheTotals:
    totals = list(workers)
    return CacheTotals(
        verdicts=_sum_counts(cache.verdicts for cache in totals),
        hits=sum(cache.hits for cache in totals),
        lookups=sum(cache.lookups for cache in totals),
    )


class _EndpointsAnswer(BaseModel):
    """The part of a sibling's `GET /admin/endpoints` that differs by worker."""

    endpoints: list[dict[str, JsonValue]]


class WorkerEndpoints(BaseModel):
    worker: int
    endpoints: list[dict[str, JsonValue]]


class NodeEndpoints(BaseModel):
    """Added to `GET /admin/endpoints` in a pool: the endpoints as each worker sees them."""

    worker: int  # the one that answered, whose view the top-level `endpoints` are
    workers: WorkerCount
    by_worker: list[WorkerEndpoints]


async def node_endpoints(
    own: list[dict[str, JsonValue]], own_index: int, siblings: Answers, workers: int
) -> NodeEndpoints:
    return await asyncio.to_thread(merge_endpoint_views, own, own_index, siblings, workers)


def merge_endpoint_views(
    own: list[dict[str, JsonValue]], own_index: int, siblings: Answers, workers: int
) -> NodeEndpoints:
    views = [WorkerEndpoints(worker=own_index, endpoints=own)]
    for index, body in siblings:
        parsed = _parse_endpoints(body)
        if parsed is not None:
            views.append(WorkerEndpoints(worker=index, endpoints=parsed.endpoints))
    views.sort(key=lambda view: view.worker)
    return NodeEndpoints(
        worker=own_index,
        workers=WorkerCount(configured=workers, answered=len(views)),
        by_worker=views,
    )


def _parse_endpoints(body: bytes | None) -> _EndpointsAnswer | None:
    if body is None:
        return None
    try:
        return _EndpointsAnswer.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        return None
