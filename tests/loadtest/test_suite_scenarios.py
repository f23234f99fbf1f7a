"""Every scenario of the load-test suite runs in its smoke form against the router on the
simulated cloud, with zero errors and a report of the standard metrics; the command line lists,
runs (in its own process), reports and compares. Counts and shapes only: no timing assertion."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson
import pytest

from loadtest.__main__ import main
from loadtest.mock_cloud.cloud import MockCloud
from loadtest.mock_cloud.settings import CloudSettings, ControlSettings, RegionSettings
from loadtest.suite.report import comparison, markdown_report
from loadtest.suite.runner import Target, run_scenario
from loadtest.suite.scenario import ScenarioInvalid, load_scenario, scenario_names
from tests.stack import API_KEY, running_stack

SCENARIOS = scenario_names()


def test_the_suite_ships_scenarios_and_every_one_is_valid() -> None:
    assert {"steady-chat", "steady-stream", "ramp-stream"} <= set(SCENARIOS)
    for name in SCENARIOS:
        smoke = load_scenario(name).smoke_form()
        assert all(phase.duration_s <= 1.0 for phase in smoke.phases)


def test_a_scenario_with_a_typo_is_refused_naming_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("description: x\nphases:\n  - {name: a, rate_per_s: 1, duraton_s: 2}\n")
    with pytest.raises(ScenarioInvalid) as refused:
        load_scenario(str(path))
    assert str(path) in str(refused.value) and "phases.0.duraton_s" in str(refused.value)
    with pytest.raises(ScenarioInvalid, match="no scenario 'nope'"):
        load_scenario("nope")


@pytest.mark.asyncio
@pytest.mark.parametrize("name", SCENARIOS)
async def test_every_scenario_runs_in_its_smoke_form_through_the_router(name: str) -> None:
    scenario = load_scenario(name).smoke_form()
    regions = (RegionSettings(name="us-east", rtt_ms=1.0, completion_tokens=8),)
    async with running_stack(regions=regions) as stack:
        records = await run_scenario(scenario, Target(f"{stack.url}/v1", API_KEY, name="router"))
    assert [r["phase"] for r in records] == [p.name for p in scenario.phases]
    for record, phase in zip(records, scenario.phases, strict=True):
        result = record["result"]
        assert result["errors"] == 0 and result["ok"] == result["requests"] > 0
        assert result["output_tokens_per_s"] > 0
        assert 0 <= result["goodput_per_s"] <= result["ok_rate_per_s"]
        if phase.kind == "chat-stream":
            assert result["ttft"]["count"] == result["tpot"]["count"] == result["ok"]
            assert result["itl"]["count"] >= result["ok"]
    report = markdown_report(records)
    assert report.count("\n| " + name + " |") == len(records)


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
    assert main(["report", str(outs[0]), str(outs[1])]) == 0
    table = comparison([(o.stem, [orjson.loads(outs[i].read_bytes())]) for i, o in enumerate(outs)])
    assert "| steady | TTFT p50 ms |" in table and "(1.00x)" in table
    assert main(["compare", str(outs[0]), str(outs[1])]) == 0
    assert main(["list"]) == 0
    assert main(["run", "nope", "--target", "http://127.0.0.1:9/v1"]) == 2
