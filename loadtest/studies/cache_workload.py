"""Benchmark: the router's throughput and added latency with the semantic tier on, under a mixed
workload at fixed arrival rates, and the rate at which the embedder saturates (issue 15, item 6).

    .venv/bin/python -m loadtest.studies.cache_workload [--rates 200,500,1000] [--duration S] \\
        [--store DIR] [--out results.json] [--docs]

Needs the embedder in the model store (`--store`, else EDGE_WORKER_STORE, else the default that
`make models` prepares). The stack is `loadtest/studies/cache_stack.py`'s (the mock cloud at zero
simulated latency, `edge-router serve` with the node cache and its semantic tier on), with its
configs adjusted before the router starts: 16-token answers, an admin token for the purge, room for
every entry of a run (no eviction), and two tenants, `semantic-on` (`cache: {enabled: true,
semantic: true}`) and `semantic-off` (`cache: {enabled: true, semantic: false}`). The router is
pinned to CPU 0, this generator and the mock cloud to CPU 1 (`--no-pin`: all free on both cores).
At each rate, each tenant gets the same seeded workload (`loadtest/studies/cache_workload_mix.py`:
30% repeats, 20% rewordings, 50% new questions; non-streamed chat at temperature 0), semantic-off
first, each run in a fresh cache (`DELETE /admin/cache?tenant=`), after the router is idle and the
machine quiet. Sending is loadgen's open loop (its schedule, timerfd sleeper, send loop and drain,
`loadtest/generator/run.py`): latency from each request's scheduled send time. Per request the
status, `x-router-cache` and `x-router-cache-lookup` ("none" when absent) are recorded.

A rate *saturates* the semantic-on tenant when more than 1% of its lookups say `busy` or `late`
(the embedder past capacity: answered miss without searching), or the router stops keeping up: it
answers under 95% of the offered rate, fails more than 0.1% of requests, or its p99 exceeds
`--p99-budget-ms`. When no given rate saturates, the rate steps up by `--step-rate` to
`--max-rate`; when one does, the rates between the highest that kept up and the lowest that
did not are bisected to `--resolution`; at most `--search-trials` extra runs, semantic-on only.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import secrets
import shlex
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson
import uvloop
import yaml

from loadtest.generator import _raise_open_file_limit
from loadtest.generator.requests import OUTCOME_OK
from loadtest.generator.run import _Run, open_session
from loadtest.generator.schedule import request_count
from loadtest.generator.settings import LoadSettings
from loadtest.generator.stats import LatencySummary
from loadtest.generator.summary import summarise as summarise_run
from loadtest.generator.timer import Sleeper, open_sleeper
from loadtest.harness.cpu import CpuAccount
from loadtest.harness.doc_section import write_section
from loadtest.harness.machine import git_commit, machine_state
from loadtest.harness.models import EMBEDDER_MODEL, require_models
from loadtest.harness.processes import Processes, run_interruptibly, wait_ready
from loadtest.harness.proxy_settings import LOOPBACK, REPO_ROOT
from loadtest.studies.cache_hits import cpu_seconds, wait_for_quiet
from loadtest.studies.cache_stack import (
    API_KEY,
    MODEL,
    TENANT,
    add_semantic_embedder,
    free_ports,
    positive_ints,
    write_configs,
)
from loadtest.studies.cache_workload_mix import Mix, Question, load_sources, max_requests, workload
from loadtest.studies.cache_workload_report import (
    BUSY_SHARE_LIMIT,
    ERROR_SHARE_LIMIT,
    SEMANTIC_ON,
    THROUGHPUT_FLOOR,
    comparisons,
    markdown,
)
from loadtest.studies.datasets import GPTCACHE_PARAPHRASES, PAWS_WIKI_TEST

# (tenant, its API key, its policy's cache section); semantic-off runs first at each rate.
TENANTS: Final = (
    ("semantic-off", "sk-cache-workload-off", {"enabled": True, "semantic": False}),
    ("semantic-on", API_KEY, {"enabled": True, "semantic": True}),
)
ADMIN_TOKEN_ENV: Final = "BENCH_CACHE_WORKLOAD_ADMIN_TOKEN"
LOOKUP_HEADER: Final = "x-router-cache-lookup"
ANSWER_TOKENS: Final = 16
DOC: Final = REPO_ROOT / "docs" / "benchmarks.md"
DOC_SECTION: Final = "bench_cache_workload"


@dataclass(frozen=True, slots=True)
class Settings:
    rates: tuple[int, ...]
    duration_s: float
    warmup_s: float
    seed: int
    store: Path | None
    pin: bool
    router_cpu: int
    load_cpu: int
    p99_budget_ms: float
    step_rate: int
    max_rate: int
    resolution: int
    search_trials: int
    timeout_s: float
    drain_timeout_s: float
    connections: int
    max_other_load: float
    quiet_wait_s: float
    idle_wait_s: float
    out: Path | None
    docs: bool
    keep_logs: bool
    semantic_embedder: str


class WorkloadRun(_Run):
    """loadgen's open-loop run (schedule, sleeper, send loop, drain), each request with its own
    body, recording its verdict, its lookup and when it was scheduled and answered."""

    def __init__(
        self,
        settings: LoadSettings,
        session: aiohttp.ClientSession,
        sleeper: Sleeper,
        bodies: Sequence[bytes],
    ) -> None:
        super().__init__(settings, session, sleeper)
        total = self.plan.total_requests
        if len(bodies) != total:
            raise ValueError(f"{len(bodies)} bodies for {total} scheduled requests")
        self.bodies = bodies
        self.verdict = [""] * total
        self.lookup = [""] * total
        self.scheduled_s = [math.nan] * total
        self.done_s = [math.nan] * total

    async def _chat_json(self, index: int, scheduled: float) -> None:
        self.scheduled_s[index] = scheduled
        self.send_lag_s[index] = time.monotonic() - scheduled
        try:
            async with self.session.post(self.url, data=self.bodies[index]) as response:
                await response.read()
                status, headers = response.status, response.headers
        except Exception as exc:  # any failure is a counted error, labelled by its type
            self.outcome[index] = type(exc).__name__
            return
        self.done_s[index] = time.monotonic()
        self.verdict[index] = headers.get("x-router-cache", "(none)")
        self.lookup[index] = headers.get(LOOKUP_HEADER, "none")
        if status == 200:
            self.latency_s[index] = self.done_s[index] - scheduled
            self.outcome[index] = OUTCOME_OK
        else:
            self.outcome[index] = f"http_{status}"


def chat_body(text: str) -> bytes:
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}], "temperature": 0}
    return orjson.dumps(body)


def adjust_configs(work: Path, admin_token_env: str, semantic_embedder: str) -> None:
    """bench_cache_stack's configs, made this benchmark's: short answers, an admin token, room
    for every entry of a run (eviction would turn repeats into misses), a region that takes
    PII, and the two tenants."""
    mock = yaml.safe_load((work / "mock_cloud.yaml").read_text())
    mock["regions"][0]["completion_tokens"] = ANSWER_TOKENS
    (work / "mock_cloud.yaml").write_text(yaml.safe_dump(mock, sort_keys=False))
    node = yaml.safe_load((work / "node.yaml").read_text())
    node["admin"] = {"token_env": admin_token_env}
    # A few PAWS-Wiki sentences hold a number the card detector takes for one; a tenant's PII
    # goes only to endpoints tagged for it (docs/privacy.md), so the region takes it, as the
    # fuzz stack's do.
    node["endpoints"][0]["tags"] = ["pii"]
    node["cache"] |= {"max_entries": 100_000, "max_bytes": 512 * 1024 * 1024}
    (work / "node.yaml").write_text(yaml.safe_dump(node, sort_keys=False))
    template = yaml.safe_load((work / "policies" / f"{TENANT}.yaml").read_text())
    (work / "policies" / f"{TENANT}.yaml").unlink()
    for tenant, key, cache in TENANTS:
        hashed = f"sha256:{hashlib.sha256(key.encode()).hexdigest()}"
        section: dict[str, Any] = dict(cache)
        if tenant == SEMANTIC_ON and semantic_embedder == "static":
            # With the threshold docs/cache.md chose for it on the tune part.
            section |= {"semantic_embedder": "static", "similarity_threshold": 0.85}
        policy = template | {"tenant": tenant, "api_keys": [hashed], "cache": section}
        (work / "policies" / f"{tenant}.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))


def start_workload_stack(processes: Processes, settings: Settings) -> tuple[int, str]:
    """The mock cloud and the router, as bench_cache_stack.start_stack starts them, with the
    configs adjusted in between; (the router's port, the admin token)."""
    router_cpu, load_cpu = (settings.router_cpu, settings.load_cpu) if settings.pin else (None,) * 2
    work = processes.log_dir
    mock_port, control_port, router_port = free_ports(3)
    write_configs(work, (mock_port, control_port, router_port), settings.store)
    adjust_configs(work, ADMIN_TOKEN_ENV, settings.semantic_embedder)
    admin_token = secrets.token_hex(16)
    os.environ[ADMIN_TOKEN_ENV] = admin_token  # the router inherits this process's environment
    python = sys.executable
    mock_argv = [python, "-m", "loadtest.mock_cloud", "--config", str(work / "mock_cloud.yaml")]
    mock = processes.start("mock_cloud", mock_argv, load_cpu)
    wait_ready(processes, "mock_cloud", mock, f"http://{LOOPBACK}:{mock_port}/v1/models", 30.0)
    router_argv = [str(Path(python).parent / "edge-router"), "serve", "--workers", "1", "--config"]
    router = processes.start("router", [*router_argv, str(work / "node.yaml")], router_cpu)
    wait_ready(processes, "router", router, f"http://{LOOPBACK}:{router_port}/v1/models", 120.0)
    return router_port, admin_token


class Bench:
    """One benchmark session against a started stack: runs, each in a fresh cache."""

    def __init__(
        self, settings: Settings, port: int, admin_token: str, account: CpuAccount
    ) -> None:
        self.settings = settings
        self.port = port
        self.admin_token = admin_token
        self.account = account
        self.sources = load_sources(GPTCACHE_PARAPHRASES, PAWS_WIKI_TEST)
        self.max_requests = max_requests(self.sources, Mix())

    async def run(self, tenant: str, rate: int) -> dict[str, Any]:
        settings = self.settings
        key = next(key for name, key, _ in TENANTS if name == tenant)
        # The sources hold so many new questions: a fast rate gets a shorter measured window.
        duration_s = min(settings.duration_s, self.max_requests / rate - settings.warmup_s)
        load = LoadSettings(
            base_url=f"http://{LOOPBACK}:{self.port}/v1",
            rate_per_s=rate,
            duration_s=duration_s,
            warmup_s=settings.warmup_s,
            model=MODEL,
            api_key=key,
            request_timeout_s=settings.timeout_s,
            drain_timeout_s=settings.drain_timeout_s,
            max_connections=settings.connections,
        )
        questions = workload(
            self.sources, request_count(rate, settings.warmup_s + duration_s), settings.seed
        )
        bodies = [chat_body(question.text) for question in questions]
        idle_s = await self.wait_for_idle_router()
        purged = await self.purge(tenant)
        foreign_before = await wait_for_quiet(settings, self.account)  # type: ignore[arg-type]
        snapshot_before = self.account.snapshot()
        router_before, foreign_cpu_before = cpu_seconds(self.account, settings.pin)
        started = time.monotonic()
        run = await run_workload(load, bodies)
        wall_s = time.monotonic() - started
        router_after, foreign_cpu_after = cpu_seconds(self.account, settings.pin)
        foreign_by_cpu, _ = CpuAccount.cores_between(
            snapshot_before, self.account.snapshot(), wall_s
        )
        row = summarise(run, questions, tenant, rate)
        row |= {
            "duration_s": duration_s,
            "purged_before": purged,
            "waited_for_idle_router_s": round(idle_s, 1),
            "router_cpu_us_per_request": (router_after - router_before) / len(bodies) * 1e6,
            "router_cores": (router_after - router_before) / wall_s,
            "foreign_cores": max(0.0, foreign_cpu_after - foreign_cpu_before) / wall_s,
            # Pinned, work not ours on the router's core takes its time from the router.
            "foreign_cores_router_cpu": (
                foreign_by_cpu[f"cpu{settings.router_cpu}"] if settings.pin else None
            ),
            "foreign_cores_before": foreign_before,
        }
        row["saturated_because"] = saturation_reasons(row, settings.p99_budget_ms)
        print(f"[bench] {tenant} at {rate}/s: {brief(row)}", file=sys.stderr)
        return row

    async def purge(self, tenant: str) -> int:
        url = f"http://{LOOPBACK}:{self.port}/admin/cache"
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.delete(url, params={"tenant": tenant}, headers=headers) as response,
        ):
            body = await response.json()
            if response.status != 200:
                raise RuntimeError(f"purge of {tenant} answered {response.status}: {body}")
            return int(body["purged"])

    async def wait_for_idle_router(self) -> float:
        """Wait until the router uses under 0.05 cores (a saturated run leaves a backlog it
        works through after the client gave up), at most `idle_wait_s`; the time waited."""
        started = time.monotonic()
        while time.monotonic() - started < self.settings.idle_wait_s:
            before, _ = cpu_seconds(self.account, self.settings.pin)
            await asyncio.sleep(0.5)
            after, _ = cpu_seconds(self.account, self.settings.pin)
            if (after - before) / 0.5 < 0.05:
                break
        return time.monotonic() - started


