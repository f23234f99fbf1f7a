"""Benchmark: end-to-end latency of answers served from the router's answer cache (issue 5).

    .venv/bin/python -m loadtest.studies.cache_hits [--samples 5000] [--embedding-samples 1000] \\
        [--concurrency 1,8] [--store DIR] [--no-pin] [--semantic-embedder static] \\
        [--out results.json]

Needs the embedder (all-minilm-l6-v2/int8) in the model store: `--store`, else EDGE_WORKER_STORE,
else the default, which `make models` prepares; without it the run stops with one line saying so,
before any process starts.

Starts on free loopback ports the mock cloud (one region at zero simulated latency, 128-token
answers) and `edge-router serve` with a node config and a tenant policy written to a temporary
directory (`loadtest/studies/cache_stack.py`): the tenant has `cache: {enabled: true}`, the node
`cache: {enabled: true, semantic: true}`, so the router loads the all-MiniLM-L6-v2 embedder from
that store. As the other benchmarks do, the router is pinned to one core (`--router-cpu`) and
this client and the mock cloud to the other (`--load-cpu`); `--no-pin` leaves all three free to
use both cores, which the embedder's two onnxruntime threads are tuned for.

Then, with the load generator's client (`loadtest/generator/probe.py`: the generator's aiohttp
session, at most one keep-alive connection per concurrent caller, each answer timed to its last
byte read):
1. **warm**: distinct origin questions from `third_party/datasets/gptcache_paraphrases.json` are
   sent until `--questions` of them answered `x-router-cache: miss` and then, repeated,
   `hit-exact`; a question that is a semantic hit of an earlier one is left out;
2. **select**: each stored question's paraphrase is sent once with the request header
   `x-router-cache: no-store` (so a miss is not stored and cannot turn into an exact hit later);
   those answered `hit-semantic` are the semantic samples, and their share is reported. Origin
   questions never stored are probed the same way and those answered `miss` are the miss samples;
3. **measure**, at each `--concurrency` (closed loop: each caller sends its next request when the
   previous answer is complete), after `--warmup` unrecorded requests: exact hits as JSON and as
   SSE (time to the last byte of the replayed stream), a request the cache bypasses (temperature
   1, forwarded without embedding), `--samples` of each; semantic hits as JSON (with `no-store`,
   which a hit never reads) and a miss forwarded to the mock cloud (embedded and searched, then
   forwarded; `no-store`), `--embedding-samples` of each, since each costs milliseconds. First,
   at the same concurrency, the same client sends the stored questions to the mock cloud
   directly, as JSON and as SSE (`--samples` of each): aiohttp's client costs about 150 µs per
   request, of the order of an exact hit, so every series is also reported as the router's added
   latency, its percentile minus the direct series' of the same shape (the suite's way: target
   against direct in the same run). For a hit, which never reaches the cloud, that is what a hit
   costs against a zero-latency provider reached directly, and may be below zero.

Before each series the run waits (at most `--quiet-wait` s) for other work on the machine to
fall below `--max-other-load` cores, and reports the foreign load measured during the series.
Every answer must carry the series' expected `x-router-cache` value, status 200 and a complete
body; any other answer is counted as an error of its series, reported, and makes the exit status
1. The report (Markdown on stdout, JSON with `--out`) gives p50/p90/p99/max per series, the
router's added p50/p99, the router's and this client's CPU per request, the machine and the git
commit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shlex
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson
import uvloop

from loadtest.generator.probe import (
    Answer,
    Prepared,
    ProbeResult,
    closed_loop,
    exchange,
    probe_session,
)
from loadtest.generator.stats import percentile
from loadtest.harness.cpu import CpuAccount
from loadtest.harness.machine import git_commit, machine_state
from loadtest.harness.models import EMBEDDER_MODEL, require_models
from loadtest.harness.processes import Processes, run_interruptibly
from loadtest.harness.proxy_settings import LOOPBACK
from loadtest.studies.cache_stack import (
    API_KEY,
    MODEL,
    add_semantic_embedder,
    positive_ints,
    start_stack_ports,
)
from loadtest.studies.datasets import GPTCACHE_PARAPHRASES

# The targets, p99 end to end at the router (ms).
EXACT_P99_TARGET_MS: Final = 1.0
SEMANTIC_P99_TARGET_MS: Final = 10.0
CACHE_HEADER: Final = "x-router-cache"
DIRECT_JSON: Final = "direct to mock cloud, JSON"
DIRECT_STREAM: Final = "direct to mock cloud, stream"


@dataclass(frozen=True, slots=True)
class Settings:
    samples: int
    embedding_samples: int
    concurrency: tuple[int, ...]
    warmup: int
    questions: int
    store: Path | None
    pin: bool
    router_cpu: int
    load_cpu: int
    max_other_load: float
    quiet_wait_s: float
    out: Path | None
    keep_logs: bool
    semantic_embedder: str

    @property
    def pinned_cpus(self) -> tuple[int | None, int | None]:
        """(the router's core, the mock cloud's core), or neither when unpinned."""
        return (self.router_cpu, self.load_cpu) if self.pin else (None, None)


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    requests: tuple[Prepared, ...]  # sent in turn, round and round
    expect: str  # the x-router-cache value every answer must carry ("": none, the cloud's)
    stream: bool = False
    embeds: bool = False  # the router embeds each request (milliseconds): fewer samples

    @property
    def baseline(self) -> str | None:
        """The direct series a router series is read against (same shape), None for a direct
        one."""
        if not self.expect:
            return None
        return DIRECT_STREAM if self.stream else DIRECT_JSON


@dataclass(frozen=True, slots=True)
class Questions:
    stored: tuple[str, ...]  # origin questions answered as miss, then hit-exact
    paraphrases: tuple[str, ...]  # paraphrases of stored questions answered hit-semantic
    misses: tuple[str, ...]  # questions never stored, answered miss
    report: dict[str, Any]


def base_url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}/v1"


def chat_request(
    port: int,
    question: str,
    *,
    stream: bool = False,
    temperature: float = 0.0,
    directive: str | None = None,
) -> Prepared:
    """One chat completion, built once and sent as is, with `x-router-cache: directive`."""
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": question}],
        "temperature": temperature,
    }
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    headers = {CACHE_HEADER: directive} if directive else None
    return Prepared(f"{base_url(port)}/chat/completions", orjson.dumps(body), headers)


def cache_of(answer: Answer) -> str:
    """The answer's `x-router-cache` verdict, "" when it has none."""
    return answer.headers.get(CACHE_HEADER, "")


