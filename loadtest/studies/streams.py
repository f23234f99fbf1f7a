"""How many slow streams one router process holds, and what each costs: the router's memory,
file descriptors and CPU, and the lag a `/healthz` poller sees, with N streamed chat answers open.

    python -m loadtest.studies.streams [--streams 10000] [--steps 1000,5000,10000]
        [--chunk-interval-s 1] [--hold-s 10] [--doc docs/benchmarks.md]

Starts, on free loopback ports: the mock cloud, one process per region (`--regions`), whose
streamed answers send their first chunk at once and then one chunk every `--chunk-interval-s` for
hours; and `edge-router serve` (its own process) on its own connection limits, which it sizes
from the open-file limit (`server.max_connections` and each endpoint's `max_concurrency` unset:
router/connection_budget.py), with a deadline longer than the run, access log and cache off, no
local model. The benchmark raises its own open-file soft limit to the
hard limit (its children inherit it; the router raises its own).

`--clients` processes (the load generator's client, `loadtest/generator/stream_holders.py`: its
aiohttp session on uvloop, one task per stream counting the `data:` lines of each chunk) then
open streams up to each step's N, in batches of `--batch` each, a batch waiting for its first
chunks before the next. With all N streaming, after `--settle-s`, it holds them for `--hold-s`
and measures the router's RSS and open descriptors (psutil) and the CPU of the router, the mock
cloud and the clients (and the clients' RSS, on stderr). For the whole run a poller times
`GET /healthz` every 10 ms on one kept-alive connection (a busy event loop shows, a full accept
queue does not), reported for each hold and each ramp. A stream is *receiving* when it got a
chunk during the hold; refusals (503) and errors (another status, a connection closed before or
during the answer, an answer that ended) are counted by kind (`held_streams` names them). Steps
add streams to those already open, so each step's RSS is that of N streams together. A
10,000-stream run takes about two minutes. The figures are written into docs/benchmarks.md
between its `bench_streams` markers with `--doc`; `--log-dir` keeps the configs and logs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson
import psutil
import yaml

from loadtest.generator.held_streams import OUTCOME_STREAMING, HeldSample
from loadtest.generator.probe import Prepared
from loadtest.generator.settings import LoadSettings
from loadtest.generator.stream_holders import StreamHolders
from loadtest.harness.doc_section import write_section
from loadtest.harness.machine import git_commit, machine_state
from loadtest.harness.processes import one_router_process
from loadtest.harness.proxy_settings import LOOPBACK, REPO_ROOT
from loadtest.studies.cache_stack import free_ports

API_KEY: Final = "sk-bench-streams"
MODEL: Final = "gpt-4o-mini"

POLL_INTERVAL_S: Final = 0.01
# The mock's longest answer: at one chunk a second, hours; no stream ends during a run.
STREAM_TOKENS: Final = 16_384
# Longer than any run, so the router never cuts a stream at its deadline (default 120 s).
DEADLINE_S: Final = 6 * 3600.0
MIB: Final = 1024 * 1024
# A `/healthz` poll slower than this counts as failed: Kubernetes' default probe timeout.
PROBE_TIMEOUT_MS: Final = 1000.0


def mock_config(
    region: str, port: int, control_port: int, chunk_interval_s: float
) -> dict[str, Any]:
    """One region of the mock cloud: no simulated latency, first chunk at once, then one chunk
    every `chunk_interval_s` for `STREAM_TOKENS` chunks."""
    return {
        "control": {"host": LOOPBACK, "port": control_port},
        "record_limit": 0,
        "regions": [
            {
                "name": region,
                "host": LOOPBACK,
                "port": port,
                "ttft_ms": 0,
                "tokens_per_s": 1.0 / chunk_interval_s,
                "completion_tokens": STREAM_TOKENS,
                "models": [MODEL],
            }
        ],
    }


def node_config(
    port: int, region_ports: Sequence[int], max_streams: int, connect_timeout_s: float | None = None
) -> dict[str, Any]:
    """The router's node config: the connection limits the router sizes itself from the machine,
    a capacity queue of `max_streams`, nothing on the side (no access log, no cache, no local
    model, no tracing), a deadline longer than the run."""
    endpoints = [
        {
            "name": f"region-{i}",
            "base_url": f"http://{LOOPBACK}:{region_port}/v1",
            "region": f"region-{i}",
            "models": [{"name": MODEL}],
        }
        for i, region_port in enumerate(region_ports)
    ]
    return {
        "server": {
            "host": LOOPBACK,
            "port": port,
            "access_log": False,
            "drain_timeout_s": 2.0,
        },
        "auth": {"api_keys": [API_KEY]},
        "cache": {"enabled": False, "semantic": False},
        "routing": {"deadline_s": DEADLINE_S, "capacity_queue": max_streams}
        | ({} if connect_timeout_s is None else {"connect_timeout_s": connect_timeout_s}),
        "endpoints": endpoints,
    }


def parse_steps(text: str | None, streams: int) -> list[int]:
    """`--steps` as increasing stream counts, none above `--streams`; by default 1,000, 5,000
    and `--streams`."""
    wanted = [int(part) for part in text.split(",")] if text else [1000, 5000, streams]
    steps = sorted({n for n in wanted if 0 < n <= streams} | {streams})
    return steps


def raise_own_fd_limit() -> int:
    """The open-file soft limit raised to the hard limit; inherited by every child started next."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile of already sorted values (0 when there are none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(share * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def kib_per_stream(rss_bytes: int, base_rss_bytes: int, streams: int, base_streams: int) -> float:
    """RSS grown per stream added, in KiB."""
    added = streams - base_streams
    return (rss_bytes - base_rss_bytes) / 1024 / added if added > 0 else 0.0


