"""`python -m loadtest`: the load-test suite's command line.

    python -m loadtest list
    python -m loadtest run SCENARIO --target http://127.0.0.1:8080/v1 [--key K] [--model M]
                           [--control http://127.0.0.1:9100] [--smoke] [--out results.jsonl]
    python -m loadtest report results.jsonl... [--html report.html]
    python -m loadtest compare router.jsonl litellm.jsonl...

`run` drives the scenario's phases against any OpenAI-compatible endpoint (the router, another
gateway, a provider), writes one JSON line per phase and prints the Markdown report; `--smoke`
runs each phase in its smoke form (seconds), as the test command does for every scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from loadtest.harness.report import comparison, markdown_report
from loadtest.harness.runner import Target, run_scenario
from loadtest.harness.scenario import ScenarioInvalid, load_scenario, scenario_names


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.command(args))
    except ScenarioInvalid as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _list(args: argparse.Namespace) -> int:
    for name in scenario_names():
        scenario = load_scenario(name)
        phases = ", ".join(
            f"{p.name} ({p.kind} {p.rate_per_s:g}/s {p.duration_s:g}s)" for p in scenario.phases
        )
        print(f"{name}: {scenario.description}\n    {phases}")
    return 0


def _run(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    if args.smoke:
        scenario = scenario.smoke_form()
    target = Target(args.target, args.key, args.model, args.name, args.pid)
    records = _event_loop_run(run_scenario(scenario, target, args.control))
    out = Path(args.out or f"bench-results/{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    sys.stdout.write(markdown_report(records))
    print(f"\nresults: {out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    records = [record for path in args.results for record in _records(Path(path))]
    sys.stdout.write(markdown_report(records))
    if args.html:
        from loadtest.harness.html_report import html_report

        Path(args.html).write_text(html_report(records))
        print(f"\nHTML report: {args.html}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    runs = [(Path(path).stem, _records(Path(path))) for path in args.results]
    sys.stdout.write(comparison(runs))
    return 0


def _records(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _event_loop_run(work: Any) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; any loop will do
        return asyncio.run(work)
    return uvloop.run(work)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(required=True)
    listing = commands.add_parser("list", help="the scenarios and their phases")
    listing.set_defaults(command=_list)
    run = commands.add_parser("run", help="run a scenario against an endpoint")
    run.add_argument("scenario", help="a scenario's name (python -m loadtest list) or YAML path")
    run.add_argument("--target", required=True, help="base URL, e.g. http://127.0.0.1:8080/v1")
    run.add_argument("--key", default="sk-loadtest", help="the API key sent as a Bearer token")
    run.add_argument("--model", default="gpt-4o-mini")
    run.add_argument("--name", default="target", help="the target's name in the report")
    run.add_argument("--smoke", action="store_true", help="each phase in its smoke form")
    run.add_argument(
        "--pid", type=int, help="the target's process here, for its CPU and RSS in the report"
    )
    run.add_argument(
        "--control", help="the simulated cloud's control API, for fault scenarios (port 9100)"
    )
    run.add_argument("--out", help="the JSON-lines results (default: bench-results/...)")
    run.set_defaults(command=_run)
    report = commands.add_parser("report", help="a Markdown report of results")
    report.add_argument("results", nargs="+")
    report.add_argument("--html", help="also a self-contained HTML page with plots, here")
    report.set_defaults(command=_report)
    compare = commands.add_parser("compare", help="results side by side, as ratios to the first")
    compare.add_argument("results", nargs="+")
    compare.set_defaults(command=_compare)
    return parser


if __name__ == "__main__":
    sys.exit(main())
