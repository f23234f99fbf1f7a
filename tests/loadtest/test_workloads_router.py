"""Workloads through the router on the simulated cloud (real sockets, the production app): the
cache verdicts a cache mix records from `x-router-cache` and its hit share by kind of question,
and tenants under their own policies, each tenant's errors its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.generator import CacheMix, LoadSettings, Tenant, run_load_detailed
from loadtest.harness.report import markdown_report
from loadtest.harness.runner import Target, run_scenario
from loadtest.harness.scenario import Phase, Scenario
from loadtest.mock_cloud.settings import RegionSettings
from tests.cache.cache_stack import write_tenants
from tests.stack import running_stack
from tests.tenant_policies import ONE_MODEL, write_policies

REGIONS = (RegionSettings(name="us-east", rtt_ms=1.0, completion_tokens=8),)


@pytest.mark.asyncio
async def test_a_cache_mix_records_the_routers_verdicts_and_its_repeats_hit(
    tmp_path: Path,
) -> None:
    write_tenants(tmp_path, {"acme": "{ttl_s: 600}"})
    overrides = {
        "policies": {"directory": str(tmp_path), "watch": False},
        "cache": {"enabled": True},
    }
    async with running_stack(regions=REGIONS, overrides=overrides) as stack:
        # One client: a repeat is always asked after its first asking was answered and stored.
        settings = LoadSettings(
            base_url=f"{stack.url}/v1",
            api_key="sk-acme",
            concurrency=1,
            duration_s=0.6,
            warmup_s=0.0,
            cache=CacheMix(repeat=0.4, reword=0.2),
            stream_share=0.3,
            seed=2,
        )
        result, records = await run_load_detailed(settings)
    cache = result.cache
    assert cache is not None and result.errors == 0
    repeats, new = cache.by_question["repeat"], cache.by_question["new"]
    assert repeats["requests"] > 0 and repeats["hits"] == repeats["requests"]
    assert new["requests"] > 0 and new["hits"] == 0  # a new question is never a hit
    assert set(cache.verdicts) <= {"hit-exact", "hit-semantic", "miss"}
    assert cache.hits == sum(1 for r in records if r.cache and r.cache.startswith("hit"))
    assert cache.hit_share == cache.hits / result.ok
    assert [r.question for r in records if r.cache == "miss"].count("repeat") == 0
    report = markdown_report([_record(result.to_json_dict())])
    assert f"| {cache.hits} ({cache.hit_share:.0%}) |" in report


@pytest.mark.asyncio
async def test_a_tenant_over_its_limit_is_refused_and_the_others_are_not(tmp_path: Path) -> None:
    write_policies(
        tmp_path,
        {
            "roomy": ONE_MODEL,
            "tight": ONE_MODEL + "limits:\n  requests_per_minute: 2\n",
        },
    )
    overrides = {"policies": {"directory": str(tmp_path), "watch": False}}
    phase = Phase(
        name="mixed",
        rate_per_s=100.0,
        duration_s=0.3,
        seed=1,
        tenants=(Tenant("roomy", "sk-roomy", 1.0), Tenant("tight", "sk-tight", 1.0)),
    )
    scenario = Scenario(name="tenants", description="x", phases=(phase,))
    async with running_stack(regions=REGIONS, overrides=overrides) as stack:
        (record,) = await run_scenario(scenario, Target(f"{stack.url}/v1", "sk-unused"))
    tenants = record["result"]["tenants"]
    roomy, tight = tenants["roomy"], tenants["tight"]
    assert roomy["errors"] == 0 and roomy["ok"] == roomy["requests"] > 0
    assert tight["ok"] == 2 and tight["errors_by_kind"] == {"http_429": tight["requests"] - 2}
    assert roomy["requests"] + tight["requests"] == record["result"]["requests"] == 30
    # Each request's tenant is in the record's columns, and the report has a row per tenant.
    assert sorted(set(record["requests"]["tenant"])) == ["roomy", "tight"]
    report = markdown_report([record])
    assert f"roomy: {roomy['ok']}/{roomy['requests']}" in report and "tight: 2/" in report


def _record(result: dict[str, object]) -> dict[str, object]:
    return {"scenario": "cache", "phase": "mix", "target": "router", "result": result}
