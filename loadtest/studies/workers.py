"""What a second worker process buys (`edge-router serve --workers N`, docs/deploy.md).

    python -m loadtest.studies.workers [--duration 15] [--config node.yaml] [--doc docs/deploy.md]
                                       [--out results.jsonl]

Runs the suite's `workers` scenario (loadtest/scenarios/workers.yaml: short JSON answers at 300 and
600 req/s open loop, then 64 clients in a closed loop) against the simulated cloud itself
(`direct`, one zero-latency region) and then against `edge-router serve --workers 1` and
`--workers 2`, each started fresh in front of that cloud on deploy/bench/node-policies.yaml (a
tenant with every limit set, the memory backend: so the two workers share their limits and cache
through the node-local redis-server, whose CPU is counted with the router's; `--config` another,
e.g. deploy/bench/node.yaml, a node key with no limits). Nothing is pinned:
the router's processes, the cloud and the generator share this machine's cores, as they would
share a node. Each phase records the CPU of the router's whole process tree (`--pid`: the
supervisor, its workers and its redis-server) and, from the node's `/metrics`, how the requests
spread over the workers. `--doc` writes the table between the `workers` markers of the page.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop

from loadtest.harness.doc_section import write_section
from loadtest.harness.machine import git_commit, machine_state
from loadtest.harness.processes import Processes, wait_ready
from loadtest.harness.proxy_settings import LOOPBACK, REPO_ROOT
from loadtest.harness.runner import Target, run_scenario
from loadtest.harness.scenario import Scenario, load_scenario
from loadtest.studies.sizing import API_KEY, SetUp, cloud_yaml, free_port, router_config

CONFIG = REPO_ROOT / "deploy" / "bench" / "node-policies.yaml"
WORKER_COUNTS = (1, 2)
_WORKER_REQUESTS = re.compile(r'^router_requests_total\{.*worker="(\d+)".*\} (\S+)$', re.M)


async def requests_by_worker(url: str) -> dict[str, float]:
    """Requests each worker has answered so far, from the node's `/metrics`."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
        text = await response.text()
    counts: dict[str, float] = {}
    for worker, value in _WORKER_REQUESTS.findall(text):
        counts[worker] = counts.get(worker, 0.0) + float(value)
    return counts


def spread(before: dict[str, float], after: dict[str, float]) -> list[float]:
    """Each worker's share of the requests between two readings, largest first."""
    answered = {w: after[w] - before.get(w, 0.0) for w in after}
    total = sum(answered.values())
    return sorted((n / total for n in answered.values()), reverse=True) if total else []


async def _run_target(
    scenario: Scenario,
    processes: Processes,
    work: Path,
    cloud_port: int,
    workers: int | None,
    node_config: Path,
) -> list[dict[str, Any]]:
    if workers is None:
        target = Target(f"http://{LOOPBACK}:{cloud_port}/v1", API_KEY, name="direct")
        return await run_scenario(scenario, target)
    name = f"workers-{workers}"
    port = free_port()
    config = work / f"{name}.yaml"
    config.write_text(router_config(SetUp(name, node_config), port, cloud_port, None))
    router_bin = str(Path(sys.executable).parent / "edge-router")
    argv = [router_bin, "serve", "--workers", str(workers), "--config", str(config)]
    router = processes.start(name, argv, None)
    url = f"http://{LOOPBACK}:{port}"
    wait_ready(processes, name, router, f"{url}/readyz", 60.0)
    await _until_workers_answer(url, workers)
    target = Target(f"{url}/v1", API_KEY, name=name, pid=router.pid)
    records = []
    for phase in scenario.phases:
        one = scenario.model_copy(update={"phases": (phase,)})
        before = await requests_by_worker(url)
        (record,) = await run_scenario(one, target)
        record["worker_shares"] = spread(before, await requests_by_worker(url))
        records.append(record)
    return records


async def _until_workers_answer(url: str, workers: int) -> None:
    """A pool is ready when every worker answers its share of `/metrics`; one process at once."""
    if workers == 1:
        return
    for _ in range(600):
        async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
            if f'router_pool_workers{{state="answered"}} {workers}.0' in await response.text():
                return
        await asyncio.sleep(0.05)
    raise SystemExit(f"the {workers} workers at {url} never all answered")


async def measure(scenario: Scenario, work: Path, node_config: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for workers in (None, *WORKER_COUNTS):
        processes = Processes(work)
        try:
            cloud_port, control_port = free_port(), free_port()
            cloud_config = work / f"cloud-{workers}.yaml"
            cloud_config.write_text(cloud_yaml(cloud_port, control_port))
            argv = [sys.executable, "-m", "loadtest.mock_cloud", "--config", str(cloud_config)]
            cloud = processes.start(f"cloud-{workers}", argv, None)
            models = f"http://{LOOPBACK}:{cloud_port}/v1/models"
            wait_ready(processes, "cloud", cloud, models, 30.0)
            records.extend(
                await _run_target(scenario, processes, work, cloud_port, workers, node_config)
            )
        finally:
            processes.stop_all()
    return records


def table(records: Sequence[dict[str, Any]]) -> str:
    direct = {r["phase"]: r["result"] for r in records if r["target"] == "direct"}
    lines = [
        "| target | phase | answered/s | errors | p50 / p99 ms | added p50 / p99 ms "
        "| router CPU µs/request | cores used | share of the busiest worker |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for record in records:
        result, phase = record["result"], record["phase"]
        latency = result.get("latency") or {}
        p50, p99 = float(latency.get("p50_ms") or 0.0), float(latency.get("p99_ms") or 0.0)
        rate = float(result["ok_rate_per_s"] or 0.0)
        added, cpu, cores, share = "–", "–", "–", "–"
        base = direct.get(phase)
        if record["target"] != "direct":
            if base is not None and phase != "closed-64":
                b_latency = base.get("latency") or {}
                b50, b99 = float(b_latency.get("p50_ms") or 0), float(b_latency.get("p99_ms") or 0)
                added = f"{p50 - b50:.2f} / {p99 - b99:.2f}"
            used = float(record.get("target_process", {}).get("cpu_cores", 0.0))
            cores = f"{used:.2f}"
            cpu = f"{used / rate * 1e6:.0f}" if rate else "–"
            shares = record.get("worker_shares") or []
            share = f"{shares[0]:.0%}" if shares else "–"
        lines.append(
            f"| {record['target']} | {phase} | {rate:,.0f} | {result['errors']} "
            f"| {p50:.2f} / {p99:.2f} | {added} | {cpu} | {cores} | {share} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=None, help="seconds per phase")
    parser.add_argument("--smoke", action="store_true", help="the scenario's smoke form")
    parser.add_argument("--config", type=Path, default=CONFIG, help="the router's node config")
    parser.add_argument("--doc", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    scenario = load_scenario("workers")
    if args.smoke:
        scenario = scenario.smoke_form()
    if args.duration is not None:
        scenario = scenario.with_phase_duration(args.duration)
    work = Path(tempfile.mkdtemp(prefix="workers_"))
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    load = machine_state()["load_average_before"][0]
    records = uvloop.run(measure(scenario, work, args.config))
    config = (
        args.config.resolve().relative_to(REPO_ROOT) if args.config.is_absolute() else args.config
    )
    text = (
        f"`python -m loadtest.studies.workers --config {config}` at commit {git_commit()}, "
        f"{started} UTC, load average before {load:.2f}.\n\n{table(records)}"
    )
    if args.out is not None:
        args.out.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    if args.doc is not None:
        write_section(args.doc, f"workers {config.stem}", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
