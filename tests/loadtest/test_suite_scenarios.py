"""Every scenario of the load-test suite runs in its smoke form against the router on the
simulated cloud, with zero errors and a report of the standard metrics; the command line lists,
runs (in its own process), reports and compares. Counts and shapes only: no timing assertion."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import orjson
import pytest

from loadtest.__main__ import main
from loadtest.harness.html_report import html_report
from loadtest.harness.process_usage import measured
from loadtest.harness.report import comparison, markdown_report
from loadtest.harness.runner import Target, run_scenario
from loadtest.harness.scenario import ScenarioInvalid, load_scenario, scenario_names
from loadtest.mock_cloud.cloud import MockCloud
from loadtest.mock_cloud.settings import CloudSettings, ControlSettings, RegionSettings
from tests.loadtest.test_disruptions import STACK_SCENARIOS
from tests.loadtest.test_network_scenarios import NETWORK_SCENARIOS
from tests.stack import API_KEY, running_stack

SCENARIOS = scenario_names()
# The fault scenarios run below with the control API; those that disrupt what surrounds the
# router (Redis, regions, policy files, the edge worker) on the stack the suite starts, in
# tests/loadtest/test_disruptions.py; those over the network test bed (`network:`), on the stack
# it starts over the bed, in tests/loadtest/test_network_scenarios.py; every other one in the
# smoke loop.
SMOKE_SCENARIOS = [
    name
    for name in SCENARIOS
    if not name.startswith("fault-") and name not in STACK_SCENARIOS + NETWORK_SCENARIOS
]


def test_the_suite_ships_scenarios_and_every_one_is_valid() -> None:
    assert {"steady-chat", "steady-stream", "ramp-stream"} <= set(SCENARIOS)
    for name in SCENARIOS:
        smoke = load_scenario(name).smoke_form()
        assert all(phase.duration_s <= 1.0 for phase in smoke.phases)


def test_every_scenario_is_run_in_its_smoke_form_by_exactly_one_test() -> None:
    covered = SMOKE_SCENARIOS + FAULT_SCENARIOS + STACK_SCENARIOS + NETWORK_SCENARIOS
    assert sorted(covered) == SCENARIOS  # none skipped, none twice
    assert all(name.startswith("disrupt-") for name in STACK_SCENARIOS)
    assert all(name.startswith("network-") for name in NETWORK_SCENARIOS)
    # Only the network scenarios run over the network test bed.
    elsewhere = SMOKE_SCENARIOS + FAULT_SCENARIOS + STACK_SCENARIOS
    assert all(load_scenario(name).network is None for name in elsewhere)
    # Each where it can run: the smoke loop has neither the control API nor the stack.
    for name in SMOKE_SCENARIOS + FAULT_SCENARIOS:
        phases = load_scenario(name).phases
        assert all(phase.disruption is None for phase in phases)
        assert all((phase.fault is not None) == (name in FAULT_SCENARIOS) for phase in phases)


def test_a_scenario_with_a_typo_is_refused_naming_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("description: x\nphases:\n  - {name: a, rate_per_s: 1, duraton_s: 2}\n")
    with pytest.raises(ScenarioInvalid) as refused:
        load_scenario(str(path))
    assert str(path) in str(refused.value) and "phases.0.duraton_s" in str(refused.value)
    with pytest.raises(ScenarioInvalid, match="no scenario 'nope'"):
        load_scenario("nope")


@pytest.mark.asyncio
@pytest.mark.parametrize("name", SMOKE_SCENARIOS)
async def test_every_scenario_runs_in_its_smoke_form_through_the_router(name: str) -> None:
    scenario = load_scenario(name).smoke_form()
    regions = (RegionSettings(name="us-east", rtt_ms=1.0, completion_tokens=8),)
    # A phase's tenants bring their own keys (the local demo's): accepted here as node keys.
    keys = sorted({tenant.key for phase in scenario.phases for tenant in phase.tenants})
    auth = {"auth": {"api_keys": [API_KEY, *keys]}}
    # Fit to receive personal data (`pii`, as the demo's regions are), for a PII share's prompts.
    tags = {"us-east": {"tags": ["zero-retention", "pii"]}}
    async with running_stack(regions=regions, overrides=auth, endpoint_fields=tags) as stack:
        # The router runs in this process: its CPU and RSS are this process's.
        target = Target(f"{stack.url}/v1", API_KEY, name="router", pid=os.getpid())
        records = await run_scenario(scenario, target)
    assert [r["phase"] for r in records] == [p.name for p in scenario.phases]
    for record, phase in zip(records, scenario.phases, strict=True):
        result = record["result"]
        assert result["errors"] == 0 and result["ok"] == result["requests"] > 0
        usage = record["target_process"]
        # A short phase may fall within one tick of the CPU clock: measured, not necessarily > 0.
        assert usage["cpu_cores"] >= 0 and usage["rss_max_mib"] >= usage["rss_end_mib"] > 0
        requests = record["requests"]  # every measured request, in columns
        assert {len(column) for column in requests.values()} == {result["requests"]}
        assert set(requests["outcome"]) == {"ok"} and None not in requests["latency_ms"]
        assert result["output_tokens_per_s"] > 0
        assert 0 <= result["goodput_per_s"] <= result["ok_rate_per_s"]
        if phase.kind.endswith("-stream") and phase.stream_share is None:  # every API's
            assert result["ttft"]["count"] == result["tpot"]["count"] == result["ok"]
            assert result["itl"]["count"] >= result["ok"]
    report = markdown_report(records)
    assert report.count("\n| " + name + " |") == len(records)
    page = html_report(records, title=name)
    # Latency over time, the error timeline and a percentile curve per phase, and throughput for
    # a ramp.
    assert page.count("<svg") == 3 * len(records) + (len(records) > 1)
    assert "<th>scenario</th>" in page and f"<td>{name}</td>" in page


@pytest.mark.asyncio
async def test_the_command_line_runs_reports_and_compares(tmp_path: Path) -> None:
    settings = CloudSettings(
        control=ControlSettings(port=0), regions=(RegionSettings(name="direct", rtt_ms=0.0),)
    )
    async with MockCloud(settings) as cloud:  # any OpenAI-compatible endpoint is a target
        outs = []
        for label in ("first", "second"):
            out = tmp_path / f"{label}.jsonl"
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "loadtest", "run", "steady-stream", "--smoke",
                "--target", cloud.regions["direct"].base_url, "--name", label, "--out", str(out),
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            stdout, _ = await asyncio.wait_for(process.communicate(), timeout=60)
            assert process.returncode == 0
            assert f"| steady-stream | steady | {label} |" in stdout.decode()
            outs.append(out)
    (record,) = [orjson.loads(line) for line in outs[0].read_bytes().splitlines()]
    assert record["result"]["errors"] == 0 and record["result"]["kind"] == "chat-stream"
    page = tmp_path / "report.html"
    assert main(["report", str(outs[0]), str(outs[1]), "--html", str(page)]) == 0
    assert page.read_text().count("<svg") == 6  # three plots for each of the two records
    table = comparison([(o.stem, [orjson.loads(outs[i].read_bytes())]) for i, o in enumerate(outs)])
    assert "| steady | TTFT p50 ms |" in table and "(1.00x)" in table
    assert main(["compare", str(outs[0]), str(outs[1])]) == 0
    assert main(["list"]) == 0
    assert main(["run", "nope", "--target", "http://127.0.0.1:9/v1"]) == 2


FAULT_SCENARIOS = [name for name in SCENARIOS if name.startswith("fault-")]
# The local demo's regions (deploy/local): the fault scenarios name them.
DEMO_REGIONS = (
    RegionSettings(name="us-east", rtt_ms=1.0, completion_tokens=8),
    RegionSettings(name="eu-west", rtt_ms=3.0, completion_tokens=8),
    RegionSettings(name="ap-south", rtt_ms=5.0, completion_tokens=8),
)
# The router's own timeouts short, so that a smoke run of a hang ends in seconds.
QUICK_TIMEOUTS = {
    "routing": {"first_byte_timeout_s": 2, "stream_idle_timeout_s": 2, "connect_timeout_s": 1}
}


@pytest.mark.asyncio
@pytest.mark.parametrize("name", FAULT_SCENARIOS)
async def test_every_fault_scenario_gets_a_verdict_and_the_router_never_fails_one(
    name: str,
) -> None:
    scenario = load_scenario(name).smoke_form()
    async with running_stack(regions=DEMO_REGIONS, overrides=QUICK_TIMEOUTS) as stack:
        target = Target(f"{stack.url}/v1", API_KEY, name="router")
        (record,) = await run_scenario(scenario, target, stack.cloud.control_url)
        stats = {r: await stack.region_stats(r) for r in ("us-east", "eu-west", "ap-south")}
    assert record["fault"] == scenario.phases[0].fault.mode  # type: ignore[union-attr]
    assert record["verdict"] in ("pass", "partial", "safe"), record["result"]["errors_by_kind"]
    assert stats["eu-west"]["faults_injected"] == 0  # the healthy region stayed healthy
    assert record["result"]["requests"] == 5


@pytest.mark.asyncio
async def test_a_fault_scenario_needs_the_control_api() -> None:
    with pytest.raises(ScenarioInvalid, match="--control"):
        await run_scenario(load_scenario("fault-unavailable"), Target("http://127.0.0.1:9/v1"))


@pytest.mark.asyncio
async def test_the_targets_cpu_and_memory_are_measured_over_the_block() -> None:
    async with measured(os.getpid()) as usage:
        assert usage is not None
        burnt = sum(i * i for i in range(3_000_000))  # CPU work, many ticks of the CPU clock
    assert burnt > 0 and usage.cpu_cores > 0
    assert usage.rss_max_mib >= usage.rss_end_mib > 0
    async with measured(None) as nothing:
        assert nothing is None


@pytest.mark.asyncio
async def test_fallback_accounting_bills_only_the_region_that_answered_and_the_router_passes() -> (
    None
):
    scenario = load_scenario("fault-fallback-accounting").smoke_form()
    async with running_stack(regions=DEMO_REGIONS, overrides=QUICK_TIMEOUTS) as stack:
        target = Target(f"{stack.url}/v1", API_KEY, name="router")
        (record,) = await run_scenario(scenario, target, stack.cloud.control_url)
    accounting = record["accounting"]
    assert record["verdict"] == "pass", accounting["problems"]
    assert accounting["problems"] == []
    usage = record["result"]["usage"]
    assert usage["answers"] == usage["with_usage"] == record["result"]["ok"] == 5
    nothing = {"answers": 0, "prompt_tokens": 0, "completion_tokens": 0}
    assert accounting["billed"]["us-east"] == accounting["billed"]["ap-south"] == nothing
    # Every answer was eu-west's, told as billed.
    assert accounting["billed"]["eu-west"] == {
        "answers": 5,
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
    }
    assert usage["completion_tokens"] > 0 and usage["prompt_tokens"] > 0
