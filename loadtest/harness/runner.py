"""A scenario run against one target: each phase an open-loop run of the generator
(`loadtest.generator`), in order, its result a record (one JSON line): the scenario, the phase, the
target and the generator's result with the standard metrics. A phase with a fault sets it on the
simulated cloud's regions through the control API before it runs and clears it after, whatever
happened; its record carries the fault and the scorecard's verdict. A phase with an accounting
check reads every region's billing counters through the same API before the phase and after it,
and its record carries what each region billed, the disagreements and the verdict on them
(`scorecard.accounting_verdict`). A phase with a disruption
has it applied on schedule to the stack the suite started (`loadtest.harness.disruptions`) and
undone by the phase's end; its record carries what was done and seen, and the verdict. A scenario
that names a topology (`network:`) runs only on the stack started over the network test bed
(`loadtest.harness.network_stack`), and each of its records names the topology."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import aiohttp

from loadtest.generator import LoadSettings
from loadtest.generator.load import run_load_detailed
from loadtest.generator.summary import RequestRecord
from loadtest.harness.disruption_spec import phase_problems
from loadtest.harness.disruptions import DisruptionRecord, disrupted
from loadtest.harness.process_usage import measured
from loadtest.harness.scenario import Fault, Phase, Scenario, ScenarioInvalid
from loadtest.harness.scorecard import Bill, accounting_problems, accounting_verdict, verdict
from loadtest.harness.started_stack import StartedStack


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
        model=phase.model or target.model,
        # The target's key, unless the phase's tenants bring their own.
        api_key=target.api_key,
        # The loop, its load and the workload: kind, sizes, seed, tenants, cache, PII, turns.
        **phase.load_fields(),
        # Every request is waited for up to its own timeout: one cut short by the end of the
        # schedule would read as a hang of the target's.
        drain_timeout_s=phase.request_timeout_s,
        ttft_slo_ms=slo.ttft_ms,
        tpot_slo_ms=slo.tpot_ms,
        latency_slo_ms=slo.latency_ms,
    )


async def run_scenario(
    scenario: Scenario,
    target: Target,
    control: str | None = None,
    stack: StartedStack | None = None,
) -> list[dict[str, Any]]:
    """Every phase in order; a record per phase. `control`: the simulated cloud's control API
    (`http://127.0.0.1:9100`), which a phase with a fault needs; `stack`: the stack the suite
    started (`loadtest.harness.stack`, `loadtest.harness.network_stack`), which a phase with a
    disruption or a scenario over a network needs."""
    _check_where_it_runs(scenario, stack)
    if control is None and any(
        phase.fault is not None or phase.accounting for phase in scenario.phases
    ):
        raise ScenarioInvalid(
            f"scenario {scenario.name!r} puts regions in fault modes or checks what they bill: "
            "give the simulated cloud's control API (--control)"
        )
    records = []
    for phase in scenario.phases:
        started_at = time.time()
        billed_before = await _billing(control) if phase.accounting and control else None
        async with (
            _fault(control, phase.fault),
            _disruption(stack, phase) as disruption,
            measured(target.pid) as usage,
        ):
            result, requests = await run_load_detailed(phase_settings(scenario, phase, target))
        record: dict[str, Any] = {
            "scenario": scenario.name,
            "phase": phase.name,
            "target": target.name,
            "started_at": started_at,
            **({"network": scenario.network} if scenario.network is not None else {}),
            "result": result.to_json_dict(),
            # Every measured request, in columns: due (s into the phase), latency and TTFT
            # (ms, null when it failed or is no stream), outcome.
            "requests": {
                "due_s": [round(r.due_s, 6) for r in requests],
                "latency_ms": [_rounded(r.latency_ms) for r in requests],
                "ttft_ms": [_rounded(r.ttft_ms) for r in requests],
                "outcome": [r.outcome for r in requests],
                # And what the workload drew, where it draws it: kind, tenant, question, turn;
                # the target's cache verdict (`x-router-cache`), where it gave one.
                **_workload_columns(requests),
            },
        }
        if usage is not None:
            record["target_process"] = usage.to_json_dict()
        if phase.fault is not None:
            record["fault"] = phase.fault.mode
            record["verdict"] = verdict(result)
        if disruption is not None:
            record["disruption"] = disruption.to_json_dict()
            record["verdict"] = verdict(result, disruption.kind)
        if billed_before is not None and control is not None:
            bills = _bills(billed_before, await _billing(control))
            faulted = phase.fault.regions if phase.fault is not None else ()
            problems = accounting_problems(result.usage, bills, faulted)
            record["accounting"] = {
                "billed": {region: bill.to_json_dict() for region, bill in bills.items()},
                "problems": problems,
            }
            record["verdict"] = accounting_verdict(result, problems)
        records.append(record)
    return records


def _check_where_it_runs(scenario: Scenario, stack: StartedStack | None) -> None:
    if scenario.network is not None and (stack is None or stack.bed is None):
        raise ScenarioInvalid(
            f"scenario {scenario.name!r} runs over the network test bed (`network: "
            f"{scenario.network}`): it runs only on the stack the suite starts over it, "
            f"`python -m loadtest run {scenario.name} --stack`"
        )
    disrupting = [phase for phase in scenario.phases if phase.disruption is not None]
    if disrupting and stack is None:
        raise ScenarioInvalid(
            f"scenario {scenario.name!r} disrupts what surrounds the router (Redis, regions, its "
            "policy files, its edge worker): it runs only on the stack the suite starts itself, "
            f"`python -m loadtest run {scenario.name} --stack`"
        )
    for phase in disrupting:
        assert phase.disruption is not None
        problems = phase_problems(phase.disruption, phase.warmup_s + phase.duration_s)
        if problems:
            where = f"scenario {scenario.name!r}, phase {phase.name!r}"
            raise ScenarioInvalid(f"{where}: disruption: {'; '.join(problems)}")


def _disruption(
    stack: StartedStack | None, phase: Phase
) -> AbstractAsyncContextManager[DisruptionRecord | None]:
    if stack is None or phase.disruption is None:
        return nullcontext()
    return disrupted(stack, phase.disruption)


def _workload_columns(requests: list[RequestRecord]) -> dict[str, list[Any]]:
    columns = {
        name: [getattr(r, name) for r in requests]
        for name in ("kind", "tenant", "question", "turn", "cache")
    }
    return {name: values for name, values in columns.items() if any(v is not None for v in values)}


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


async def _billing(control: str) -> dict[str, dict[str, Any]]:
    """Every region's counters (`/control/regions/{name}/stats`), by name."""
    base = control.rstrip("/")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        async with http.get(f"{base}/control/regions") as response:
            regions = [region["name"] for region in await response.json()]
        stats = {}
        for region in regions:
            async with http.get(f"{base}/control/regions/{region}/stats") as response:
                stats[region] = await response.json()
    return stats


def _bills(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> dict[str, Bill]:
    return {region: Bill.between(before[region], after[region]) for region in after}


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
