"""The route and admission stages called alone: a context in, the context's plan, slot or error
out; no server, no sockets, a fake clock."""

from __future__ import annotations

import random

import orjson
import pytest

from router.config.model import NodeConfig
from router.context import RequestContext
from router.endpoints.registry import Registry
from router.errors import NoEligibleEndpoint, NoLocalModel, RateLimited
from router.limits.budget_watch import BudgetWatch
from router.limits.fallback import FallbackLimits
from router.limits.memory import MemoryLimits
from router.limits.settlements import Settlements
from router.policy.model import TenantPolicy
from router.residency import Residency
from router.stages.admission import TICKET_SLOT, AdmissionStage
from router.stages.route import RouteStage
from router.telemetry.metrics import Metrics
from tests.fake_clock import FakeClock
from tests.request_context import chat_context
from tests.tenant_policies import policy_model

MODELS = [{"name": "m", "input_price_per_mtok": 1.0, "output_price_per_mtok": 2.0}]


def _node() -> NodeConfig:
    return NodeConfig.model_validate(
        {
            "auth": {"api_keys": ["sk-test"]},
            "endpoints": [
                {
                    "name": "cloud",
                    "base_url": "http://cloud.invalid/v1",
                    "region": "us",
                    "models": MODELS,
                },
                {
                    "name": "pop",
                    "base_url": "http://pop.invalid/v1",
                    "region": "pop",
                    "locality": "edge",
                    "tags": ["pii"],
                    "models": MODELS,
                },
            ],
        }
    )


def _context(policy: TenantPolicy | None = None) -> RequestContext:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    ctx = chat_context(orjson.dumps(body), tenant="acme", policy=policy)
    ctx.deadline_s = 1060.0
    return ctx


def _route(clock: FakeClock) -> RouteStage:
    config = _node()
    return RouteStage(Registry(config, clock), config.routing, 100.0, random.Random(7))


@pytest.mark.asyncio
async def test_route_keeps_a_request_the_privacy_stage_kept_at_the_edge_on_the_edge() -> None:
    ctx = _context()
    ctx.residency = Residency(edge_only=True, pii_kinds=("email",))
    assert await _route(FakeClock()).on_request(ctx) is None
    assert [t.endpoint.name for t in ctx.plan] == ["pop"]
    assert "local_only" in ctx.decision.reason


@pytest.mark.asyncio
async def test_route_sends_pii_in_the_clear_only_to_endpoints_with_its_tags() -> None:
    ctx = _context()
    ctx.residency = Residency(pii_tags=frozenset({"pii"}), pii_kinds=("email",))
    await _route(FakeClock()).on_request(ctx)
    assert [t.endpoint.name for t in ctx.plan] == ["pop"]

    nowhere = _context()
    nowhere.residency = Residency(pii_tags=frozenset({"hipaa"}), pii_kinds=("cpf",))
    with pytest.raises(NoEligibleEndpoint) as refused:
        await _route(FakeClock()).on_request(nowhere)
    assert refused.value.code == "no_endpoint_for_pii" and "cpf" in refused.value.message


@pytest.mark.asyncio
async def test_route_falls_back_to_the_edge_when_nothing_fits_and_the_policy_says_so() -> None:
    ctx = _context()
    ctx.residency = Residency(
        pii_tags=frozenset({"hipaa"}), edge_if_nothing_fits=True, pii_kinds=("cpf",)
    )
    await _route(FakeClock()).on_request(ctx)
    assert [t.endpoint.name for t in ctx.plan] == ["pop"] and "local_only" in ctx.decision.reason


@pytest.mark.asyncio
async def test_route_refuses_an_edge_only_request_for_an_alias_without_a_local_model() -> None:
    config = _node()
    cloud_only = config.model_copy(update={"endpoints": config.endpoints[:1]})
    clock = FakeClock()
    stage = RouteStage(Registry(cloud_only, clock), cloud_only.routing, 100.0, random.Random(7))
    ctx = _context()
    ctx.residency = Residency(edge_only=True, pii_kinds=("email",))
    with pytest.raises(NoLocalModel):
        await stage.on_request(ctx)


