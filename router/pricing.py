"""What a request cost at its endpoints' prices: the one place an answer or an attempt is priced.

Prices are those of an (endpoint, model) target (`Target.pricing`, per million tokens); a
request's plan holds the targets that may serve it. Admission settles a request's charge with
`served_cost_usd`, the cache keeps it with each stored answer (what a hit saves), and hedging
weighs a tenant's spend (`spent_usd`) against its extra spend (`input_cost_usd` per hedge).
Admission's estimate before routing, at the dearest price of an alias's targets, is its own.
"""

from __future__ import annotations

from router.context import RequestContext
from router.endpoints.balancer import estimate_price_usd
from router.endpoints.registry import Target
from router.wire.usage import Usage


def serving_target(ctx: RequestContext) -> Target | None:
    """The target of the plan that served the request (its endpoint and upstream model), or
    None when none did."""
    decision = ctx.decision
    for target in ctx.plan:
        if (
            target.endpoint.name == decision.endpoint
            and target.upstream_model == decision.upstream_model
        ):
            return target
    return None


def served_cost_usd(ctx: RequestContext) -> float:
    """The served answer's price: its usage at the prices of the endpoint and model it came from
    (0 without usage, or when no endpoint served it)."""
    usage = ctx.usage
    if usage is None:
        return 0.0
    target = serving_target(ctx)
    return 0.0 if target is None else _usage_cost_usd(usage, target)


def spent_usd(ctx: RequestContext) -> float | None:
    """What an answered request cost at the serving target's prices: its usage or, without
    usage, its input's estimate; None when no target of the plan served it."""
    target = serving_target(ctx)
    if target is None:
        return None
    usage = ctx.usage
    return input_cost_usd(ctx, target) if usage is None else _usage_cost_usd(usage, target)


def input_cost_usd(ctx: RequestContext, target: Target) -> float:
    """What an attempt on `target` costs at least: its input, estimated from the body size."""
    return estimate_price_usd(
        ctx.parsed.estimated_input_tokens, 0, target.pricing.input_price_per_mtok, 0.0
    )


def _usage_cost_usd(usage: Usage, target: Target) -> float:
    """At the target's prices; input tokens served from the provider's prompt cache at its
    cached-input price."""
    pricing = target.pricing
    cached = usage.cached_input_tokens
    cached_price = pricing.cached_input_price_per_mtok
    if cached_price is None:
        cached_price = pricing.input_price_per_mtok
    return estimate_price_usd(
        usage.input_tokens - cached,
        usage.output_tokens,
        pricing.input_price_per_mtok,
        pricing.output_price_per_mtok,
    ) + estimate_price_usd(cached, 0, cached_price, 0.0)