def problem_of(answer: Answer, expect: str, stream: bool) -> str | None:
    """Why an answer is not the one the series expects, or None when it is."""
    if answer.status != 200:
        return f"http {answer.status}"
    if cache_of(answer) != expect:
        return f"x-router-cache: {cache_of(answer) or '(none)'}"
    body = answer.body
    complete = body.endswith(b"data: [DONE]\n\n") if stream else b'"chat.completion"' in body
    return None if complete else "incomplete body"


async def warm(
    http: aiohttp.ClientSession, port: int, rows: Iterator[dict[str, str]], wanted: int
) -> tuple[list[dict[str, str]], Counter[str]]:
    """Store `wanted` distinct origin questions; (stored rows, what the others answered)."""
    stored: list[dict[str, str]] = []
    left_out: Counter[str] = Counter()
    for row in rows:
        request = chat_request(port, row["origin"])
        first = await exchange(http, request)
        second = await exchange(http, request) if cache_of(first) == "miss" else first
        if cache_of(first) == "miss" and cache_of(second) == "hit-exact":
            stored.append(row)
            if len(stored) == wanted:
                break
        else:
            first_said = cache_of(first) or first.status
            left_out[f"first {first_said}, then {cache_of(second)}"] += 1
    return stored, left_out


async def probe(
    http: aiohttp.ClientSession, port: int, texts: Sequence[str], expect: str
) -> list[str]:
    """The texts answered `expect` when sent once with `no-store`."""
    found = []
    for text in texts:
        answer = await exchange(http, chat_request(port, text, directive="no-store"))
        if answer.status == 200 and cache_of(answer) == expect:
            found.append(text)
    return found


