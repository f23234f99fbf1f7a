"""Benchmark: the latency a proxy adds over talking to the (simulated) cloud directly.

Starts on loopback the mock cloud with one zero-latency region, the bare aiohttp proxy and, when
`--router-cmd` is given, the router. Every proxy under test is pinned to one core (`--proxy-cpu`)
and the mock cloud and the load generator to another (`--load-cpu`), so "one process on one core"
is what is measured. For each kind and rate it runs the open-loop generator (a separate process)
against each target, reports the added latency (target percentile minus direct percentile at the
same rate; TTFT for streams), then searches for the highest rate each target sustains with p99 under
the budget and no errors. Every subprocess is killed at the end, also on error and Ctrl-C.

    .venv/bin/python -m loadtest.harness.proxy_bench --rates 500,1000 --duration 10 \\
        --router-cmd 'edge-router serve --config node.yaml' --router-url http://127.0.0.1:8080/v1 \\
        --out results.json --markdown results.md

In `--router-cmd`, `{upstream}` is replaced by the mock region's base URL (with /v1) and
`{upstream_port}` by its port, so a node config template can point at the simulator.

What the router does per request is its config's: each of deploy/bench/*.yaml (`make bench`,
`make bench-tracing`) states at its top the features it exercises (auth, limits, privacy scan,
cache, tracing). None loads a local model, so no model store is needed: the semantic cache is
measured by `loadtest/studies/cache_hits.py`, the edge worker by `loadtest/studies/worker.py`.
"""

# This module owns the command line and the order of a run (targets, trials, ceiling searches,
# reports); the parts are proxy_settings, processes, cpu, targets, trials, ceiling, machine and
# proxy_report, beside this module in loadtest/harness/.

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from loadtest.harness.ceiling import search_ceiling
from loadtest.harness.cpu import CpuAccount
from loadtest.harness.machine import machine_state
from loadtest.harness.processes import Processes, run_interruptibly
from loadtest.harness.proxy_report import markdown_report
from loadtest.harness.proxy_settings import KINDS, LOOPBACK, BenchSettings
from loadtest.harness.targets import start_targets
from loadtest.harness.trials import added_latency, run_matrix


def _float_list(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(",") if part.strip())


def parse_args(argv: Sequence[str] | None) -> BenchSettings:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.harness.proxy_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--rates", type=_float_list, default=(500.0, 1000.0), help="comma-separated req/s")
    add("--kinds", default=",".join(KINDS), help="comma-separated: chat-json,chat-stream")
    add("--duration", dest="duration_s", type=float, default=10.0, help="measured s per run")
    add("--warmup", dest="warmup_s", type=float, default=2.0, help="warm-up s per run")
    add("--router-cmd", help="command starting the router; the router target is skipped without")
    add("--router-url", default=f"http://{LOOPBACK}:8080/v1", help="router base URL")
    add("--mock-port", type=int, default=9101)
    add("--mock-control-port", type=int, default=9100)
    add("--proxy-port", type=int, default=8090)
    add("--proxy-cpu", type=int, default=0, help="core for the proxy under test")
    add("--load-cpu", type=int, default=1, help="core for the mock cloud and load generator")
    add("--model", default="gpt-4o-mini")
    add("--api-key", default="sk-loadtest")
    add("--p99-budget-ms", type=float, default=50.0)
    add("--no-search", dest="search", action="store_false", help="skip the ceiling search")
    add("--search-start", dest="search_start_rate", type=float, default=500.0)
    add("--search-step", dest="search_step_rate", type=float, default=500.0)
    add("--search-max", dest="search_max_rate", type=float, default=8000.0)
    add("--search-resolution", dest="search_resolution_rate", type=float, default=100.0)
    add("--search-duration", dest="search_duration_s", type=float, default=5.0)
    add("--search-warmup", dest="search_warmup_s", type=float, default=1.0)
    add(
        "--search-budget",
        dest="search_budget_s",
        type=float,
        default=900.0,
        help="seconds for all ceiling searches together",
    )
    add(
        "--max-other-load",
        type=float,
        default=0.15,
        help="before each run, wait until foreign work uses at most this many cores per CPU",
    )
    add(
        "--quiet-wait",
        dest="quiet_wait_s",
        type=float,
        default=20.0,
        help="... but wait at most this many seconds (0: do not wait)",
    )
    add("--out", type=Path, help="write results as JSON (default: stdout)")
    add("--markdown", type=Path, help="write a Markdown report")
    add("--keep-logs", action="store_true", help="keep subprocess logs in the temp directory")
    args = parser.parse_args(argv)
    args.kinds = tuple(k for k in args.kinds.split(",") if k)
    if not args.kinds or not set(args.kinds) <= set(KINDS):
        parser.error(f"--kinds must be drawn from {KINDS}")
    if not args.rates or min(args.rates) <= 0:
        parser.error("--rates must be positive")
    if args.proxy_cpu == args.load_cpu:
        parser.error("--proxy-cpu and --load-cpu must differ")
    return BenchSettings(**vars(args))


def _check_cpus(settings: BenchSettings) -> None:
    usable = os.sched_getaffinity(0)
    missing = {settings.proxy_cpu, settings.load_cpu} - usable
    if missing:
        raise SystemExit(f"CPUs {sorted(missing)} are not available (usable: {sorted(usable)})")


def run(settings: BenchSettings, command: str) -> dict[str, Any]:
    _check_cpus(settings)
    machine = machine_state()
    log_dir = Path(tempfile.mkdtemp(prefix="bench_proxy_"))
    processes = Processes(log_dir)
    try:
        targets = start_targets(settings, processes)
        account = CpuAccount(processes, settings.load_cpu, (settings.proxy_cpu, settings.load_cpu))
        trials = run_matrix(settings, account, targets)
        ceilings = []
        if settings.search:
            searches = [(t, k) for t in targets for k in settings.kinds]
            for target, kind in searches:
                budget = settings.search_budget_s / len(searches)
                ceilings.append(search_ceiling(settings, account, target, kind, budget))
    finally:
        processes.finish(settings.keep_logs)
    settings_dict = asdict(settings)
    for key in ("out", "markdown"):
        settings_dict[key] = str(settings_dict[key]) if settings_dict[key] else None
    return {
        "machine": machine,
        "command": command,
        "settings": settings_dict,
        "targets": [asdict(t) for t in targets],
        "runs": [asdict(t) for t in trials],
        "added_latency": added_latency(trials),
        "ceilings": [asdict(c) for c in ceilings],
    }


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    command = shlex.join(sys.orig_argv if argv is None else [sys.executable, *argv])

    report = run_interruptibly(lambda: run(settings, command))
    if report is None:
        return 130
    text = json.dumps(report, indent=2)
    if settings.out:
        settings.out.write_text(text + "\n")
    else:
        print(text)
    markdown = markdown_report(report)
    if settings.markdown:
        settings.markdown.write_text(markdown)
    print(markdown, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
