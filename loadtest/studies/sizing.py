"""What one router process on one core gives, for sizing a PoP (docs/sizing.md): the router's CPU
per request and memory for the standard workloads, and what shared limits cost Redis.

    python -m loadtest.studies.sizing [--duration 15] [--doc docs/sizing.md] [--out results.jsonl]

Runs the suite's `sizing` scenario (loadtest/scenarios/sizing.yaml: short JSON answers at
1,000 req/s, 64-token streams at 500, JSON with 20 KB user messages at 200 and with 100 KB at 50)
against each target in turn, each started fresh on loopback: the simulated cloud itself (`direct`,
one zero-latency region), then `edge-router serve` in four set-ups, each in front of that cloud:

- `router`: deploy/bench/node.yaml (no tenant policies; the access log on);
- `router+tenant`: deploy/bench/node-policies.yaml (the load's key a tenant with every limit set,
  memory backend; its requests scanned for PII and checked against the exact cache);
- `router+tenant+redis`: the same with the limits in a `redis-server` (Debian's) on loopback;
- `2 x router+tenant+redis`: two such routers sharing that Redis, the load split between them.

The router is pinned to CPU 0; the cloud, the generator and Redis to CPU 1. Each phase records the
router's CPU (its own and its children's, as cores over the phase) and RSS (`--pid`), so its CPU
per request is measured, not inferred from latency; Redis's CPU is read from its process the same
way. `--doc` writes the table between the `sizing` markers of the page.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil
import uvloop
import yaml

from loadtest.harness.doc_section import write_section
from loadtest.harness.machine import git_commit, machine_state
from loadtest.harness.processes import Processes, wait_ready
from loadtest.harness.proxy_settings import LOOPBACK, REPO_ROOT
from loadtest.harness.runner import Target, run_scenario
from loadtest.harness.scenario import Scenario, load_scenario

ROUTER_CPU = 0
LOAD_CPU = 1
API_KEY = "sk-loadtest"


@dataclass(frozen=True, slots=True)
class SetUp:
    name: str
    config: Path | None  # None: the simulated cloud itself
    redis: bool = False
    # Router processes, each on its own port, the load split evenly between them.
    processes: int = 1


SET_UPS = (
    SetUp("direct", None),
    SetUp("router", REPO_ROOT / "deploy" / "bench" / "node.yaml"),
    SetUp("router+tenant", REPO_ROOT / "deploy" / "bench" / "node-policies.yaml"),
    SetUp("router+tenant+redis", REPO_ROOT / "deploy" / "bench" / "node-policies.yaml", True),
    # Two processes sharing one Redis, both on the router's core: whether a request costs the
    # same in either (what scaling to N processes on N cores rests on) and Redis the same per
    # request. On one core they add no capacity; this machine has no third core to give them.
    SetUp(
        "2 x router+tenant+redis",
        REPO_ROOT / "deploy" / "bench" / "node-policies.yaml",
        True,
        processes=2,
    ),
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def cloud_yaml(port: int, control_port: int) -> str:
    return (
        f"control: {{host: {LOOPBACK}, port: {control_port}}}\n"
        "regions:\n"
        f"  - {{name: sim, port: {port}, rtt_ms: 0, rtt_jitter: 0, ttft_ms: 0, tokens_per_s: 0,"
        " error_rate: 0, timeout_rate: 0}\n"
    )


def router_config(setup: SetUp, port: int, upstream_port: int, redis_url: str | None) -> str:
    assert setup.config is not None
    config: dict[str, Any] = yaml.safe_load(setup.config.read_text())
    config["server"] = {**config.get("server", {}), "host": LOOPBACK, "port": port}
    for endpoint in config["endpoints"]:
        endpoint["base_url"] = f"http://{LOOPBACK}:{upstream_port}/v1"
    if "policies" in config:
        directory = setup.config.parent / config["policies"]["directory"]
        config["policies"] = {**config["policies"], "directory": str(directory)}
    if redis_url is not None:
        config["limits"] = {"backend": "redis", "redis": {"url": redis_url}}
    return yaml.safe_dump(config)


async def _run_set_up(
    setup: SetUp, scenario: Scenario, processes: Processes, work: Path
) -> list[dict[str, Any]]:
    cloud_port, control_port = free_port(), free_port()
    (work / f"{setup.name}-cloud.yaml").write_text(cloud_yaml(cloud_port, control_port))
    cloud = processes.start(
        f"{setup.name}-cloud",
        [
            sys.executable,
            "-m",
            "loadtest.mock_cloud",
            "--config",
            str(work / f"{setup.name}-cloud.yaml"),
        ],
        LOAD_CPU,
    )
    wait_ready(processes, "cloud", cloud, f"http://{LOOPBACK}:{cloud_port}/v1/models", 30.0)
    if setup.config is None:
        target = Target(f"http://{LOOPBACK}:{cloud_port}/v1", API_KEY, name=setup.name)
        return await run_scenario(scenario, target)
    redis_url, redis_pid = None, None
    if setup.redis:
        redis_port = free_port()
        redis = processes.start(
            f"{setup.name}-redis",
            [
                _redis_server(),
                "--port",
                str(redis_port),
                "--bind",
                LOOPBACK,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            LOAD_CPU,
        )
        redis_url, redis_pid = f"redis://{LOOPBACK}:{redis_port}/0", redis.pid
        _wait_for_port(redis_port)
    targets = [
        _start_router(setup, f"{setup.name}-{number}", processes, work, cloud_port, redis_url)
        for number in range(setup.processes)
    ]
    redis_before = _cpu_seconds(redis_pid)
    records = []
    for phase in scenario.phases:
        rate = (phase.rate_per_s or 0.0) / setup.processes
        one = scenario.model_copy(
            update={"phases": (phase.model_copy(update={"rate_per_s": rate}),)}
        )
        started = time.monotonic()
        each = await asyncio.gather(*(run_scenario(one, target) for target in targets))
        record = _combined(setup.name, [record for (record,) in each])
        if redis_pid is not None:
            used = _cpu_seconds(redis_pid) - redis_before
            record["redis_cores"] = used / max(time.monotonic() - started, 1e-9)
            redis_before += used
        records.append(record)
    return records


def _start_router(
    setup: SetUp, name: str, processes: Processes, work: Path, cloud_port: int, redis: str | None
) -> Target:
    port = free_port()
    config = work / f"{name}.yaml"
    config.write_text(router_config(setup, port, cloud_port, redis))
    router = processes.start(
        name,
        [
            str(Path(sys.executable).parent / "edge-router"),
            "serve",
            "--workers",
            "1",
            "--config",
            str(config),
        ],
        ROUTER_CPU,
    )
    wait_ready(processes, name, router, f"http://{LOOPBACK}:{port}/readyz", 60.0)
    return Target(f"http://{LOOPBACK}:{port}/v1", API_KEY, name=setup.name, pid=router.pid)


def _combined(name: str, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One record for a phase run against several processes at once: the answers, errors, rate,
    CPU and memory of all of them, and the worse of their latency percentiles."""
    if len(records) == 1:
        return records[0]
    results = [record["result"] for record in records]
    latency = {
        name: max(float((r.get("latency") or {}).get(name) or 0.0) for r in results)
        for name in ("p50_ms", "p99_ms")
    }
    usage = [record.get("target_process", {}) for record in records]
    return {
        **records[0],
        "target": name,
        "result": {
            **results[0],
            "ok": sum(r["ok"] for r in results),
            "errors": sum(r["errors"] for r in results),
            "ok_rate_per_s": sum(r["ok_rate_per_s"] for r in results),
            "latency": latency,
        },
        "target_process": {
            key: sum(float(u.get(key, 0.0)) for u in usage)
            for key in ("cpu_cores", "rss_end_mib", "rss_max_mib")
        },
    }


