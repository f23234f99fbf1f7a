"""A scenario run against one target: each phase an open-loop run of the generator
(`loadtest.loadgen`), in order, its result a record (one JSON line): the scenario, the phase, the
target and the generator's result with the standard metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from loadtest.loadgen import LoadSettings, run_load
from loadtest.suite.scenario import Phase, Scenario


@dataclass(frozen=True, slots=True)
class Target:
    """Any OpenAI-compatible endpoint: the router, another gateway, a provider."""

    base_url: str  # e.g. http://127.0.0.1:8080/v1
    api_key: str = "sk-loadtest"
    model: str = "gpt-4o-mini"
    name: str = "target"


def phase_settings(scenario: Scenario, phase: Phase, target: Target) -> LoadSettings:
    slo = scenario.slo
    return LoadSettings(
        base_url=target.base_url,
        kind=phase.kind,
        rate_per_s=phase.rate_per_s,
        duration_s=phase.duration_s,
        warmup_s=phase.warmup_s,
        model=target.model,
        api_key=target.api_key,
        max_tokens=phase.max_tokens,
        ttft_slo_ms=slo.ttft_ms,
        tpot_slo_ms=slo.tpot_ms,
        latency_slo_ms=slo.latency_ms,
    )


async def run_scenario(scenario: Scenario, target: Target) -> list[dict[str, Any]]:
    """Every phase in order; a record per phase."""
    records = []
    for phase in scenario.phases:
        started_at = time.time()
        result = await run_load(phase_settings(scenario, phase, target))
        records.append(
            {
                "scenario": scenario.name,
                "phase": phase.name,
                "target": target.name,
                "started_at": started_at,
                "result": result.to_json_dict(),
            }
        )
    return records