async def prepare(port: int, wanted: int) -> Questions:
    rows: list[dict[str, str]] = json.loads(GPTCACHE_PARAPHRASES.read_text())
    unique = list({row["origin"]: row for row in rows if row["origin"] != row["similar"]}.values())
    async with probe_session(API_KEY, 1) as http:
        rest = iter(unique)
        stored, left_out = await warm(http, port, rest, wanted)
        if len(stored) < wanted:
            raise SystemExit(f"only {len(stored)} of {wanted} questions could be stored")
        paraphrases = await probe(http, port, [row["similar"] for row in stored], "hit-semantic")
        unseen = [row["origin"] for row in rest][:wanted]
        misses = await probe(http, port, unseen, "miss")
    if not paraphrases or not misses:
        raise SystemExit("no paraphrase hit the semantic tier, or no question missed")
    report = {
        "stored": len(stored),
        "left_out_at_warm": dict(left_out),
        "paraphrases_probed": len(stored),
        "paraphrases_hit_semantic": len(paraphrases),
        "miss_questions_probed": len(unseen),
        "miss_questions_missed": len(misses),
    }
    stored_texts = tuple(row["origin"] for row in stored)
    return Questions(stored_texts, tuple(paraphrases), tuple(misses), report)


def series_of(prepared: Questions, port: int, cloud_port: int) -> list[Series]:
    """The direct series first (the stored questions sent to the mock cloud itself), then the
    router's."""

    def requests(texts: Sequence[str], **options: Any) -> tuple[Prepared, ...]:
        return tuple(chat_request(port, text, **options) for text in texts)

    direct = [chat_request(cloud_port, text) for text in prepared.stored]
    direct_stream = [chat_request(cloud_port, text, stream=True) for text in prepared.stored]
    return [
        Series(DIRECT_JSON, tuple(direct), ""),
        Series(DIRECT_STREAM, tuple(direct_stream), "", True),
        Series("exact hit, JSON", requests(prepared.stored), "hit-exact"),
        Series("exact hit, stream", requests(prepared.stored, stream=True), "hit-exact", True),
        Series(
            "semantic hit, JSON",
            requests(prepared.paraphrases, directive="no-store"),
            "hit-semantic",
            embeds=True,
        ),
        Series(
            "miss to mock cloud, JSON",
            requests(prepared.misses, directive="no-store"),
            "miss",
            embeds=True,
        ),
        Series("bypass to mock cloud, JSON", requests(prepared.stored, temperature=1.0), "bypass"),
    ]


def cpu_seconds(account: CpuAccount, pinned: bool) -> tuple[float, float]:
    """(the router's CPU seconds so far, foreign CPU seconds so far on the whole machine)."""
    snapshot = account.snapshot()
    foreign = sum(value for key, value in snapshot.items() if key.startswith("cpu"))
    if not pinned:  # unpinned processes are not taken off any core's busy time
        foreign -= snapshot.get("router", 0.0) + snapshot.get("mock_cloud", 0.0)
    own = resource.getrusage(resource.RUSAGE_SELF)
    return snapshot.get("router", 0.0), foreign - own.ru_utime - own.ru_stime


async def wait_for_quiet(settings: Settings, account: CpuAccount) -> float:
    """Sample foreign load each second until it is at most `max_other_load` cores or the wait
    bound is spent (this machine is shared); the last sample."""
    deadline = time.monotonic() + settings.quiet_wait_s
    while True:
        _, before = cpu_seconds(account, settings.pin)
        await asyncio.sleep(1.0)
        _, after = cpu_seconds(account, settings.pin)
        foreign = max(0.0, after - before)
        if foreign <= settings.max_other_load or time.monotonic() >= deadline:
            return foreign
        print(f"[bench] waiting for a quiet machine: {foreign:.2f} foreign cores", file=sys.stderr)