def stream_request(url: str) -> Prepared:
    """The streamed chat request every stream sends, to the router at `url`."""
    body = orjson.dumps(
        {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "Tell a story."}]}
    )
    return Prepared(f"{url}/v1/chat/completions", body)


def holder_settings(max_streams: int) -> LoadSettings:
    """The client processes' sessions: the benchmark's key, room for every stream, and a
    timeout longer than the run."""
    return LoadSettings(
        base_url="",
        api_key=API_KEY,
        max_connections=max_streams,
        request_timeout_s=DEADLINE_S,
    )


def merge_samples(samples: Sequence[HeldSample]) -> dict[str, Any]:
    """The client processes' samples added up: outcomes by kind, streams receiving."""
    outcomes: Counter[str] = Counter()
    bodies: dict[str, str] = {}
    for sample in samples:
        outcomes.update(sample.outcomes)
        bodies.update(sample.error_bodies)
    streaming = outcomes.pop(OUTCOME_STREAMING, 0)
    return {
        "streaming": streaming,
        "receiving": sum(sample.receiving for sample in samples),
        "refused": sum(n for kind, n in outcomes.items() if kind.startswith("refused")),
        "errors": {kind: n for kind, n in outcomes.items() if not kind.startswith("refused")},
        "error_bodies": bodies,
    }


def listen_overflows(netstat: str) -> int:
    """`TcpExt: ListenOverflows` of /proc/net/netstat: connections the kernel dropped because a
    listener's accept queue was full (the client retries its SYN a second or more later)."""
    rows = [line.split() for line in netstat.splitlines() if line.startswith("TcpExt:")]
    if len(rows) < 2 or "ListenOverflows" not in rows[0]:
        return 0
    return int(rows[1][rows[0].index("ListenOverflows")])


def _listen_overflows_now() -> int:
    try:
        return listen_overflows(Path("/proc/net/netstat").read_text())
    except OSError:
        return 0