def _redis_server() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise SystemExit("redis-server is not installed (make system-deps installs Debian's)")
    return found


def _wait_for_port(port: int) -> None:
    for _ in range(100):
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {LOOPBACK}:{port}")


def _cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _stop(processes: Processes) -> None:
    processes.stop_all()
    processes.started.clear()


async def measure(scenario: Scenario, work: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for setup in SET_UPS:
        processes = Processes(work)
        try:
            records.extend(await _run_set_up(setup, scenario, processes, work))
        finally:
            _stop(processes)
    return records


def _metric(record: dict[str, Any], series: str, name: str) -> float | None:
    value = (record["result"].get(series) or {}).get(name)
    return None if value is None else float(value)


def table(records: Sequence[dict[str, Any]]) -> str:
    direct = {r["phase"]: r for r in records if r["target"] == "direct"}
    lines = [
        "| set-up | workload | rate/s | ok | errors | added p50 / p99 ms | router CPU µs/request "
        "| cores used | RSS end / peak MiB | Redis µs/request | req/s per core at 80% CPU |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for record in records:
        if record["target"] == "direct":
            continue
        result, phase = record["result"], record["phase"]
        usage = record.get("target_process", {})
        rate = float(result["ok_rate_per_s"] or 0.0)
        cores = float(usage.get("cpu_cores", 0.0))
        per_request_us = cores / rate * 1e6 if rate else float("nan")
        base = direct.get(phase)
        added = "–"
        if base is not None:
            p50 = _metric(record, "latency", "p50_ms")
            p99 = _metric(record, "latency", "p99_ms")
            b50 = _metric(base, "latency", "p50_ms")
            b99 = _metric(base, "latency", "p99_ms")
            if None not in (p50, p99, b50, b99):
                added = f"{p50 - b50:.2f} / {p99 - b99:.2f}"  # type: ignore[operator]
        redis = record.get("redis_cores")
        redis_us = f"{redis / rate * 1e6:.0f}" if redis is not None and rate else "–"
        capacity = 0.8e6 / per_request_us if per_request_us == per_request_us else 0.0
        lines.append(
            f"| {record['target']} | {phase} | {rate:.0f} | {result['ok']} "
            f"| {result['errors']} | {added} | {per_request_us:.0f} | {cores:.2f} "
            f"| {usage.get('rss_end_mib', 0):.0f} / {usage.get('rss_max_mib', 0):.0f} "
            f"| {redis_us} | {capacity:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=None, help="seconds per phase")
    parser.add_argument("--smoke", action="store_true", help="the scenario's smoke form")
    parser.add_argument("--doc", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("the sizing study pins the router and the load to two cores")
    scenario = load_scenario("sizing")
    if args.smoke:
        scenario = scenario.smoke_form()
    if args.duration is not None:
        scenario = scenario.with_phase_duration(args.duration)
    work = Path(tempfile.mkdtemp(prefix="sizing_"))
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    records = uvloop.run(measure(scenario, work))
    text = (
        f"`python -m loadtest.studies.sizing` at commit {git_commit()}, {started} UTC, "
        f"load average before {machine_state()['load_average_before'][0]:.2f}.\n\n{table(records)}"
    )
    if args.out is not None:
        args.out.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    if args.doc is not None:
        write_section(args.doc, "sizing", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