def own_cpu_seconds() -> float:
    """This process's CPU seconds so far (the client's)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


async def measure(
    series: Series, concurrency: int, settings: Settings, account: CpuAccount
) -> dict[str, Any]:
    foreign_before_series = await wait_for_quiet(settings, account)
    samples = settings.embedding_samples if series.embeds else settings.samples

    def judge(answer: Answer) -> str | None:
        return problem_of(answer, series.expect, series.stream)

    async with probe_session(API_KEY, concurrency) as http:
        await closed_loop(http, series.requests, settings.warmup, concurrency)
        router_before, foreign_before = cpu_seconds(account, settings.pin)
        client_before = own_cpu_seconds()
        result = await closed_loop(http, series.requests, samples, concurrency, judge)
        client_after = own_cpu_seconds()
        router_after, foreign_after = cpu_seconds(account, settings.pin)
    summary = summarise(result)
    summary |= {
        "series": series.name,
        "concurrency": concurrency,
        "baseline": series.baseline,
        "router_cpu_us_per_request": (router_after - router_before) / samples * 1e6,
        "client_cpu_us_per_request": (client_after - client_before) / samples * 1e6,
        "foreign_cores": max(0.0, foreign_after - foreign_before) / result.wall_s,
        "foreign_cores_before": foreign_before_series,
    }
    print(f"[bench] {series.name}, concurrency {concurrency}: {summary}", file=sys.stderr)
    return summary


def summarise(result: ProbeResult) -> dict[str, Any]:
    ordered = sorted(result.latencies_s)
    errors = sum(result.problems.values())
    figures: dict[str, Any] = {
        "samples": len(ordered),
        "errors": errors,
        "error_kinds": dict(result.problems),
        "requests_per_s": result.sent / result.wall_s if result.wall_s > 0 else 0.0,
    }
    for name, q in (("p50_ms", 50.0), ("p90_ms", 90.0), ("p99_ms", 99.0), ("max_ms", 100.0)):
        figures[name] = percentile(ordered, q) * 1000.0 if ordered else None
    return figures


def add_router_latency(results: Sequence[dict[str, Any]]) -> None:
    """Each router series' added p50 and p99 (ms): its percentile minus that of the direct
    series of its shape at the same concurrency (None where either has no samples)."""
    direct = {(row["series"], row["concurrency"]): row for row in results if not row["baseline"]}
    for row in results:
        base = direct.get((row["baseline"], row["concurrency"]))
        for name in ("p50_ms", "p99_ms"):
            added = None
            if base is not None and row[name] is not None and base[name] is not None:
                added = row[name] - base[name]
            row[f"added_{name}"] = added


async def run_series(
    ports: tuple[int, int], settings: Settings, account: CpuAccount, processes: Processes
) -> tuple[Questions, list[dict[str, Any]]]:
    port, cloud_port = ports
    prepared = await prepare(port, settings.questions)
    results = []
    for concurrency in settings.concurrency:
        for series in series_of(prepared, port, cloud_port):
            results.append(await measure(series, concurrency, settings, account))
            processes.check_alive()
    add_router_latency(results)
    return prepared, results


def verdicts(results: Sequence[dict[str, Any]]) -> list[str]:
    """One line per target of the issue, from the concurrency-1 series."""
    lines = []
    targets = (
        ("exact hit, JSON", EXACT_P99_TARGET_MS),
        ("exact hit, stream", EXACT_P99_TARGET_MS),
        ("semantic hit, JSON", SEMANTIC_P99_TARGET_MS),
    )
    for name, target_ms in targets:
        for row in results:
            if row["series"] == name and row["concurrency"] == 1 and row["p99_ms"] is not None:
                met = row["p99_ms"] <= target_ms and row["errors"] == 0
                verdict = "met" if met else "NOT met"
                added = row.get("added_p99_ms")
                beside = "" if added is None else f" (added over direct: {added:+.2f} ms)"
                lines.append(
                    f"- {name}: p99 {row['p99_ms']:.2f} ms at concurrency 1{beside}, "
                    f"target ≤ {target_ms:g} ms: **{verdict}**"
                )
    return lines


def markdown(report: dict[str, Any]) -> str:
    machine, prepared = report["machine"], report["prepared"]
    lines = [
        f"Commit `{report['commit']}`, {report['started_utc']}; "
        f"{machine['nproc']} cores ({machine['cpu_model']}), Python {machine['python']}, "
        f"Linux {machine['kernel']}; {report['pinning']}.",
        f"Stored {prepared['stored']} questions (left out at warm-up, as answered: "
        f"{prepared['left_out_at_warm'] or 'none'}); {prepared['paraphrases_hit_semantic']} of "
        f"{prepared['paraphrases_probed']} paraphrases were semantic hits; "
        f"{prepared['miss_questions_missed']} of {prepared['miss_questions_probed']} "
        "unseen questions missed.",
        "",
        "| series | concurrency | samples | errors | p50 ms | p90 ms | p99 ms | max ms "
        "| added p50 / p99 ms | req/s | router CPU µs/req | client CPU µs/req | foreign cores |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["results"]:
        figures = [row[k] for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")]
        shown = " | ".join(_ms(v) for v in figures)
        added = "–" if row["baseline"] is None else _added(row)
        lines.append(
            f"| {row['series']} | {row['concurrency']} | {row['samples']} | {row['errors']} "
            f"| {shown} | {added} | {row['requests_per_s']:.0f} "
            f"| {row['router_cpu_us_per_request']:.0f} | {row['client_cpu_us_per_request']:.0f} "
            f"| {row['foreign_cores']:.2f} |"
        )
    errors = [
        f"- {r['series']} (c={r['concurrency']}): {r['error_kinds']}"
        for r in report["results"]
        if r["errors"]
    ]
    lines += ["", *verdicts(report["results"])]
    if errors:
        lines += ["", "Errors (answers that were not the expected kind):", *errors]
    return "\n".join(lines) + "\n"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _added(row: dict[str, Any]) -> str:
    parts = [row["added_p50_ms"], row["added_p99_ms"]]
    return " / ".join("-" if v is None else f"{v:+.3f}" for v in parts)


def parse_args(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.studies.cache_hits",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--samples", type=int, default=5000, help="measured requests per series")
    add(
        "--embedding-samples",
        type=int,
        default=1000,
        help="measured requests per series the router embeds (semantic hit, miss)",
    )
    add("--concurrency", type=positive_ints, default=(1, 8), help="comma-separated callers")
    add("--warmup", type=int, default=200, help="unrecorded requests before each series")
    add("--questions", type=int, default=200, help="distinct questions stored at warm-up")
    add("--store", type=Path, help="the model store holding the embedder")
    add("--no-pin", dest="pin", action="store_false", help="do not pin processes to cores")
    add_semantic_embedder(parser, "the tenant's cache.semantic_embedder")
    add("--router-cpu", type=int, default=0, help="core of the router")
    add("--load-cpu", type=int, default=1, help="core of this client and the mock cloud")
    add(
        "--max-other-load",
        type=float,
        default=0.15,
        help="before each series, wait until other work uses at most this many cores",
    )
    add("--quiet-wait", dest="quiet_wait_s", type=float, default=60.0, help="... at most s")
    add("--out", type=Path, help="also write the report as JSON")
    add("--keep-logs", action="store_true", help="keep the temp directory with the logs")
    args = parser.parse_args(argv)
    if min(args.samples, args.embedding_samples, args.questions) < 1 or args.warmup < 0:
        parser.error("--samples and --questions must be positive, --warmup not negative")
    if args.pin and (args.router_cpu == args.load_cpu or len(os.sched_getaffinity(0)) < 2):
        parser.error("pinning needs two distinct usable cores (or --no-pin)")
    return Settings(**vars(args))


def run(settings: Settings) -> dict[str, Any]:
    machine = machine_state()
    started_utc = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    all_cpus = tuple(range(os.cpu_count() or 1))
    if settings.pin:
        os.sched_setaffinity(0, {settings.load_cpu})
    processes = Processes(Path(tempfile.mkdtemp(prefix="bench_cache_hits_")))
    try:
        embedder = {"semantic_embedder": settings.semantic_embedder}
        ports = start_stack_ports(processes, settings.store, *settings.pinned_cpus, embedder)
        cpus = (settings.router_cpu, settings.load_cpu) if settings.pin else all_cpus
        account = CpuAccount(processes, settings.load_cpu, cpus)
        prepared, results = uvloop.run(run_series(ports, settings, account, processes))
    finally:
        processes.finish(settings.keep_logs)
    pinning = (
        f"router pinned to CPU {settings.router_cpu}, client and mock cloud to CPU "
        f"{settings.load_cpu}"
        if settings.pin
        else "no pinning"
    )
    options = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()}
    return {
        "command": shlex.join(sys.orig_argv),
        "commit": git_commit(),
        "started_utc": started_utc,
        "machine": machine,
        "pinning": pinning,
        "settings": options,
        "prepared": prepared.report,
        "results": results,
    }


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    require_models("bench_cache_hits", settings.store, [EMBEDDER_MODEL])

    report = run_interruptibly(lambda: run(settings))
    if report is None:
        return 130
    if settings.out:
        settings.out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    return 1 if any(row["errors"] for row in report["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
