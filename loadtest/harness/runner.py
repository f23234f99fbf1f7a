"""A scenario run against one target: each phase an open-loop run of the generator
(`loadtest.generator`), in order, its result a record (one JSON line): the scenario, the phase, the
target and the generator's result with the standard metrics. A phase with a fault sets it on the
simulated cloud's regions through the control API before it runs and clears it after, whatever
happened; its record carries the fault and the scorecard's verdict."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from loadtest.generator import LoadSettings
from loadtest.generator.run import run_load_detailed
from loadtest.harness.process_usage import measured
from loadtest.harness.scenario import Fault, Phase, Scenario, ScenarioInvalid
from loadtest.harness.scorecard import verdict


@dataclass(frozen=True, slots=True)
class Target:
    """Any OpenAI-compatible endpoint: the router, another gateway, a provider."""

    base_url: str  # e.g. http://127.0.0.1:8080/v1
    api_key: str = "sk-loadtest"
    model: str = "gpt-4o-mini"
    name: str = "target"
    # Its process on this machine, if known: its CPU and RSS go in each phase's record.
    pid: int | None = None


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
        prompt_bytes=phase.prompt_bytes,
        prefill=phase.prefill,
        request_timeout_s=phase.request_timeout_s,
        # Every request is waited for up to its own timeout: one cut short by the end of the
        # schedule would read as a hang of the target's.
        drain_timeout_s=phase.request_timeout_s,
        ttft_slo_ms=slo.ttft_ms,
        tpot_slo_ms=slo.tpot_ms,
        latency_slo_ms=slo.latency_ms,
    )


async def run_scenario(
    scenario: Scenario, target: Target, control: str | None = None
) -> list[dict[str, Any]]:
    """Every phase in order; a record per phase. `control`: the simulated cloud's control API
    (`http://127.0.0.1:9100`), which a phase with a fault needs."""
    if control is None and any(phase.fault is not None for phase in scenario.phases):
        raise ScenarioInvalid(
            f"scenario {scenario.name!r} puts regions in fault modes: give the simulated "
            "cloud's control API (--control)"
        )
    records = []
    for phase in scenario.phases:
        started_at = time.time()
        async with _fault(control, phase.fault), measured(target.pid) as usage:
            result, requests = await run_load_detailed(phase_settings(scenario, phase, target))
        record: dict[str, Any] = {
            "scenario": scenario.name,
            "phase": phase.name,
            "target": target.name,
            "started_at": started_at,
            "result": result.to_json_dict(),
            # Every measured request, in columns: due (s into the phase), latency and TTFT
            # (ms, null when it failed or is no stream), outcome.
            "requests": {
                "due_s": [round(r.due_s, 6) for r in requests],
                "latency_ms": [_rounded(r.latency_ms) for r in requests],
                "ttft_ms": [_rounded(r.ttft_ms) for r in requests],
                "outcome": [r.outcome for r in requests],
            },
        }
        if usage is not None:
            record["target_process"] = usage.to_json_dict()
        if phase.fault is not None:
            record["fault"] = phase.fault.mode
            record["verdict"] = verdict(result)
        records.append(record)
    return records


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@asynccontextmanager
async def _fault(control: str | None, fault: Fault | None) -> AsyncIterator[None]:
    """The fault set on its regions for the block, cleared after it."""
    if fault is None or control is None:
        yield
        return
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        try:
            for region in fault.regions:
                await _patch(http, control, region, fault.patch())
            yield
        finally:
            for region in fault.regions:
                await _patch(http, control, region, {"fault": None})


async def _patch(
    http: aiohttp.ClientSession, control: str, region: str, patch: dict[str, object]
) -> None:
    url = f"{control.rstrip('/')}/control/regions/{region}"
    async with http.patch(url, json=patch) as response:
        if response.status != 200:
            raise ScenarioInvalid(
                f"the control API refused {patch} for region {region!r}: "
                f"{response.status} {await response.text()}"
            )