async def run_workload(settings: LoadSettings, bodies: Sequence[bytes]) -> WorkloadRun:
    sleeper = open_sleeper()
    try:
        async with open_session(settings) as session:
            run = WorkloadRun(settings, session, sleeper, bodies)
            await run.send_all()
            await run.drain()
            return run
    finally:
        sleeper.close()


def summarise(
    run: WorkloadRun, questions: Sequence[Question], tenant: str, rate: int
) -> dict[str, Any]:
    """One run's figures over its measured window (after the warm-up)."""
    result = summarise_run(run)
    measured = range(run.plan.warmup_requests, run.plan.total_requests)
    ok = [i for i in measured if run.outcome[i] == OUTCOME_OK]
    by_verdict: dict[str, list[float]] = {}
    by_lookup: dict[str, list[float]] = {}
    for i in ok:
        by_verdict.setdefault(run.verdict[i], []).append(run.latency_s[i])
        by_lookup.setdefault(f"{run.verdict[i]}, {run.lookup[i]}", []).append(run.latency_s[i])
    window_s = max((run.done_s[i] for i in ok), default=math.nan) - run.scheduled_s[measured[0]]
    kinds = Counter(f"{questions[i].kind} → {run.verdict[i]}" for i in ok)
    return {
        "tenant": tenant,
        "rate_per_s": rate,
        "requests": len(measured),
        "ok": len(ok),
        "errors": result.errors,
        "errors_by_kind": result.errors_by_kind,
        "throughput_per_s": len(ok) / window_s if ok else 0.0,
        "sent_rate_per_s": result.sent_rate_per_s,
        "send_lag": _summary(result.send_lag),
        "latency": _summary(result.latency),
        "latency_by_verdict": {
            verdict: _summary(LatencySummary.of_seconds(values))
            for verdict, values in sorted(by_verdict.items())
        },
        "latency_by_verdict_and_lookup": {
            key: _summary(LatencySummary.of_seconds(values))
            for key, values in sorted(by_lookup.items())
        },
        "verdicts": dict(sorted(Counter(run.verdict[i] for i in ok).items())),
        "lookups": dict(sorted(Counter(run.lookup[i] for i in ok).items())),
        "kind_verdicts": {k: kinds[k] for k in sorted(kinds)},
    }


