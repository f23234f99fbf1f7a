"""Routing: which endpoint serves this request, in which fail-over order, and why.

The tenant's policy comes first: the alias must be one of its models (404 otherwise), an experiment
on the alias may send the request to another of its aliases (`router.policy.experiments`), the
alias's caps are checked, and the policy sets the objective, SLO, balanced weights,
allowed regions and targets, and the request's fail-over budget (`max_attempts`; its deadline was
set by the auth stage). Without a policy (node keys) the node config gives the defaults.

Then hard filters (the endpoint satisfies every required privacy tag, it has capacity left), and
the balancer scores what is left by predicted latency and price under the request's objective. The
plan (pick first, then fail-over order) goes on the context for the forward stage; the reason goes
into the decision.

Where the request's data may go comes from the privacy stage, in one value (`ctx.residency`:
the tenant's and the request's tags, those its PII needs, edge only, edge if nothing fits); a
request kept at the edge is routed to targets of locality `edge` only, 503 `no_local_model` when
the alias has none. A request may state its objective in `x-router-objective` and a TTFT SLO in
`x-router-latency-slo-ms`.

A request half only. It writes the plan and its attempt budget (`ctx.plan`, `ctx.max_attempts`),
once, and the decision's reason; the objective and SLO it weighs by are its own, not the
context's.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import get_args

from router.answer import Answer
from router.config.model import Objective, RoutingSettings
from router.context import RequestContext
from router.endpoints.balancer import Candidate, choose, estimate_price_usd, header_safe
from router.endpoints.estimators import predicted_latency_ms
from router.endpoints.registry import Registry, Target
from router.errors import InvalidRequest, ModelNotFound, NoEligibleEndpoint, NoLocalModel
from router.forwarding.cascade import CASCADE_SLOT, CascadeTry
from router.forwarding.upstream_format import format_for
from router.policy.experiments import assign, experiment_for, sticky_key
from router.policy.model import (
    Experiment,
    ModelRule,
    RoutingWeights,
    TenantPolicy,
)
from router.residency import Residency
from router.routing.edge_placement import place_edge
from router.wire.native import NativeRequest, previous_response_not_found


@dataclass(frozen=True, slots=True)
class _Preferences:
    """What the balancer weighs a request's candidates by."""

    objective: Objective
    latency_slo_ms: float | None


_OBJECTIVES: frozenset[str] = frozenset(get_args(Objective))
OBJECTIVE_HEADER = "x-router-objective"
SLO_HEADER = "x-router-latency-slo-ms"
# Node keys have no policy: `balanced` weighs latency and price equally.
_NODE_WEIGHTS = RoutingWeights()


