"""Per-request state that flows through the pipeline.

A `RequestContext` is created once per request by the server and handed to every stage in order.
Its `Decision` records what was decided and why; it ends up in the `x-router-*` response headers,
the request's span and the access log, so every routing choice can be explained afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aiohttp import web
from opentelemetry.trace import Span

from router.policy.model import TenantPolicy
from router.residency import ANYWHERE, Residency
from router.wire.native import NativeRequest
from router.wire.requests import ParsedRequest
from router.wire.usage import Usage

if TYPE_CHECKING:
    from router.endpoints.balancer import Candidate
    from router.endpoints.registry import Target


T = TypeVar("T")


class SlotKey(Generic[T]):
    """The key of one stage's own per-request state in the context (`RequestContext.slot`), in
    the way of aiohttp's `AppKey`: typed, and compared by identity, so no two stages share one."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"SlotKey({self.name!r})"


# Attempt outcomes that are no failure of the endpoint (a hedge's loser was cancelled by us).
HEDGE_CANCELLED = "hedge_cancelled"
_NOT_FAILED = ("ok", HEDGE_CANCELLED)
# The parts of a reason a tenant without `routing.explain: full` sees: its own policy at work.
# `translated=` names a wire format and `producer=` says only that a stored response was followed
# (`producer=kept` unless the tenant explains in full): no topology.
_SHORT_REASON_PARTS = (
    "objective=",
    "experiment=",
    "ignored=",
    "local_only",
    "cache=",
    "translated=",
    "producer=",
)


@dataclass(slots=True)
class Attempt:
    endpoint: str
    # "ok", the error code of the failure, "hedge_cancelled" or "client_disconnected"
    outcome: str
    duration_ms: float
    # When it started, after the request's pipeline started (for the dashboard's waterfall).
    started_ms: float = 0.0


@dataclass(slots=True)
class Decision:
    served_by: str = ""  # the endpoint's locality, `cloud` or `edge`; `cache` comes with the cache
    # The public alias the request was routed as: the requested one, or an experiment's arm.
    alias: str = ""
    endpoint: str = ""
    upstream_model: str = ""
    response_model: str = ""
    region: str = ""
    reason: str = ""
    # The latency SLO the request was routed by (the node's, the policy's or its header's).
    latency_slo_ms: float | None = None
    # `<experiment>=<arm alias>` when a tenant's experiment chose the alias this request went to.
    experiment: str = ""
    # The endpoints weighed, the pick first, with their predicted latency and price (the route
    # stage's, when it had more than one to weigh).
    candidates: tuple[Candidate, ...] = ()
    attempts: list[Attempt] = field(default_factory=list)
    ttft_ms: float | None = None
    # Set when a hedge started: after how long, to which endpoint, and which attempt lost the race.
    hedged_after_ms: float | None = None
    hedge_endpoint: str = ""
    hedge_cancelled: str = ""
    # The cache's verdict (`hit-exact`, `miss`, `bypass`) and a hit's age, for `x-router-cache`.
    cache: str = ""
    cache_age_s: float | None = None
    cache_similarity: float | None = None  # a semantic hit's cosine similarity
    cache_verifier: str = ""  # a semantic hit's verifier and its decision (`content; agree`)
    # How the semantic tier looked the question up: `prefilter`, `busy`, `late`, `embedded`,
    # `empty`.
    cache_lookup: str = ""
    # The privacy stage's action and the PII kinds found (`redact; pii=email,cpf`), never values.
    privacy: str = ""
    # Admission's `x-ratelimit-*` headers (OpenAI's names), when the tenant has such limits.
    rate_limit_headers: dict[str, str] | None = None
    # Whether the answer may show the topology: endpoint names, predicted latencies, prices and
    # the endpoints failed over from (with why: an operator's own key failing, say). Node keys and
    # tenants whose policy says `routing.explain: full` see it; other tenants a short reason.
    detailed: bool = True

    def headers(self) -> dict[str, str]:
        reason = self.reason_text() if self.detailed else self.short_reason()
        headers = {"x-router-reason": reason}
        if self.rate_limit_headers:
            headers.update(self.rate_limit_headers)
        if self.served_by:
            headers["x-router-served-by"] = self.served_by
        if self.endpoint and self.detailed:
            headers["x-router-endpoint"] = self.endpoint
        if self.experiment:
            headers["x-router-experiment"] = self.experiment
        if self.privacy:
            headers["x-router-privacy"] = self.privacy
        if self.cache:
            headers["x-router-cache"] = self.cache
            if self.cache_age_s is not None:
                headers["x-router-cache-age"] = f"{self.cache_age_s:.0f}"
            if self.cache_similarity is not None:
                headers["x-router-cache-similarity"] = f"{self.cache_similarity:.4f}"
            if self.cache_verifier:
                headers["x-router-cache-verifier"] = self.cache_verifier
            if self.cache_lookup:
                headers["x-router-cache-lookup"] = self.cache_lookup
        return headers

    def short_reason(self) -> str:
        """What the policy decided, without the topology: the objective, the experiment, headers
        ignored, local-only, the cache's verdict, and how many attempts failed over."""
        kept = [part for part in self.reason.split("; ") if part.startswith(_SHORT_REASON_PARTS)]
        failed = sum(1 for a in self.attempts if a.outcome not in _NOT_FAILED)
        if failed:
            kept.append(f"failovers={failed}")
        if self.hedged_after_ms is not None:
            kept.append("hedged")
        return "; ".join(kept)

    def reason_text(self) -> str:
        hedged = self.hedged_after_ms is not None
        failed = [a for a in self.attempts if a.outcome not in _NOT_FAILED]
        if not failed and not hedged:
            return self.reason
        text = self.reason
        if hedged:
            text = f"{text}; hedged_after={self.hedged_after_ms:.0f}ms:{self.hedge_endpoint}"
            if self.hedge_cancelled:
                text = f"{text}; hedge_cancelled={self.hedge_cancelled}"
        if failed:
            history = ",".join(f"{a.endpoint}:{a.outcome}" for a in failed)
            text = f"{text}; failover_after={history}"
        return text