def _summary(summary: LatencySummary | None) -> dict[str, float] | None:
    return None if summary is None else asdict(summary)


def saturation_reasons(row: dict[str, Any], p99_budget_ms: float) -> list[str]:
    """Why a run counts as saturated; empty when the router kept up and no look-up was skipped
    (`busy`: the embedder's queue full; `late`: its embedding outlasted the wait)."""
    reasons = []
    skipped = row["lookups"].get("busy", 0) + row["lookups"].get("late", 0)
    skipped_share = skipped / max(row["ok"], 1)
    if skipped_share > BUSY_SHARE_LIMIT:
        reasons.append(f"busy or late lookups {skipped_share:.1%}")
    if row["throughput_per_s"] < THROUGHPUT_FLOOR * row["rate_per_s"]:
        reasons.append(f"answered {row['throughput_per_s']:.0f}/s of {row['rate_per_s']}/s")
    if row["errors"] > ERROR_SHARE_LIMIT * row["requests"]:
        reasons.append(f"{row['errors']} errors {row['errors_by_kind']}")
    p99 = row["latency"]["p99_ms"] if row["latency"] else math.inf
    if p99 > p99_budget_ms:
        reasons.append(f"p99 {p99:.0f} ms > {p99_budget_ms:g} ms")
    return reasons