class RouteStage:
    name = "route"
    terminal = False

    def __init__(
        self,
        registry: Registry,
        routing: RoutingSettings,
        prior_ttft_ms: float,
        rng: random.Random,
    ) -> None:
        self._registry = registry
        self._routing = routing
        self._prior_ttft_ms = prior_ttft_ms
        self._rng = rng

    async def on_request(self, ctx: RequestContext) -> Answer | None:
        alias = ctx.parsed.model
        policy = ctx.policy
        rule: ModelRule | None = None
        experiment_note = ""
        max_attempts = self._routing.max_attempts
        ctx.decision.detailed = policy is None or policy.routing.explain == "full"
        if policy is not None:
            rule = _rule_for(policy, alias)
            if rule is None:
                raise _model_not_found(alias)
            if policy.routing.max_attempts is not None:
                max_attempts = policy.routing.max_attempts
            experiment = experiment_for(policy, alias)
            if experiment is not None:
                alias, rule, experiment_note = self._enter_experiment(ctx, policy, experiment, rule)
        targets = self._registry.targets(alias)
        if targets is None:
            raise _model_not_found(ctx.parsed.model)
        ctx.decision.alias = alias
        if policy is not None and rule is not None:
            targets = _apply_policy(ctx, policy, rule, targets)
        preferences, header_note = self._preferences(ctx)
        ctx.decision.latency_slo_ms = preferences.latency_slo_ms
        eligible, at_edge_only = await self._eligible(ctx, alias, targets)
        placement = place_edge(
            eligible,
            alias,
            policy,
            ctx.parsed.estimated_input_tokens,
            self._registry.health.available,
            ctx.parsed.stream,
        )
        if placement.cascade and policy is not None:
            ctx.put(CASCADE_SLOT, CascadeTry(policy.local.cascade.min_confidence))
        competing, translated = _native_first(placement.competing, ctx.native)
        local_note = "local_only; " if at_edge_only else ""
        note = experiment_note + header_note + local_note + placement.note
        # The edge as the last resort comes on top of the cloud's attempts, not instead of one:
        # the cloud keeps its `max_attempts`, then the edge is tried.
        ctx.max_attempts = max_attempts + len(placement.after)
        if len(competing) == 1:
            # Nothing to weigh: skip scoring (a tenth of the router's CPU in a profile).
            ctx.plan = (*placement.before, competing[0], *translated, *placement.after)
            ctx.decision.reason = (
                f"{note}objective={preferences.objective}; only={competing[0].endpoint.name}"
            )
            return None
        by_key = {(t.endpoint.name, t.upstream_model): t for t in competing}
        prior_ms = self._server_time_prior_ms(targets, ctx.parsed.stream)
        weights = policy.routing.weights if policy is not None else _NODE_WEIGHTS
        selection = choose(
            [self._candidate(ctx, t, prior_ms) for t in competing],
            objective=preferences.objective,
            latency_slo_ms=preferences.latency_slo_ms,
            p2c_band=self._routing.p2c_band,
            rng=self._rng,
            latency_weight=weights.latency,
            cost_weight=weights.cost,
        )
        ranked = tuple(by_key[(c.endpoint, c.upstream_model)] for c in selection.ordered)
        if placement.after:
            ranked = ranked[:max_attempts]
        ctx.plan = (*placement.before, *ranked, *translated, *placement.after)
        ctx.decision.reason = note + selection.reason
        ctx.decision.candidates = selection.ordered
        return None

    def _enter_experiment(
        self, ctx: RequestContext, policy: TenantPolicy, experiment: Experiment, rule: ModelRule
    ) -> tuple[str, ModelRule, str]:
        """The alias and rule this request is routed as, and the note its reason starts with.

        The arm's rule applies (its caps and targets). An arm this node does not serve (node
        configs may differ between PoPs) leaves the request on its own alias and out of the
        experiment rather than failing it.
        """
        key = sticky_key(experiment, ctx.parsed.body, ctx.request.headers)
        assignment = assign(experiment, key, self._rng)
        arm_rule = _rule_for(policy, assignment.alias)
        if arm_rule is None or self._registry.targets(assignment.alias) is None:
            return rule.alias, rule, f"experiment={experiment.name}:arm_not_served; "
        label = header_safe(f"{experiment.name}={assignment.alias}")
        ctx.decision.experiment = label
        if ctx.span.is_recording():
            ctx.span.set_attribute("router.experiment", label)
        drawn = "" if assignment.sticky else "(random)"
        note = header_safe(f"experiment={experiment.name}:{assignment.alias}{drawn}; ")
        return assignment.alias, arm_rule, note

    def _preferences(self, ctx: RequestContext) -> tuple[_Preferences, str]:
        """The objective and SLO this request is routed by: the node's defaults, the tenant's
        policy over them, then the request's headers, which ask while the tenant decides: without
        a policy (node keys) or with `routing.request_overrides`, a request may choose its
        objective and SLO; otherwise only a stricter SLO than the policy's is taken, and what would
        loosen the policy is ignored. Also the note for the reason, naming what was ignored."""
        policy = ctx.policy
        objective: Objective = self._routing.default_objective
        slo_ms = self._routing.latency_slo_ms
        if policy is not None:
            objective = policy.routing.objective
            if policy.routing.latency_slo_ms is not None:
                slo_ms = policy.routing.latency_slo_ms
        asked_objective, asked_slo_ms = _requested_preferences(ctx.request.headers)
        free = policy is None or policy.routing.request_overrides
        ignored: list[str] = []
        if asked_objective is not None:
            if free or asked_objective == objective:
                objective = asked_objective
            else:
                ignored.append(OBJECTIVE_HEADER)
        if asked_slo_ms is not None:
            stricter = slo_ms is not None and asked_slo_ms <= slo_ms
            if free or stricter:
                slo_ms = asked_slo_ms
            else:
                ignored.append(SLO_HEADER)
        note = f"ignored={','.join(ignored)}(policy); " if ignored else ""
        return _Preferences(objective, slo_ms), note

    async def _eligible(
        self, ctx: RequestContext, alias: str, targets: tuple[Target, ...]
    ) -> tuple[list[Target], bool]:
        """The targets that may serve the request now, and whether it is kept at the edge; when
        all are full, those that free a slot within `routing.capacity_wait_s` (and the request's
        deadline), else 503."""
        capacity, clock = self._registry.capacity, self._registry.clock
        give_up_s = min(ctx.deadline_s, clock.now() + self._routing.capacity_wait_s)
        while True:
            try:
                return self._filter(ctx, alias, targets, ctx.residency.edge_only)
            except NoEligibleEndpoint as full:
                left_s = give_up_s - clock.now()
                if full.code != "capacity_exhausted" or left_s <= 0 or capacity.full():
                    raise
                if not await capacity.wait(left_s):
                    raise full from None

    def _filter(
        self, ctx: RequestContext, alias: str, targets: tuple[Target, ...], at_edge_only: bool
    ) -> tuple[list[Target], bool]:
        residency = ctx.residency
        if at_edge_only:
            targets = _local_targets(residency, alias, targets)
        # PII in the clear may only leave for endpoints carrying its tags; at the edge it stays.
        required = residency.tags_for(at_edge_only)
        tagged = [t for t in targets if required <= t.endpoint.tags] if required else list(targets)
        if not tagged and residency.edge_if_nothing_fits and not at_edge_only:
            # No endpoint may receive this PII: the tenant's policy keeps it at the edge instead.
            return self._filter(ctx, alias, targets, at_edge_only=True)
        if not tagged:
            raise _no_endpoint_for_tags(residency, alias, at_edge_only)
        # An endpoint takes a request in the API it arrived in, or in one it translates to
        # (router/forwarding/upstream_format.py).
        outgoing, native = ctx.outgoing, ctx.native
        tagged = [
            t for t in tagged if format_for(t.endpoint.settings, native).refuses(outgoing) is None
        ]
        if not tagged:
            if native is not None and native.previous_response_id is not None:
                # None speaks Responses: none can have produced the response it continues.
                raise previous_response_not_found(native.previous_response_id)
            if native is not None and native.untranslatable is not None:
                raise native.untranslatable  # what no endpoint here takes, named
            raise NoEligibleEndpoint(
                f"No endpoint serving model `{alias}` can take this request's parameters.",
                code="no_translation",
            )
        with_capacity = [t for t in tagged if t.endpoint.in_flight < t.endpoint.max_concurrency]
        if not with_capacity:
            raise NoEligibleEndpoint(
                f"Every endpoint serving model `{alias}` is at its concurrency limit.",
                code="capacity_exhausted",
            )
        return with_capacity, at_edge_only

    def _server_time_prior_ms(self, targets: tuple[Target, ...], streaming: bool) -> float:
        """What a target with no traffic yet is assumed to add on top of its RTT.

        The time a model takes to answer depends mostly on the model, the network time on the
        endpoint: so an unmeasured target borrows the least server time measured on its siblings
        for the same alias (each sibling's fastest recent answer less its RTT), plus its own RTT.
        That is optimistic on purpose, so it gets a request and with it a measurement. It is
        read from the answers, not the peak-sensitive estimates: a sibling browning out (its
        latest answer 3 s) says nothing of the model, and borrowing its peak made every
        unmeasured target look as slow, so traffic stayed on the slow sibling for good
        (tests/network/test_brownout.py). With no answer anywhere, the configured prior applies.
        """
        best_ms: float | None = None
        for target in targets:
            fastest_ms = target.stats.fastest_first_byte_ms(streaming)
            if fastest_ms is None:
                continue
            server_ms = max(0.0, fastest_ms - (target.endpoint.rtt.value_ms or 0.0))
            if best_ms is None or server_ms < best_ms:
                best_ms = server_ms
        return self._prior_ttft_ms if best_ms is None else best_ms

    def _candidate(self, ctx: RequestContext, target: Target, prior_ms: float) -> Candidate:
        parsed = ctx.parsed
        endpoint = target.endpoint
        # Priced like admission charges it: the larger cap, for every choice generated.
        output_tokens = parsed.estimated_output_tokens(self._routing.assumed_output_tokens)
        return Candidate(
            endpoint=endpoint.name,
            upstream_model=target.upstream_model,
            region=endpoint.region,
            predicted_latency_ms=predicted_latency_ms(
                target.stats,
                endpoint.rtt.value_ms,
                streaming=parsed.stream,
                prior_ttft_ms=prior_ms,
                endpoint_in_flight=endpoint.in_flight,
            ),
            price_usd=estimate_price_usd(
                parsed.estimated_input_tokens,
                output_tokens,
                target.pricing.input_price_per_mtok,
                target.pricing.output_price_per_mtok,
            ),
            available=self._registry.health.available(endpoint.name),
        )


