"""`python -m loadtest`: the load-test suite's command line.

    python -m loadtest list
    python -m loadtest run SCENARIO --target http://127.0.0.1:8080/v1 [--key K] [--model M]
                           [--control http://127.0.0.1:9100] [--smoke] [--out results.jsonl]
    python -m loadtest run SCENARIO --stack [--workers N] [--smoke]  # on a stack it starts
                                    # (over the network test bed when the scenario has `network:`)
    python -m loadtest run SCENARIO --start direct,bare,router[,litellm,portkey] [--core 0]
                           [--router-config F] [--cloud-config F]  # targets side by side
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
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from loadtest.harness.lineup_targets import LineupError
from loadtest.harness.report import comparison, markdown_report, side_by_side, target_names
from loadtest.harness.runner import Target, run_scenario
from loadtest.harness.scenario import Scenario, ScenarioInvalid, load_scenario, scenario_names

if TYPE_CHECKING:
    from loadtest.harness.started_stack import StartedStack


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.command(args))
    except (ScenarioInvalid, LineupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _list(args: argparse.Namespace) -> int:
    for name in scenario_names():
        scenario = load_scenario(name)
        phases = ", ".join(
            f"{p.name} ({p.kind} {p.load} {p.duration_s:g}s)" for p in scenario.phases
        )
        print(f"{name}: {scenario.description}\n    {phases}")
    return 0


def _run(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    if args.smoke:
        scenario = scenario.smoke_form()
    if scenario.network is not None and (args.target or args.start):
        raise ScenarioInvalid(
            f"scenario {scenario.name!r} runs over the network test bed (`network: "
            f"{scenario.network}`), on the stack the suite starts over it: use --stack, not "
            "--target or --start"
        )
    if args.start:
        records = _run_lineup(scenario, args)
        if records is None:
            return 130
    elif args.stack:
        on_stack = _run_on_stack(scenario, args)
        if on_stack is None:
            return 130
        records = on_stack
    elif args.target is None:
        raise ScenarioInvalid("give the endpoint to load (--target), or --stack")
    else:
        target = Target(args.target, args.key, args.model, args.name, args.pid)
        records = _event_loop_run(run_scenario(scenario, target, args.control))
    out = Path(args.out or f"bench-results/{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    sys.stdout.write(markdown_report(records))
    if len(target_names(records)) > 1:
        sys.stdout.write("\n" + side_by_side(records))
    print(f"\nresults: {out}")
    return 0


def _run_lineup(scenario: Scenario, args: argparse.Namespace) -> list[dict[str, Any]] | None:
    """The scenario against the targets the suite starts itself (`loadtest.harness.lineup`);
    every process stopped after it, also on SIGTERM or Ctrl-C (None: interrupted)."""
    from loadtest.harness.lineup import (
        DEFAULT_CLOUD_CONFIG,
        DEFAULT_ROUTER_CONFIG,
        LineupSettings,
        run_lineup,
    )
    from loadtest.harness.lineup_targets import parse_target_names
    from loadtest.harness.processes import run_interruptibly

    if args.target or args.control or args.pid or args.stack:
        raise LineupError(
            "--start starts its own targets: drop --target, --control, --pid, --stack"
        )
    settings = LineupSettings(
        targets=parse_target_names(args.start),
        core=None if args.core < 0 else args.core,
        api_key=args.key,
        model=args.model,
        router_config=Path(args.router_config or DEFAULT_ROUTER_CONFIG),
        cloud_config=Path(args.cloud_config or DEFAULT_CLOUD_CONFIG),
        keep_logs=args.keep_logs,
    )
    return run_interruptibly(lambda: run_lineup(scenario, settings, _event_loop_run))


def _run_on_stack(scenario: Scenario, args: argparse.Namespace) -> list[dict[str, Any]] | None:
    """The scenario against the router of the stack the suite starts (`loadtest.harness.stack`,
    or over the network test bed when it names a topology: `loadtest.harness.network_stack`),
    with the demo's key; every process stopped after it, whatever happened (None: interrupted)."""
    from loadtest.harness.processes import run_interruptibly
    from loadtest.harness.stack_config import DEMO_KEY

    if args.target or args.control or args.pid:
        raise ScenarioInvalid("--stack starts its own router: drop --target, --control, --pid")

    def run() -> list[dict[str, Any]]:
        with _started_stack(scenario, args.workers) as stack:
            name = "router" if args.name == "target" else args.name
            target = Target(stack.base_url, DEMO_KEY, args.model, name, stack.router_pid)
            records: list[dict[str, Any]] = _event_loop_run(
                run_scenario(scenario, target, stack.control_url, stack)
            )
            return records

    return run_interruptibly(run)


def _started_stack(scenario: Scenario, workers: int) -> AbstractContextManager[StartedStack]:
    from loadtest.harness.stack import local_stack

    if scenario.network is None:
        return local_stack(workers=workers)
    from loadtest.harness.network_stack import network_stack
    from loadtest.network.topology_file import load_topology

    return network_stack(load_topology(scenario.network), workers=workers)


def _report(args: argparse.Namespace) -> int:
    records = [record for path in args.results for record in _records(Path(path))]
    sys.stdout.write(markdown_report(records))
    if len(target_names(records)) > 1:
        sys.stdout.write("\n" + side_by_side(records))
    if args.html:
        from loadtest.harness.html_report import html_report

        Path(args.html).write_text(html_report(records))
        print(f"\nHTML report: {args.html}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    runs = [(Path(path).stem, _records(Path(path))) for path in args.results]
    if len(runs) == 1 and len(target_names(runs[0][1])) > 1:  # a line-up's file
        sys.stdout.write(side_by_side(runs[0][1]))
        return 0
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
    run.add_argument("--target", help="base URL, e.g. http://127.0.0.1:8080/v1")
    run.add_argument(
        "--stack",
        action="store_true",
        help="start the simulated cloud, Redis and the router here, and load that router "
        "(what the disrupt-* scenarios need); over the network test bed for a scenario that "
        "names a topology (`network:`, as root)",
    )
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        help="with --stack: the router's `serve --workers N` (default 1)",
    )
    run.add_argument(
        "--start",
        help="start these targets here and run the phases against each, interleaved: "
        "direct,bare,router,litellm,portkey (the peers need `make peers`)",
    )
    run.add_argument(
        "--core",
        type=int,
        default=0,
        help="with --start: the core every target is pinned to; the simulated cloud and the "
        "load generator get another (-1: pin nothing)",
    )
    run.add_argument(
        "--router-config",
        help="with --start: the router's node config (deploy/bench/node-faults.yaml)",
    )
    run.add_argument(
        "--cloud-config",
        help="with --start: the simulated cloud's config (deploy/bench/peers/cloud.yaml)",
    )
    run.add_argument("--keep-logs", action="store_true", help="with --start: keep the logs")
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