def brief(row: dict[str, Any]) -> str:
    p99 = row["latency"]["p99_ms"] if row["latency"] else math.nan
    return (
        f"{row['throughput_per_s']:.0f}/s answered, {row['errors']} errors, p99 {p99:.1f} ms, "
        f"{row['verdicts']}, lookups {row['lookups']}, "
        f"saturated: {'; '.join(row['saturated_because']) or 'no'}"
    )


def next_search_rate(on_rows: Sequence[dict[str, Any]], settings: Settings) -> int | None:
    """The next semantic-on rate to try, or None when the saturation rate is found to the
    resolution or out of bounds."""
    saturated = [r["rate_per_s"] for r in on_rows if r["saturated_because"]]
    if not saturated:
        rate = max(r["rate_per_s"] for r in on_rows) + settings.step_rate
        return rate if rate <= settings.max_rate else None
    lowest = min(saturated)
    kept_up = [r["rate_per_s"] for r in on_rows if not r["saturated_because"]]
    highest = max((rate for rate in kept_up if rate < lowest), default=0)
    if lowest - highest <= settings.resolution:
        return None
    return int(round((highest + lowest) / 2 / 10) * 10) or None


def saturation_of(rows: Sequence[dict[str, Any]], settings: Settings) -> dict[str, Any]:
    """The semantic-on tenant's saturation rate, and whether the semantic-off tenant (the
    control: no embedding) kept up at that rate, where it ran."""
    on_rows = [r for r in rows if r["tenant"] == SEMANTIC_ON]
    saturated = sorted(r["rate_per_s"] for r in on_rows if r["saturated_because"])
    lowest = saturated[0] if saturated else None
    kept_up = [
        r["rate_per_s"]
        for r in on_rows
        if not r["saturated_because"] and (lowest is None or r["rate_per_s"] < lowest)
    ]
    at = next((r for r in on_rows if r["rate_per_s"] == lowest), None)
    control = next(
        (r for r in rows if r["tenant"] != SEMANTIC_ON and r["rate_per_s"] == lowest), None
    )
    return {
        "lowest_saturated_rate_per_s": lowest,
        "highest_rate_kept_up_per_s": max(kept_up, default=None),
        "max_rate_tried_per_s": max(r["rate_per_s"] for r in on_rows),
        "bound_max_rate_per_s": settings.max_rate,
        "reasons": at["saturated_because"] if at else [],
        "control_reasons": control["saturated_because"] if control else None,
    }