def _local_targets(
    residency: Residency, alias: str, targets: tuple[Target, ...]
) -> tuple[Target, ...]:
    """The targets on this PoP's own CPU, for a request that must not leave it."""
    local = tuple(t for t in targets if t.endpoint.settings.locality == "edge")
    if not local:
        kinds = ", ".join(residency.pii_kinds) or "PII"
        raise NoLocalModel(
            f"This request contains personal or secret data ({kinds}) and this API key's policy "
            f"answers such requests at the edge only, but no local model here serves model "
            f"`{alias}`."
        )
    return local


def _no_endpoint_for_tags(
    residency: Residency, alias: str, at_edge_only: bool
) -> NoEligibleEndpoint:
    where = "local endpoint" if at_edge_only else "endpoint"
    if residency.pii_kinds and residency.pii_tags and not at_edge_only:
        required = ", ".join(sorted(residency.tags_for(at_edge_only)))
        return NoEligibleEndpoint(
            f"This request contains personal or secret data ({', '.join(residency.pii_kinds)}), "
            f"and no {where} serving model `{alias}` carries the tags it requires: {required}.",
            code="no_endpoint_for_pii",
        )
    required = ", ".join(sorted(residency.required_tags))
    return NoEligibleEndpoint(
        f"No {where} serving model `{alias}` satisfies the required privacy tags: {required}.",
        code="no_endpoint_for_privacy_tags",
    )


