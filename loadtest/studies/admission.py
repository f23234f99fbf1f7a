"""What admission costs per request: the admission stage and its settlement, in-process.

    python -m loadtest.studies.admission [--requests 20000] [--redis]

Runs the real `AdmissionStage` over a parsed chat request on uvloop, for a tenant without limits
(usage is still recorded), a tenant with every limit set on the memory backend, and, with
`--redis`, the same tenant on the Redis backend against a redis-server started on a free loopback
port (Debian's `redis-server`, which `make test` installs). Each configuration runs `--repeat`
times; the report gives the median and the spread of microseconds per admitted and settled request.
End-to-end figures are in docs/benchmarks.md (`make bench BENCH_CONFIG=...`); this isolates the
stage, whose cost is smaller than the run-to-run noise of a whole-proxy benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvloop
from opentelemetry.trace import INVALID_SPAN

from router.clock import MonotonicClock
from router.config.loader import load_node_config
from router.context import RequestContext
from router.endpoints.registry import Registry
from router.limits.backend import LimitsBackend
from router.limits.fallback import FallbackLimits
from router.limits.memory import MemoryLimits
from router.limits.redis_backend import RedisLimits
from router.policy.loader import load_policy_dir
from router.policy.model import TenantPolicy
from router.stages.admission import AdmissionStage
from router.telemetry.metrics import Metrics
from router.wire.requests import Operation, parse_request

ROOT = Path(__file__).resolve().parents[2]
BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}],"max_tokens":16}'


async def _run(shared: LimitsBackend | None, policy: TenantPolicy | None, requests: int) -> float:
    """Microseconds per request through admission and settlement."""
    loaded = load_node_config(ROOT / "deploy" / "bench" / "node-policies.yaml", {})
    clock = MonotonicClock()
    metrics = Metrics()
    limits = FallbackLimits(shared, MemoryLimits(), clock, metrics, retry_interval_s=2.0)
    stage = AdmissionStage(
        limits, Registry(loaded.config, clock), loaded.config.routing, clock, metrics
    )
    parsed = parse_request(Operation.CHAT, BODY)
    started, started_cpu = time.perf_counter(), time.process_time()
    for number in range(requests):
        now = clock.now()
        ctx = RequestContext(
            request=None,  # admission never reads the HTTP request
            parsed=parsed,
            span=INVALID_SPAN,
            started_s=now,
            deadline_s=now + 120.0,
            tenant="loadtest",
            policy=policy,
        )
        await stage(ctx)
        stage.record(ctx)
        if number % 64 == 0:
            await asyncio.sleep(0)  # let background settlements run, as a server's loop would
    await stage.drain()
    elapsed_s = time.perf_counter() - started
    cpu_s = time.process_time() - started_cpu
    metrics.shutdown()
    return elapsed_s / requests * 1e6, cpu_s / requests * 1e6


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (make system-deps)")
    port = _free_port()
    with tempfile.TemporaryDirectory() as directory:
        process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", directory],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait()


async def _measure(
    args: argparse.Namespace,
) -> list[tuple[str, list[tuple[float, float]]]]:
    policy = load_policy_dir(ROOT / "deploy" / "bench" / "policies").policies["loadtest"]
    results: list[tuple[str, list[tuple[float, float]]]] = []
    configurations: list[tuple[str, TenantPolicy | None, bool]] = [
        ("no limits (usage recorded), memory", None, False),
        ("every limit, memory", policy, False),
    ]
    if args.redis:
        configurations.append(("every limit, redis (loopback)", policy, True))
    with _redis_if(args.redis) as redis_url:
        for name, tenant_policy, on_redis in configurations:
            runs = []
            for _ in range(args.repeat):
                shared = None
                if on_redis:
                    shared = RedisLimits(redis_url, key_prefix=f"bench{len(runs)}", timeout_s=1.0)
                runs.append(await _run(shared, tenant_policy, args.requests))
                if shared is not None:
                    await shared.close()
            results.append((name, runs))
    return results


@contextmanager
def _redis_if(wanted: bool) -> Iterator[str]:
    if not wanted:
        yield ""
        return
    with _redis_server() as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--redis", action="store_true", help="also measure the Redis backend")
    args = parser.parse_args()
    results = uvloop.run(_measure(args))
    print("| configuration | wall µs/request (median) | min | max | CPU µs/request (median) |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in results:
        wall = [w for w, _ in runs]
        cpu = statistics.median(c for _, c in runs)
        print(
            f"| {name} | {statistics.median(wall):.1f} | {min(wall):.1f} | {max(wall):.1f} "
            f"| {cpu:.1f} |"
        )


if __name__ == "__main__":
    main()
