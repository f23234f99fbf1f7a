"""What one tenant's worst-case bodies do to everyone else: the lag a `/healthz` poller sees while
clients flood the router with bodies written to make the PII scan slow.

    python -m loadtest.studies.loop_lag [--seconds 10] [--senders 4] [--body-kb 1024]

Starts `edge-router serve` (its own process, on its production defaults) with one node key and an
endpoint nobody listens on (each flooding request is scanned, then fails over to nothing: the scan
is what is measured, not an upstream). Then, for `--seconds` each, three phases:
1. **idle**: only the poller, a `GET /healthz` every 10 ms, each timed;
2. **prose flood**: `--senders` clients each sending chat requests whose message is
   `--body-kb` of English prose with PII (an e-mail and a card number every 200 characters);
3. **worst-case flood**: the same with card-like digit groups (`4111 1111 1111 1111 ...`), the
   input that once took 9.4 s for 8 KB.
For each phase: the poller's p50, p99 and max latency, and the router's own
`router_event_loop_lag_milliseconds` count over 50 ms. The figures are written into
docs/benchmarks.md between its `bench_loop_lag` markers with `--doc`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

from loadtest.harness.doc_section import write_section
from loadtest.harness.machine import git_commit, machine_state
from loadtest.harness.processes import one_router_process
from loadtest.studies.cache_stack import free_ports

API_KEY = "sk-bench"
POLL_INTERVAL_S = 0.01
PROSE = "Please write to ana.silva@example.com about card 4111 1111 1111 1111 before noon today. "
WORST = "4111 1111 1111 1111 "


def _config(port: int, dead_port: int) -> str:
    return (
        f"server: {{host: 127.0.0.1, port: {port}, access_log: false}}\n"
        f"auth: {{api_keys: [{API_KEY}]}}\n"
        "cache: {semantic: false}\n"
        "endpoints:\n"
        f"  - {{name: nowhere, base_url: 'http://127.0.0.1:{dead_port}/v1', region: r,"
        " models: [{name: gpt-4o-mini}]}\n"
    )


def _body(unit: str, kb: int) -> bytes:
    text = (unit * (kb * 1024 // len(unit) + 1))[: kb * 1024]
    message = {"role": "user", "content": text}
    return orjson.dumps({"model": "gpt-4o-mini", "messages": [message]})


async def _poll(http: aiohttp.ClientSession, url: str, until: float) -> list[float]:
    times_ms: list[float] = []
    while time.monotonic() < until:
        started = time.perf_counter()
        async with http.get(f"{url}/healthz") as response:
            await response.read()
        times_ms.append((time.perf_counter() - started) * 1000.0)
        await asyncio.sleep(POLL_INTERVAL_S)
    return times_ms


async def _flood(http: aiohttp.ClientSession, url: str, body: bytes, until: float) -> int:
    sent = 0
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    while time.monotonic() < until:
        async with http.post(f"{url}/v1/chat/completions", data=body, headers=headers) as r:
            await r.read()
        sent += 1
    return sent


async def _late_samples(http: aiohttp.ClientSession, url: str) -> float:
    async with http.get(f"{url}/metrics") as response:
        text = await response.text()
    buckets = dict(
        re.findall(r'router_event_loop_lag_milliseconds_bucket\{le="([^"]+)"\} (\S+)', text)
    )
    return float(buckets.get("+Inf", 0)) - float(buckets.get("50.0", 0))


async def _phase(url: str, body: bytes | None, senders: int, seconds: float) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        late_before = await _late_samples(http, url)
        until = time.monotonic() + seconds
        floods = [_flood(http, url, body, until) for _ in range(senders if body else 0)]
        polled, *sent = await asyncio.gather(_poll(http, url, until), *floods)
        late = await _late_samples(http, url) - late_before
    polled.sort()
    return {
        "p50_ms": statistics.median(polled),
        "p99_ms": polled[int(len(polled) * 0.99) - 1],
        "max_ms": polled[-1],
        "polls": len(polled),
        "requests": sum(sent),
        "lag_over_50ms": late,
    }


async def _wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit("the router did not start")


async def _run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    port, nobody_listens = free_ports(2)
    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory) / "node.yaml"
        config.write_text(_config(port, nobody_listens))
        command = one_router_process(config)
        router = await asyncio.create_subprocess_exec(*command, stderr=asyncio.subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            await _wait_ready(url)
            phases = {
                "idle": None,
                "prose flood": _body(PROSE, args.body_kb),
                "worst-case flood": _body(WORST, args.body_kb),
            }
            return {
                name: await _phase(url, body, args.senders, args.seconds)
                for name, body in phases.items()
            }
        finally:
            router.terminate()
            await router.wait()


def _markdown(results: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    machine = machine_state()
    lines = [
        f"`python -m loadtest.studies.loop_lag --seconds {args.seconds:g} --senders {args.senders} "
        f"--body-kb {args.body_kb}` at commit {git_commit()}, {machine['nproc']} cores "
        f"({machine['cpu_model']}), load before {machine['load_average_before'][0]:.2f}.",
        "",
        "| phase | requests | `/healthz` p50 ms | p99 ms | max ms | loop-lag samples > 50 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['requests']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['max_ms']:.1f} | {r['lag_over_50ms']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--body-kb", type=int, default=1024)
    parser.add_argument("--doc", type=Path, help="write the table into this docs page")
    args = parser.parse_args()
    results = asyncio.run(_run(args))
    table = _markdown(results, args)
    print(table)
    if args.doc is not None:
        write_section(args.doc, "bench_loop_lag", table)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
