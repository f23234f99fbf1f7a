"""Every scenario that disrupts what surrounds the router (`disruption:` in a phase) on loopback
runs in its smoke form on the stack the suite starts itself (`loadtest.harness.stack`: the
simulated cloud, a real redis-server, `edge-router serve` with its edge worker, which needs the
local models of `make models`); those over the network test bed are
tests/loadtest/test_network_scenarios.py's. Each disruption is applied and undone (the region
serves again, Redis answers PING, the policy file is the original and loaded, the worker is
back), and no request meets an error the scorecard counts as a failure. Counts and shapes only:
no timing assertion."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtest.__main__ import main
from loadtest.harness.runner import Target, run_scenario
from loadtest.harness.scenario import Scenario, ScenarioInvalid, load_scenario, scenario_names
from loadtest.harness.scorecard import unexpected_errors
from loadtest.harness.stack import LocalStack, local_stack
from loadtest.harness.stack_config import DEMO_KEY, POLICIES_DIR


def needs_stack(scenario: Scenario) -> bool:
    """Disrupted on loopback: those over the network test bed (`network:`) are run by
    tests/loadtest/test_network_scenarios.py."""
    return scenario.network is None and any(
        phase.disruption is not None for phase in scenario.phases
    )


STACK_SCENARIOS = [name for name in scenario_names() if needs_stack(load_scenario(name))]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    """One stack for every scenario here (it starts in seconds, but each start loads models);
    at the end every process it ran is gone, the edge workers the router started included."""
    with local_stack() as started:
        yield started
        pids = [proc.pid for _, proc, _ in started.processes.started]
        worker = started.edge_worker_pid()
    assert worker is not None and pids
    assert [pid for pid in [*pids, worker] if _cmdline(Path(f"/proc/{pid}"))] == []
    assert not started.directory.exists()


def test_each_of_the_routers_own_disruptions_has_a_scenario() -> None:
    assert STACK_SCENARIOS == [
        "disrupt-brownout",
        "disrupt-redis-loss",
        "disrupt-region-loss",
        "disrupt-reload-storm",
        "disrupt-worker-crash",
    ]
    kinds = {
        phase.disruption.kind
        for name in STACK_SCENARIOS
        for phase in load_scenario(name).phases
        if phase.disruption is not None
    }
    assert kinds == {"region_loss", "brownout", "redis_loss", "reload_storm", "worker_crash"}


@pytest.mark.asyncio
@pytest.mark.parametrize("name", STACK_SCENARIOS)
async def test_every_disruption_is_applied_undone_and_graded_without_a_failure(
    name: str, stack: LocalStack
) -> None:
    scenario = load_scenario(name).smoke_form()
    target = Target(stack.base_url, DEMO_KEY, name="router", pid=stack.router_pid)
    records = await run_scenario(scenario, target, stack.control_url, stack)
    assert [r["phase"] for r in records] == [p.name for p in scenario.phases]
    for record, phase in zip(records, scenario.phases, strict=True):
        assert phase.disruption is not None and phase.rate_per_s is not None
        result, disruption = record["result"], record["disruption"]
        assert result["requests"] == round(phase.rate_per_s * phase.duration_s) > 0
        assert {len(column) for column in record["requests"].values()} == {result["requests"]}
        assert disruption["kind"] == phase.disruption.kind
        assert 0 <= disruption["at_s"] < disruption["until_s"]  # applied, then undone
        assert unexpected_errors(result["errors_by_kind"], phase.disruption.kind) == {}
        assert record["verdict"] in ("pass", "partial", "safe")
        await _assert_undone(stack, phase.disruption.kind, disruption["evidence"])


async def _assert_undone(stack: LocalStack, kind: str, evidence: dict[str, Any]) -> None:
    if kind == "region_loss":
        assert evidence["serving_again"] and all(evidence["serving_again"].values())
        for region in _get(f"{stack.control_url}/control/regions"):
            assert region["down"] is False
            assert _get(f"{region['base_url']}/models")["data"]
    elif kind == "brownout":
        assert all(evidence["ttft_ms_restored"].values())
        us_east = _get(f"{stack.control_url}/control/regions/us-east")
        assert us_east["ttft_ms"] == 50  # the demo's (deploy/local/mock-cloud.yaml)
    elif kind == "redis_loss":
        assert stack.redis_answers(timeout_s=2.0) and evidence["redis_answers"]
        # The router said it served on local limits (the gauge may still be 1 from the phase
        # before, within its retry interval, when no call needed Redis to fail again).
        assert evidence["degraded_seen"]
        assert evidence["local_fallbacks"] > 0 or evidence["degraded_before"]
    elif kind == "reload_storm":
        assert evidence["writes"] > evidence["invalid_writes"] > 0
        assert evidence["tenant_missing_samples"] == 0 and evidence["reloaded_clean"]
        assert stack.tenant_policy.read_bytes() == (POLICIES_DIR / "default.yaml").read_bytes()
        assert not stack.tenant_policy.is_symlink()
        assert sorted(p.name for p in stack.policy_dir.iterdir()) == sorted(
            p.name for p in POLICIES_DIR.iterdir()
        )
    elif kind == "worker_crash":
        assert evidence["back_after_s"] is not None
        pid = await asyncio.to_thread(stack.edge_worker_pid)
        assert pid == evidence["new_pid"] != evidence["killed_pid"]
        assert await asyncio.to_thread(stack.edge_worker_answers)
    else:
        raise AssertionError(f"no check for {kind}")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5.0) as response:
        return orjson.loads(response.read())


def test_a_disruption_scenario_is_refused_without_the_stack(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario = load_scenario("disrupt-redis-loss")
    with pytest.raises(ScenarioInvalid, match="--stack"):
        asyncio.run(run_scenario(scenario, Target("http://127.0.0.1:9/v1")))
    assert main(["run", "disrupt-redis-loss", "--target", "http://127.0.0.1:9/v1"]) == 2
    assert "python -m loadtest run disrupt-redis-loss --stack" in capsys.readouterr().err


def test_a_disruption_with_a_field_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wrong.yaml"
    path.write_text(
        "description: x\nphases:\n  - {name: a, rate_per_s: 1, duration_s: 2,"
        " disruption: {kind: redis_loss, regions: [us-east]}}\n"
    )
    with pytest.raises(ScenarioInvalid, match=r"phases\.0\.disruption.*regions: not a field of"):
        load_scenario(str(path))
    path.write_text(
        "description: x\nphases:\n  - {name: a, rate_per_s: 1, duration_s: 2,"
        " disruption: {kind: region_loss}}\n"
    )
    with pytest.raises(ScenarioInvalid, match="regions: region_loss needs at least one"):
        load_scenario(str(path))


def test_the_command_line_starts_the_stack_and_stops_every_process(tmp_path: Path) -> None:
    out = tmp_path / "redis.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "loadtest", "run", "disrupt-redis-loss", "--stack", "--smoke",
         "--out", str(out)],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [r["disruption"]["evidence"]["mode"] for r in records] == ["stop", "kill"]
    assert "| disrupt-redis-loss | redis-stopped | router |" in run.stdout.decode()
    (directory,) = set(re.findall(rb"(/\S*loadtest-stack-[^/\s]+)/", run.stderr))
    assert not Path(directory.decode()).exists()
    leftovers = [proc.name for proc in Path("/proc").iterdir() if directory in _cmdline(proc)]
    assert leftovers == []  # the cloud, both redis-servers, the router


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""