def cpu_seconds(processes: Sequence[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def rss_bytes(processes: Sequence[psutil.Process]) -> int:
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total


@dataclass
class Stack:
    router: asyncio.subprocess.Process
    mocks: list[asyncio.subprocess.Process]
    url: str
    log: Path


async def _start(argv: Sequence[str], log: Path) -> asyncio.subprocess.Process:
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            *argv,
            cwd=REPO_ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )


async def _wait_ready(url: str, process: asyncio.subprocess.Process, log: Path) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if process.returncode is not None:
                raise SystemExit(f"{url} exited with {process.returncode}:\n{_tail(log)}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not answer:\n{_tail(log)}")


async def start_stack(work: Path, args: argparse.Namespace, top: int, stack: list[Any]) -> Stack:
    """The mock regions and the router, each appended to `stack` as soon as it started."""
    ports = free_ports(2 * args.regions + 1)
    router_port, region_ports = ports[0], ports[1 : 1 + args.regions]
    mocks = []
    for i, region_port in enumerate(region_ports):
        config = work / f"mock-{i}.yaml"
        control = ports[1 + args.regions + i]
        config.write_text(
            yaml.safe_dump(mock_config(f"region-{i}", region_port, control, args.chunk_interval_s))
        )
        log = work / f"mock-{i}.log"
        mock = await _start(
            [sys.executable, "-m", "loadtest.mock_cloud", "--config", str(config)], log
        )
        stack.append(mock)
        mocks.append(mock)
        await _wait_ready(f"http://{LOOPBACK}:{region_port}/v1/models", mock, log)
    config = work / "node.yaml"
    config.write_text(
        yaml.safe_dump(node_config(router_port, region_ports, top, args.connect_timeout_s))
    )
    log = work / "router.log"
    router_argv = one_router_process(config)
    router = await _start(router_argv, log)
    stack.append(router)
    url = f"http://{LOOPBACK}:{router_port}"
    await _wait_ready(f"{url}/healthz", router, log)
    return Stack(router, mocks, url, log)


class Watcher:
    """For the whole run: a `/healthz` poll every 10 ms on one keep-alive connection, opened
    before the first stream (a stuck accept queue does not count, a busy event loop does), and
    the router's open descriptors every 0.2 s. Each step reads the samples of its own window."""

    def __init__(self, url: str, router: psutil.Process) -> None:
        self._url = url
        self._router = router
        self.polls: list[tuple[float, float, bool]] = []  # (started, ms, answered 200)
        self.fds: list[tuple[float, int]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Watcher:
        self._tasks = [asyncio.create_task(self._poll()), asyncio.create_task(self._count_fds())]
        return self

    async def __aexit__(self, *_: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _poll(self) -> None:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as http:
            while True:
                started = time.monotonic()
                try:
                    async with http.get(f"{self._url}/healthz") as response:
                        await response.read()
                        ok = response.status == 200
                except aiohttp.ClientError:
                    ok = False
                self.polls.append((started, (time.monotonic() - started) * 1000.0, ok))
                await asyncio.sleep(POLL_INTERVAL_S)

    async def _count_fds(self) -> None:
        while True:
            with contextlib.suppress(psutil.Error):
                self.fds.append((time.monotonic(), self._router.num_fds()))
            await asyncio.sleep(0.2)

    def window(self, start: float, end: float) -> dict[str, Any]:
        """The polls started and the descriptor counts taken between `start` and `end`."""
        polled = sorted(ms for t, ms, _ in self.polls if start <= t < end)
        return {
            "polls": len(polled),
            "healthz_failures": sum(1 for t, _, ok in self.polls if start <= t < end and not ok),
            "healthz_p50_ms": statistics.median(polled) if polled else 0.0,
            "healthz_p99_ms": percentile(polled, 0.99),
            "healthz_max_ms": polled[-1] if polled else 0.0,
            "peak_fds": max((n for t, n in self.fds if start <= t < end), default=0),
        }


async def _hold(stack: Stack, clients: StreamHolders, hold_s: float) -> dict[str, Any]:
    """Hold the streams open for `hold_s`: CPU of each side, then streams and router memory."""
    router = psutil.Process(stack.router.pid)
    mocks = [psutil.Process(mock.pid) for mock in stack.mocks]
    workers = [psutil.Process(p.pid) for p in clients.processes if p.pid is not None]
    cpu_before = [cpu_seconds([router]), cpu_seconds(mocks), cpu_seconds(workers)]
    await clients.mark()
    started = time.monotonic()
    await asyncio.sleep(hold_s)
    seconds = time.monotonic() - started
    merged = merge_samples(await clients.sample())
    cpu_after = [cpu_seconds([router]), cpu_seconds(mocks), cpu_seconds(workers)]
    cpu = [
        100.0 * (after - before) / seconds
        for before, after in zip(cpu_before, cpu_after, strict=True)
    ]
    return merged | {
        "rss_bytes": router.memory_info().rss,
        "fds": router.num_fds(),
        "router_cpu_pct": cpu[0],
        "mock_cpu_pct": cpu[1],
        "client_cpu_pct": cpu[2],
        "client_rss_bytes": rss_bytes(workers),
    }


async def _step(
    stack: Stack, clients: StreamHolders, watcher: Watcher, opened: int, target: int, args: Any
) -> dict[str, Any]:
    """Open streams from `opened` up to `target`, let them settle, hold them; the figures."""
    overflows_before = _listen_overflows_now()
    ramp_started = time.monotonic()
    ramp_s = await clients.open(target - opened, args.batch, args.first_chunk_timeout_s)
    await asyncio.sleep(args.settle_s)
    if stack.router.returncode is not None:
        raise SystemExit(f"the router exited:\n{_tail(stack.log)}")
    hold_started = time.monotonic()
    result = await _hold(stack, clients, args.hold_s)
    during_ramp = watcher.window(ramp_started, hold_started)
    return (
        result
        | watcher.window(hold_started, time.monotonic())
        | {
            "streams": target,
            "ramp_s": ramp_s,
            "ramp_healthz_max_ms": during_ramp["healthz_max_ms"],
            "ramp_healthz_failures": during_ramp["healthz_failures"],
            "ramp_peak_fds": during_ramp["peak_fds"],
            "listen_overflows": _listen_overflows_now() - overflows_before,
        }
    )


async def run_steps(args: argparse.Namespace, steps: Sequence[int]) -> dict[str, Any]:
    fd_limit = raise_own_fd_limit()
    stack_processes: list[asyncio.subprocess.Process] = []
    clients: StreamHolders | None = None
    with tempfile.TemporaryDirectory(prefix="bench-streams-") as directory:
        work = args.log_dir or Path(directory)
        work.mkdir(parents=True, exist_ok=True)
        try:
            stack = await start_stack(work, args, steps[-1], stack_processes)
            request = stream_request(stack.url)
            clients = StreamHolders(args.clients, holder_settings(steps[-1]), request)
            router = psutil.Process(stack.router.pid)
            async with Watcher(stack.url, router) as watcher:
                await asyncio.sleep(args.settle_s)
                idle = {"rss_bytes": router.memory_info().rss, "fds": router.num_fds()}
                print(f"[bench_streams] idle router: {idle}", file=sys.stderr)
                results: list[dict[str, Any]] = []
                opened = 0
                for target in steps:
                    results.append(await _step(stack, clients, watcher, opened, target, args))
                    opened = target
                    print(f"[bench_streams] {_summary(results[-1])}", file=sys.stderr)
            log_lines = _notable_log_lines(stack.log)
            return {"idle": idle, "steps": results, "fd_limit": fd_limit, "router_log": log_lines}
        finally:
            if clients is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(clients.close(), 30.0)
            await _stop(stack_processes)
            if clients is not None:
                clients.stop()


async def _stop(processes: Sequence[asyncio.subprocess.Process]) -> None:
    for process in reversed(processes):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for process in reversed(processes):
        try:
            await asyncio.wait_for(process.wait(), 10.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _notable_log_lines(log: Path) -> list[str]:
    """The router's warnings and errors, each distinct message once with its count."""
    counts: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        if "WARNING" in line or "ERROR" in line or "Traceback" in line:
            counts[line.split(" ", 2)[-1][:200]] += 1
    return [f"{n}× {line}" for line, n in counts.most_common(8)]


def _summary(r: dict[str, Any]) -> str:
    return (
        f"{r['streams']} streams: {r['streaming']} streaming, {r['receiving']} receiving, "
        f"{r['refused']} refused, errors {r['errors']}, RSS {r['rss_bytes'] / MIB:.0f} MiB, "
        f"fds {r['fds']} (peak {r['peak_fds']}, ramp {r['ramp_peak_fds']}), "
        f"listen overflows {r['listen_overflows']}, ramp healthz max "
        f"{r['ramp_healthz_max_ms']:.0f} ms ({r['ramp_healthz_failures']} failed), "
        f"{r['polls']} polls, healthz p50/p99/max {r['healthz_p50_ms']:.1f}/"
        f"{r['healthz_p99_ms']:.1f}/{r['healthz_max_ms']:.1f} ms, CPU router "
        f"{r['router_cpu_pct']:.0f}% mock {r['mock_cpu_pct']:.0f}% clients "
        f"{r['client_cpu_pct']:.0f}% (RSS {r['client_rss_bytes'] / MIB:.0f} MiB), "
        f"ramp {r['ramp_s']:.1f} s"
    )


def held_without_errors(step: dict[str, Any]) -> bool:
    """Every stream received during the hold, none refused or failed, and every `/healthz`
    poll answered 200 within a Kubernetes probe's default timeout."""
    return (
        step["receiving"] == step["streams"]
        and step["refused"] == 0
        and not step["errors"]
        and step["healthz_failures"] == 0
        and step["healthz_max_ms"] <= PROBE_TIMEOUT_MS
    )


def table_row(r: dict[str, Any], idle: dict[str, Any], before: dict[str, Any] | None) -> str:
    """One step's row; growth since the step before only when it added 500 streams or more."""
    vs_idle = kib_per_stream(r["rss_bytes"], idle["rss_bytes"], r["streams"], 0)
    added = r["streams"] - before["streams"] if before else r["streams"]
    vs_before = "–"
    if before and added >= 500:
        growth = kib_per_stream(
            r["rss_bytes"], before["rss_bytes"], r["streams"], before["streams"]
        )
        vs_before = f"{growth:.1f}"
    return (
        f"| {r['streams']} | {r['receiving']} | {r['refused']} | {sum(r['errors'].values())} "
        f"| {r['rss_bytes'] / MIB:.0f} | {vs_idle:.1f} | {vs_before} "
        f"| {r['fds']} ({r['peak_fds']}) "
        f"| {r['polls']} ({r['healthz_failures']}) | {r['healthz_p50_ms']:.1f} / "
        f"{r['healthz_p99_ms']:.1f} / {r['healthz_max_ms']:.0f} | {r['router_cpu_pct']:.0f} / "
        f"{r['mock_cpu_pct']:.0f} / {r['client_cpu_pct']:.0f} "
        f"| {r['ramp_s']:.1f} / {r['ramp_healthz_max_ms']:.0f} / {r['listen_overflows']} |"
    )


def markdown(report: dict[str, Any], args: argparse.Namespace, steps: Sequence[int]) -> str:
    machine = machine_state()
    idle = report["idle"]
    step_text = ",".join(str(n) for n in steps)
    lines = [
        f"`python -m loadtest.studies.streams --streams {args.streams} --steps {step_text} "
        f"--chunk-interval-s {args.chunk_interval_s:g} --hold-s {args.hold_s:g} "
        f"--regions {args.regions} --clients {args.clients}` at commit {git_commit()}, "
        f"{machine['nproc']} cores ({machine['cpu_model']}), load before "
        f"{machine['load_average_before'][0]:.2f}, open-file limit {report['fd_limit']}. "
        f"Idle router: RSS {idle['rss_bytes'] / MIB:.1f} MiB, {idle['fds']} descriptors.",
        "",
        "| streams | receiving | refused | errors | router RSS MiB | KiB/stream vs idle "
        "| KiB/stream vs step before | router fds (peak) | `/healthz` polls (failed) "
        "| `/healthz` p50 / p99 / max ms | CPU % router / mock / clients "
        "| ramp: s / `/healthz` max ms / SYNs dropped |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    before = None
    for r in report["steps"]:
        lines.append(table_row(r, idle, before))
        before = r
    held = [r["streams"] for r in report["steps"] if held_without_errors(r)]
    lines += ["", f"Largest N held with no error: **{max(held) if held else 0}**."]
    for r in report["steps"]:
        for kind, n in sorted(r["errors"].items()):
            lines.append(f"- at {r['streams']}: {n} × {kind}")
        for kind, body in sorted(r["error_bodies"].items()):
            lines.append(f"- at {r['streams']}, {kind} said: `{body.strip()[:200]}`")
    lines += [f"- router log: {line}" for line in report["router_log"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=10_000, help="the largest step")
    parser.add_argument("--steps", help="stream counts to hold, comma-separated")
    parser.add_argument("--chunk-interval-s", type=float, default=1.0)
    parser.add_argument("--hold-s", type=float, default=10.0)
    parser.add_argument("--settle-s", type=float, default=3.0)
    parser.add_argument("--regions", type=int, default=2, help="mock cloud processes")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--batch", type=int, default=250, help="streams a client opens at once")
    parser.add_argument("--first-chunk-timeout-s", type=float, default=30.0)
    parser.add_argument(
        "--connect-timeout-s", type=float, help="the router's routing.connect_timeout_s (2 s)"
    )
    parser.add_argument("--doc", type=Path, help="write the table into this docs page")
    parser.add_argument("--log-dir", type=Path, help="keep configs and logs here")
    args = parser.parse_args()
    steps = parse_steps(args.steps, args.streams)
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so every process started is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    report = asyncio.run(run_steps(args, steps))
    table = markdown(report, args, steps)
    print(table)
    if args.doc is not None:
        write_section(args.doc, "bench_streams", table)


if __name__ == "__main__":
    main()