@dataclass(slots=True)
class RequestContext:
    request: web.Request
    # The request as the client sent it; the server writes it, once.
    parsed: ParsedRequest
    span: Span
    started_s: float
    # The request's whole budget on the monotonic clock: the tenant's `routing.deadline_s`, else
    # the node's; set by the auth stage, once the tenant is known.
    deadline_s: float = 0.0
    # Who is asking: the tenant and its policy, taken once from the current snapshot.
    tenant: str = ""
    policy: TenantPolicy | None = None
    # The request in the API it arrived in (Responses, Messages), for an endpoint that speaks it
    # (`router.wire.native`): redacted by the privacy stage as `redacted` is. None for chat.
    native: NativeRequest | None = None
    # The same request with its PII replaced by placeholders, when the tenant's policy redacts:
    # written by the privacy stage only. What leaves the PoP is `outgoing`.
    redacted: ParsedRequest | None = None
    # Where the request's data may go (the privacy stage's decision, the route stage's input).
    residency: Residency = ANYWHERE
    # Fail-over budget: the node's `routing.max_attempts` unless the tenant's policy sets its own,
    # plus the edge's last-resort attempts; set by the route stage with the plan.
    max_attempts: int = 3
    decision: Decision = field(default_factory=Decision)
    # The route stage's plan: the pick first, then the fail-over order.
    plan: tuple[Target, ...] = ()
    usage: Usage | None = None
    # The id an endpoint gave the response it answered a passed-through Responses request with:
    # a later request may continue it (`previous_response_id`), there only.
    response_id: str | None = None
    stage_ms: dict[str, float] = field(default_factory=dict)
    # `perf_counter()` when the answer's first byte was written (the answer writer's), for the
    # time to first token.
    first_byte_at: float | None = None
    # How many stages' request halves ran (their record halves run when the request ends).
    stages_run: int = 0
    # Each stage's own state, under its `SlotKey`.
    slots: dict[SlotKey[Any], Any] = field(default_factory=dict)

    @property
    def outgoing(self) -> ParsedRequest:
        """The request as it leaves the PoP and is keyed in the cache: redacted, or the client's."""
        return self.redacted or self.parsed

    def slot(self, key: SlotKey[T]) -> T | None:
        """The state a stage put under `key`, or None."""
        value: T | None = self.slots.get(key)
        return value

    def put(self, key: SlotKey[T], value: T) -> None:
        self.slots[key] = value
