"""The affinity stage: a conversation's next turn goes where its last one went
(`router.routing.affinity`), while that endpoint can take it.

After the route stage and before forwarding: the route stage ranks the endpoints as for any
request; this stage moves the conversation's endpoint to the front of that plan when it is in it
(so healthy and eligible) and, when the request has a latency SLO, predicted to meet it or no
worse than the pick, but never ahead of the PoP's own model where the route stage placed it
first (a cascade tries the edge before the cloud on every turn). The reason says
`affinity=<endpoint>` (or `affinity=moved` when the conversation had to move). Its record half
remembers the endpoint that answered.

A Responses request that continues a stored response (`previous_response_id`) is no preference:
only the endpoint that produced that response has it. The record half remembers the producer of
every response passed through (`RequestContext.response_id`, for `routing.affinity.responses_ttl_s`,
per tenant), and such a request goes to its producer alone. When the router has no record of
the response (made elsewhere, by a translation, or forgotten) the client gets OpenAI's 400
`previous_response_not_found`; when the producer cannot take the request now (ejected, or not
eligible for it), a 503 `previous_response_unavailable`, rather than an answer from an endpoint
that would start the conversation over.
"""

from __future__ import annotations

from typing import Protocol

from router.answer import Answer
from router.config.model import AffinitySettings
from router.context import RequestContext, SlotKey
from router.endpoints.balancer import Candidate
from router.errors import NoEligibleEndpoint
from router.routing.affinity import conversation_key, response_key
from router.wire.native import previous_response_not_found

_KEY_SLOT: SlotKey[str] = SlotKey("affinity.key")


class AffinityStore(Protocol):
    """Where conversations' endpoints are kept: this process's table, or the one shared through
    Redis."""

    async def lookup(self, key: str) -> str | None: ...

    def remember(self, key: str, endpoint: str) -> None: ...


class AffinityStage:
    name = "affinity"
    terminal = False

    def __init__(
        self, settings: AffinitySettings, table: AffinityStore, producers: AffinityStore
    ) -> None:
        self._settings = settings
        self._table = table
        self._producers = producers

    async def on_request(self, ctx: RequestContext) -> Answer | None:
        native = ctx.native
        if native is not None and native.previous_response_id is not None:
            await self._to_producer(ctx, native.previous_response_id)
            return None
        if not self._settings.enabled or not ctx.plan:
            return None
        if native is not None and native.count_tokens:
            return None  # a count is no turn of the conversation
        found = conversation_key(
            ctx.tenant,
            ctx.decision.alias,
            ctx.parsed.body,
            ctx.request.headers,
            self._settings.session_header,
        )
        if found is None:
            return None
        key, held = found
        ctx.put(_KEY_SLOT, key)
        pinned = await self._table.lookup(key) if held else None
        if pinned is None:
            return None
        at = next((i for i, t in enumerate(ctx.plan) if t.endpoint.name == pinned), None)
        if at is not None and at > 0 and _edge_goes_first(ctx, at):
            return None  # the tenant's placement tries the PoP's model first (the cascade)
        if at is None or (at > 0 and not _meets_slo(ctx, pinned)):
            ctx.decision.reason += "; affinity=moved"
            return None
        if at > 0:
            ctx.plan = (ctx.plan[at], *ctx.plan[:at], *ctx.plan[at + 1 :])
        ctx.decision.reason += (
            f"; affinity={pinned}" if ctx.decision.detailed else "; affinity=kept"
        )
        return None

    def on_done(self, ctx: RequestContext) -> None:
        key = ctx.slot(_KEY_SLOT)
        endpoint = ctx.decision.endpoint
        if ctx.response_id is not None and endpoint:
            self._producers.remember(response_key(ctx.tenant, ctx.response_id), endpoint)
        if key is not None and endpoint and ctx.decision.served_by != "cache":
            self._table.remember(key, endpoint)

    async def _to_producer(self, ctx: RequestContext, response_id: str) -> None:
        """The plan becomes the response's producer alone, or the request is refused."""
        producer = await self._producers.lookup(response_key(ctx.tenant, response_id))
        if producer is None:
            raise previous_response_not_found(response_id)
        target = next((t for t in ctx.plan if t.endpoint.name == producer), None)
        if target is None:
            raise NoEligibleEndpoint(
                f"The endpoint that produced previous response '{response_id}' cannot take this "
                "request now (unhealthy, or not eligible for it), and no other endpoint has that "
                "response: retry later, or send the whole conversation in 'input' instead.",
                code="previous_response_unavailable",
            )
        ctx.plan = (target,)
        detail = producer if ctx.decision.detailed else "kept"
        ctx.decision.reason += f"; producer={detail}"


def _edge_goes_first(ctx: RequestContext, at: int) -> bool:
    """Whether the plan puts the PoP's own model before the held endpoint, which is elsewhere:
    the route stage placed it first (a cascade, or the edge preferred), and a conversation's
    affinity does not skip that."""
    first, held = ctx.plan[0].endpoint.settings, ctx.plan[at].endpoint.settings
    return first.locality == "edge" and held.locality != "edge"


def _meets_slo(ctx: RequestContext, endpoint: str) -> bool:
    """Without a latency SLO, always; with one, when the endpoint is predicted to meet it or is
    predicted no slower than the pick (then no endpoint meets it)."""
    slo_ms = ctx.decision.latency_slo_ms
    if slo_ms is None or not ctx.decision.candidates:
        return True
    predicted = _predicted_ms(ctx.decision.candidates, endpoint)
    if predicted is None:
        return True
    pick = ctx.decision.candidates[0].predicted_latency_ms
    return predicted <= slo_ms or predicted <= pick


def _predicted_ms(candidates: tuple[Candidate, ...], endpoint: str) -> float | None:
    return next((c.predicted_latency_ms for c in candidates if c.endpoint == endpoint), None)