@pytest.mark.asyncio
async def test_route_writes_the_tenants_attempt_budget_once_with_the_plan() -> None:
    ctx = _context(policy_model(models=[{"alias": "m"}], routing={"max_attempts": 1}))
    await _route(FakeClock()).on_request(ctx)
    assert ctx.max_attempts == 1 and len(ctx.plan) >= 1


def _admission(clock: FakeClock) -> AdmissionStage:
    config = _node()
    metrics = Metrics()
    limits = FallbackLimits(None, MemoryLimits(), clock, metrics, retry_interval_s=1.0)
    settlements, budgets = Settlements(limits, clock), BudgetWatch(metrics, clock)
    return AdmissionStage(
        limits, settlements, budgets, Registry(config, clock), config.routing, clock, metrics
    )


@pytest.mark.asyncio
async def test_admission_charges_then_refuses_past_the_rate_and_settles_once() -> None:
    clock = FakeClock()
    stage = _admission(clock)
    policy = policy_model(models=[{"alias": "m"}], limits={"requests_per_minute": 1})
    first = _context(policy)
    assert await stage.on_request(first) is None
    assert first.slot(TICKET_SLOT) is not None
    assert first.decision.rate_limit_headers is not None

    second = _context(policy)
    with pytest.raises(RateLimited) as refused:
        await stage.on_request(second)
    assert 0 < refused.value.retry_after_s <= 60
    assert second.slot(TICKET_SLOT) is None

    stage.on_done(first)
    assert first.slot(TICKET_SLOT) is None  # settled, and only once
    stage.on_done(first)


def _two_regions(clock: FakeClock) -> tuple[RouteStage, Registry]:
    """`near` (10 ms RTT) and `far` (40 ms), both probed, under the latency objective."""
    config = NodeConfig.model_validate(
        {
            "auth": {"api_keys": ["sk-test"]},
            "routing": {"default_objective": "latency"},
            "endpoints": [
                {"name": n, "base_url": f"http://{n}.invalid/v1", "region": n, "models": MODELS}
                for n in ("near", "far")
            ],
        }
    )
    registry = Registry(config, clock)
    registry.endpoints["near"].rtt.observe(10.0)
    registry.endpoints["far"].rtt.observe(40.0)
    return RouteStage(registry, config.routing, 100.0, random.Random(7)), registry


def _answered(registry: Registry, endpoint: str, *latencies_ms: float) -> None:
    stats = registry.endpoints[endpoint].model_stats["m"]
    for latency_ms in latencies_ms:
        stats.begin()
        stats.end(ok=True, elapsed_ms=latency_ms)


@pytest.mark.asyncio
async def test_an_unmeasured_region_is_tried_once_its_measured_sibling_turns_slow() -> None:
    # near answered in 12 ms twenty times, then once in 3 s (a brownout): the model is no
    # slower for that, so far (never used) is predicted 40 ms + near's 2 ms and goes first.
    clock = FakeClock()
    stage, registry = _two_regions(clock)
    _answered(registry, "near", *[12.0] * 20, 3000.0)
    ctx = _context()
    await stage.on_request(ctx)
    assert [t.endpoint.name for t in ctx.plan] == ["far", "near"], ctx.decision.reason


@pytest.mark.asyncio
async def test_an_unmeasured_region_borrows_its_siblings_server_time() -> None:
    # near's model takes 800 ms: far, 30 ms further, is assumed to take as long and stays
    # second, rather than drawing a request on the 100 ms configured prior.
    clock = FakeClock()
    stage, registry = _two_regions(clock)
    _answered(registry, "near", 810.0, 810.0, 810.0)
    ctx = _context()
    await stage.on_request(ctx)
    assert [t.endpoint.name for t in ctx.plan] == ["near", "far"], ctx.decision.reason
