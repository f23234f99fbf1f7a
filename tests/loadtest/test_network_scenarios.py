"""The load-test suite over the network test bed: a scenario that names a topology (`network:`)
runs, in its smoke form, on the stack `python -m loadtest run NAME --stack --smoke` starts over
the bed (`loadtest.harness.network_stack`: the regions, Redis and the router each in a namespace
of its own), its records those of any run (every request answered, the disruption's window, where
the traffic went) and nothing left behind; the network's disruptions really cut and shape a link
and give the topology's shape back; a network scenario is refused where it cannot run. Needs
root, as the test bed does, and the local models (`make models`) for the router's edge worker.
Counts, outcomes and lower bounds only: no test depends on the machine's speed."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
import pytest

from loadtest.__main__ import main
from loadtest.harness.disruption_spec import Disruption
from loadtest.harness.links import LinkChange, Partition
from loadtest.harness.runner import Target, run_scenario
from loadtest.harness.scenario import ScenarioInvalid, load_scenario, scenario_names
from loadtest.network.testbed import HERE, TestBed, Topology
from loadtest.network.topology_file import load_topology

NETWORK_SCENARIOS = [name for name in scenario_names() if load_scenario(name).network]
PORT = 7002
SERVER = (
    "import socket\n"
    f"s = socket.create_server(('0.0.0.0', {PORT}))\n"
    "print('listening', flush=True)\n"
    "while True:\n"
    "    s.accept()[0].close()\n"
)


def test_the_network_scenarios_cut_and_shape_links_of_their_topology() -> None:
    assert NETWORK_SCENARIOS == ["network-loss", "network-partition"]
    kinds = set()
    for name in NETWORK_SCENARIOS:
        scenario = load_scenario(name)
        topology = load_topology(str(scenario.network))
        joined = {frozenset((link.a, link.b)) for link in topology.links}
        for phase in scenario.phases:
            assert phase.disruption is not None and phase.disruption.link is not None
            assert frozenset(phase.disruption.link) in joined
            kinds.add(phase.disruption.kind)
    assert kinds == {"partition", "link"}


def _scenario_file(tmp_path: Path, network: str | None, disruption: str, extra: str = "") -> str:
    path = tmp_path / "mine.yaml"
    top = f"network: {network}\n" if network else ""
    path.write_text(
        f"description: x\n{top}phases:\n  - {{name: a, rate_per_s: 1, duration_s: 5{extra},"
        f" disruption: {disruption}}}\n"
    )
    return str(path)


@pytest.mark.parametrize(
    ("network", "disruption", "extra", "problem"),
    [
        (None, "{kind: partition, link: [pop, us-east]}", "",
         "phases.0.disruption.kind: partition acts on a link: the scenario needs `network:`"),
        ("edge-pop", "{kind: partition, link: [us-east, eu-west]}", "",
         "link: no link between us-east and eu-west in topology 'edge-pop'"),
        ("edge-pop", "{kind: region_loss, regions: [us-west]}", "",
         "regions: 'us-west' is no region of topology 'edge-pop'"),
        ("edge-pop", "{kind: link, link: [pop, us-east]}", "",
         "link: give at least one of delay_ms, jitter_ms, loss"),
        ("edge-pop", "{kind: partition, link: [pop, pop]}", "",
         "link: partition needs the two hosts of a link"),
        ("edge-pop", "{kind: partition, link: [pop, us-east]}",
         ", fault: {mode: unavailable, regions: [us-east]}",
         "phases.0: no fault or accounting over a network"),
        ("nope", "{kind: partition, link: [pop, us-east]}", "",
         "network: no topology 'nope' (known: edge-pop"),
    ],
)  # fmt: skip
def test_a_network_scenario_that_cannot_run_as_written_is_refused(
    tmp_path: Path, network: str | None, disruption: str, extra: str, problem: str
) -> None:
    path = _scenario_file(tmp_path, network, disruption, extra)
    with pytest.raises(ScenarioInvalid) as refused:
        load_scenario(path)
    assert str(refused.value).startswith(f"{path}: ") and problem in str(refused.value)


def test_a_network_scenario_is_refused_off_its_network(capsys: pytest.CaptureFixture[str]) -> None:
    for where in (["--target", "http://127.0.0.1:9/v1"], ["--start", "direct"]):
        assert main(["run", "network-partition", *where]) == 2
        error = capsys.readouterr().err
        assert "network-partition' runs over the network test bed" in error
        assert "use --stack, not --target or --start" in error
    scenario = load_scenario("network-loss")
    with pytest.raises(ScenarioInvalid, match="python -m loadtest run network-loss --stack"):
        asyncio.run(run_scenario(scenario, Target("http://127.0.0.1:9/v1")))


def _connects(address: str, timeout_s: float = 2.0) -> float | None:
    """A TCP handshake with `address`: its ms, None when it failed."""
    started = time.monotonic()
    try:
        socket.create_connection((address, PORT), timeout=timeout_s).close()
    except OSError:
        return None
    return (time.monotonic() - started) * 1000


@pytest.fixture
def far_server() -> Iterator[tuple[TestBed, str]]:
    """`here` 50 ms (one way) from a host that accepts connections; the bed and its address."""
    topology = Topology.of(
        {"hosts": [HERE, "far"], "links": [{"a": HERE, "b": "far", "delay_ms": 50}]}
    )
    with TestBed(topology) as bed:
        server = bed.run("far", [sys.executable, "-c", SERVER], stdout=subprocess.PIPE)
        assert server.stdout is not None and server.stdout.readline() == b"listening\n"
        yield bed, bed.address("far", seen_from=HERE)


@pytest.mark.asyncio
async def test_a_partition_cuts_the_link_until_it_is_healed(
    far_server: tuple[TestBed, str],
) -> None:
    bed, address = far_server
    stack = SimpleNamespace(bed=bed, region_names=())  # no region: no traffic to count
    disruption = Disruption(kind="partition", link=(HERE, "far"))
    async with aiohttp.ClientSession() as http:
        evidence: dict[str, Any] = {}
        cut = Partition(stack, disruption, http, evidence)  # type: ignore[arg-type]
        await cut.prepare()
        await cut.apply()
        assert await asyncio.to_thread(_connects, address, 0.5) is None
        await cut.undo()
        healed_ms = await asyncio.to_thread(_connects, address)
        await cut.finish()
    assert healed_ms is not None and healed_ms >= 100  # across the 50 ms link, both ways
    assert evidence["link"] == [HERE, "far"]


@pytest.mark.asyncio
async def test_a_link_change_keeps_what_it_does_not_name_and_gives_the_shape_back(
    far_server: tuple[TestBed, str],
) -> None:
    bed, address = far_server
    stack = SimpleNamespace(bed=bed, region_names=())
    async with aiohttp.ClientSession() as http:
        # Named the other way round from the topology: the same link.
        jitter = Disruption(kind="link", link=("far", HERE), jitter_ms=1.0)
        evidence: dict[str, Any] = {}
        change = LinkChange(stack, jitter, http, evidence)  # type: ignore[arg-type]
        await change.prepare()
        await change.apply()
        jittered_ms = await asyncio.to_thread(_connects, address)  # the 50 ms delay kept
        await change.undo()
        lossy = Disruption(kind="link", link=(HERE, "far"), loss=1.0)
        change = LinkChange(stack, lossy, http, {})  # type: ignore[arg-type]
        await change.prepare()
        await change.apply()
        lost = await asyncio.to_thread(_connects, address, 0.5)
        await change.undo()
        restored_ms = await asyncio.to_thread(_connects, address)  # the loss gone, delay kept
    assert jittered_ms is not None and jittered_ms >= 100
    assert lost is None
    assert restored_ms is not None and restored_ms >= 100
    assert evidence["shape"] == {"jitter_ms": 1.0}
    assert evidence["restored"] == {"ab": {"delay_ms": 50.0}, "ba": {"delay_ms": 50.0}}


def _namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.parametrize("name", NETWORK_SCENARIOS)
def test_a_network_scenario_runs_over_the_bed_and_leaves_nothing_behind(
    name: str, tmp_path: Path
) -> None:
    scenario = load_scenario(name).smoke_form()
    out = tmp_path / f"{name}.jsonl"
    command = [
        sys.executable,
        "-m",
        "loadtest",
        "run",
        name,
        "--stack",
        "--smoke",
        "--out",
        str(out),
    ]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:  # SIGTERM: the run's own `finally` blocks stop everything
            run.terminate()
            run.communicate(timeout=60)
    assert run.returncode == 0, stderr.decode()[-2000:]
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [r["phase"] for r in records] == [p.name for p in scenario.phases]
    for record, phase in zip(records, scenario.phases, strict=True):
        assert phase.disruption is not None and phase.rate_per_s is not None
        assert record["network"] == scenario.network == "edge-pop"
        result, disruption = record["result"], record["disruption"]
        # Every request answered whole, however the link was.
        assert result["requests"] == round(phase.rate_per_s * phase.duration_s) > 0
        assert result["ok"] == result["requests"], (result["errors_by_kind"], stderr[-3000:])
        assert set(record["requests"]["outcome"]) == {"ok"}
        assert record["verdict"] == "pass"
        # Applied, then undone, its window in the record (what the HTML report shades).
        assert disruption["kind"] == phase.disruption.kind
        assert 0 <= disruption["at_s"] < disruption["until_s"]
        evidence = disruption["evidence"]
        assert evidence["link"] == list(phase.disruption.link or ())
        # Where the traffic went: each region's count, and every answer came from a region.
        by_window = evidence["chat_requests_by_region"]
        assert list(by_window) == ["before", "while_disrupted", "after"]
        assert all(
            set(counts) == {"us-east", "eu-west", "ap-south"} for counts in by_window.values()
        )
        assert sum(sum(counts.values()) for counts in by_window.values()) >= result["ok"]
        if phase.disruption.kind == "link":
            assert evidence["shape"] == phase.disruption.shape()
            assert evidence["restored"] == {"ab": {"delay_ms": 10.0}, "ba": {"delay_ms": 10.0}}
    kind = scenario.phases[0].disruption.kind  # type: ignore[union-attr]
    assert f"| {name} | {scenario.phases[0].name} | router |" in stdout.decode()
    assert f"{kind}: pass" in stdout.decode()
    # Nothing left: no namespace of its test bed, no process of its stack, no directory.
    assert not [ns for ns in _namespaces() if ns.startswith(f"tb{run.pid}-")]
    (directory,) = set(re.findall(rb"(/\S*loadtest-network-[^/\s]+)/", stderr))
    assert not Path(directory.decode()).exists()
    assert [proc.name for proc in Path("/proc").iterdir() if directory in _cmdline(proc)] == []