async def bench_all(bench: Bench, processes: Processes) -> list[dict[str, Any]]:
    rows = []
    for rate in bench.settings.rates:
        for tenant, _, _ in TENANTS:
            rows.append(await bench.run(tenant, rate))
            processes.check_alive()
    for _ in range(bench.settings.search_trials):
        on_rows = [r for r in rows if r["tenant"] == SEMANTIC_ON]
        trial = next_search_rate(on_rows, bench.settings)
        if trial is None or any(r["rate_per_s"] == trial for r in on_rows):
            break
        row = await bench.run(SEMANTIC_ON, trial)
        rows.append(row | {"search": True})
        processes.check_alive()
    return rows


def parse_args(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.studies.cache_workload",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--rates", type=positive_ints, default=(200, 500, 1000), help="req/s, comma-separated")
    add("--duration", dest="duration_s", type=float, default=10.0, help="measured s per run")
    add("--warmup", dest="warmup_s", type=float, default=2.0, help="unmeasured s before it")
    add("--seed", type=int, default=15, help="the workload's seed")
    add("--store", type=Path, help="the model store holding the embedder")
    add("--no-pin", dest="pin", action="store_false", help="do not pin processes to cores")
    add_semantic_embedder(
        parser, "the semantic-on tenant's cache.semantic_embedder (static: at threshold 0.85)"
    )
    add("--router-cpu", type=int, default=0, help="core of the router")
    add("--load-cpu", type=int, default=1, help="core of this generator and the mock cloud")
    add("--p99-budget-ms", type=float, default=100.0, help="p99 past which a rate saturates")
    add("--step-rate", type=int, default=500, help="step up by this when no rate saturates")
    add("--max-rate", type=int, default=2000, help="highest rate the search tries")
    add("--resolution", type=int, default=50, help="bisect the saturation rate to this")
    add("--search-trials", type=int, default=3, help="extra semantic-on runs at most")
    add("--timeout", dest="timeout_s", type=float, default=10.0, help="per request, s")
    add("--drain-timeout", dest="drain_timeout_s", type=float, default=5.0, help="at a run's end")
    add("--connections", type=int, default=8000, help="the generator's connection limit")
    add("--max-other-load", type=float, default=0.15, help="wait for foreign load below this")
    add("--quiet-wait", dest="quiet_wait_s", type=float, default=15.0, help="... at most s")
    add("--idle-wait", dest="idle_wait_s", type=float, default=30.0, help="router idle, at most s")
    add("--out", type=Path, help="also write the report as JSON")
    add("--docs", action="store_true", help=f"write the report into {DOC.relative_to(REPO_ROOT)}")
    add("--keep-logs", action="store_true", help="keep the temp directory with the logs")
    args = parser.parse_args(argv)
    if args.duration_s <= 0 or args.warmup_s < 0 or args.search_trials < 0:
        parser.error("--duration must be positive, --warmup and --search-trials not negative")
    if args.pin and (args.router_cpu == args.load_cpu or len(os.sched_getaffinity(0)) < 2):
        parser.error("pinning needs two distinct usable cores (or --no-pin)")
    return Settings(**vars(args))