def _model_not_found(alias: str) -> ModelNotFound:
    return ModelNotFound(
        f"The model `{alias}` does not exist or you do not have access to it.", param="model"
    )


def _rule_for(policy: TenantPolicy, alias: str) -> ModelRule | None:
    for rule in policy.models:
        if rule.alias == alias:
            return rule
    return None


def _requested_preferences(headers: Mapping[str, str]) -> tuple[Objective | None, float | None]:
    """The objective and SLO a request's headers ask for; 400 when one is malformed."""
    objective = headers.get(OBJECTIVE_HEADER)
    if objective is not None and objective not in _OBJECTIVES:
        raise InvalidRequest(
            f"Invalid {OBJECTIVE_HEADER} header: expected one of {', '.join(sorted(_OBJECTIVES))}.",
            param=OBJECTIVE_HEADER,
        )
    slo = headers.get(SLO_HEADER)
    if slo is None:
        return objective, None  # type: ignore[return-value]  # checked against the Literal
    try:
        slo_ms = float(slo)
    except ValueError:
        slo_ms = -1.0
    if not 0 < slo_ms < float("inf"):
        raise InvalidRequest(
            f"Invalid {SLO_HEADER} header: expected a positive number of milliseconds.",
            param=SLO_HEADER,
        )
    return objective, slo_ms  # type: ignore[return-value]  # checked against the Literal


def _apply_policy(
    ctx: RequestContext, policy: TenantPolicy, rule: ModelRule, targets: tuple[Target, ...]
) -> tuple[Target, ...]:
    """The tenant's defaults, caps and restrictions; what it may use of the alias's targets."""
    _check_caps(ctx, rule)
    routing = policy.routing
    if rule.targets:
        allowed = {(t.endpoint, t.model) for t in rule.targets}
        targets = tuple(t for t in targets if (t.endpoint.name, t.upstream_model) in allowed)
    if routing.allowed_regions:
        regions = frozenset(routing.allowed_regions)
        targets = tuple(t for t in targets if t.endpoint.region in regions)
    if not targets:
        raise NoEligibleEndpoint(
            f"No endpoint serving model `{rule.alias}` is allowed by this tenant's policy.",
            code="no_endpoint_allowed_by_policy",
        )
    return targets


def _check_caps(ctx: RequestContext, rule: ModelRule) -> None:
    caps = rule.caps
    body = ctx.parsed.body
    max_tokens = ctx.parsed.max_output_tokens
    if caps.max_tokens is not None and max_tokens is not None and max_tokens > caps.max_tokens:
        # The field that asked for too many (both may be set; the larger is what counts).
        param = (
            "max_completion_tokens"
            if body.get("max_completion_tokens") == max_tokens
            else "max_tokens"
        )
        raise InvalidRequest(
            f"Invalid '{param}': at most {caps.max_tokens} is allowed for this key.", param=param
        )
    n = body.get("n")
    if caps.max_n is not None and isinstance(n, int) and n > caps.max_n:
        raise InvalidRequest(
            f"Invalid 'n': at most {caps.max_n} is allowed for this key.", param="n"
        )
    temperature = body.get("temperature")
    if (
        caps.max_temperature is not None
        and isinstance(temperature, int | float)
        and temperature > caps.max_temperature
    ):
        raise InvalidRequest(
            f"Invalid 'temperature': at most {caps.max_temperature} is allowed for this key.",
            param="temperature",
        )


def _native_first(
    competing: Sequence[Target], native: NativeRequest | None
) -> tuple[Sequence[Target], tuple[Target, ...]]:
    """The targets to rank for a request that arrived in Responses or Messages: those that speak
    its API, when any does (a native path loses nothing in translation); the others follow them
    as fail-overs, in their order. For chat, all of them."""
    if native is None:
        return competing, ()
    api = native.api
    speaking = [t for t in competing if api in t.endpoint.settings.apis]
    if not speaking or len(speaking) == len(competing):
        return competing, ()
    return speaking, tuple(t for t in competing if api not in t.endpoint.settings.apis)