def run(settings: Settings) -> dict[str, Any]:
    machine = machine_state()
    started_utc = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    all_cpus = tuple(range(os.cpu_count() or 1))
    _raise_open_file_limit()  # for the generator's connections, and the router's (inherited)
    if settings.pin:
        os.sched_setaffinity(0, {settings.load_cpu})
    processes = Processes(Path(tempfile.mkdtemp(prefix="bench_cache_workload_")))
    try:
        port, admin_token = start_workload_stack(processes, settings)
        cpus = (settings.router_cpu, settings.load_cpu) if settings.pin else all_cpus
        account = CpuAccount(processes, settings.load_cpu, cpus)
        bench = Bench(settings, port, admin_token, account)
        rows = uvloop.run(bench_all(bench, processes))
    finally:
        processes.finish(settings.keep_logs)
    pinning = (
        f"router pinned to CPU {settings.router_cpu}, generator and mock cloud to CPU "
        f"{settings.load_cpu}"
        if settings.pin
        else "no pinning"
    )
    options = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()}
    return {
        "command": shlex.join(["python", "-m", "loadtest.studies.cache_workload", *sys.argv[1:]]),
        "commit": git_commit(),
        "started_utc": started_utc,
        "machine": machine,
        "pinning": pinning,
        "settings": options,
        "results": rows,
        "comparisons": comparisons(rows),
        "saturation": saturation_of(rows, settings),
    }


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    require_models("bench_cache_workload", settings.store, [EMBEDDER_MODEL])

    report = run_interruptibly(lambda: run(settings))
    if report is None:
        return 130
    if settings.out:
        settings.out.write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    if settings.docs:
        section = (
            DOC_SECTION if settings.semantic_embedder == "transformer" else f"{DOC_SECTION}_static"
        )
        write_section(DOC, section, text.rstrip("\n"))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
