"""The Markdown report of a benchmark, rendered from its JSON report: the machine and set-up, the
latency per target, the latency added over direct and the ceilings found."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from loadtest.harness.proxy_settings import REPO_ROOT

_TARGET_PROCESS: Final = {"direct": "mock_cloud", "bare-proxy": "bare_proxy", "router": "router"}
# A process using this many cores of its one pinned core is taken as the bottleneck.
_SATURATED_CORES: Final = 0.85


def format_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown_report(report: dict[str, Any]) -> str:
    machine = report["machine"]
    settings = report["settings"]
    load_average = " / ".join(f"{v:.2f}" for v in machine["load_average_before"])
    lines = [
        "# Proxy overhead benchmark",
        "",
        f"- Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), kernel {machine['kernel']}, "
        f"load average before the run {load_average}",
        f"- Python {machine['python']}, aiohttp {machine['aiohttp']}, uvloop {machine['uvloop']}",
        f"- Proxies under test pinned to CPU {settings['proxy_cpu']}; mock cloud and load "
        f"generator on CPU {settings['load_cpu']}. Mock region: rtt 0, ttft 0, tokens_per_s 0.",
        f"- {settings['duration_s']:g} s measured after {settings['warmup_s']:g} s warm-up per run;"
        " latency from each request's scheduled send time (open loop). Streams: TTFT.",
        "- CPU columns are cores used during the run; other load is work that is not ours on each"
        " pinned core (this machine may be shared).",
        f"- Reproduce: `cd {REPO_ROOT} && {report['command']}`",
        "",
    ]
    lines += _latency_table(report["runs"])
    lines += _added_latency_table(report["added_latency"])
    if report["ceilings"]:
        lines += _ceiling_table(report["ceilings"], settings)
    return "\n".join(lines) + "\n"


def _latency_table(runs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "## Latency per target",
        "",
        "| kind | rate/s | target | ok | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms "
        "| mean ms | total p99 ms | sent/s | gen lag p99 ms | target CPU | target µs/req "
        "| mock+gen CPU | other load |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        result = run["result"]
        metric = result["ttft"] if run["kind"] == "chat-stream" else result["latency"]
        cells = [
            format_ms(metric[k]) if metric else "-"
            for k in ("p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms", "mean_ms")
        ]
        total_p99 = format_ms(result["latency"]["p99_ms"]) if result["latency"] else "-"
        lag = format_ms(result["send_lag"]["p99_ms"]) if result["send_lag"] else "-"
        target_cpu, load_cpu = _core_split(run["target"], run["process_cores"])
        per_request_us = target_cpu / max(result["sent_rate_per_s"], 1e-9) * 1e6
        other = " ".join(f"{cpu} {load:.2f}" for cpu, load in run["other_load_cores"].items())
        lines.append(
            f"| {run['kind']} | {run['rate_per_s']:g} | {run['target']} | {result['ok']} "
            f"| {result['errors']} | {' | '.join(cells)} | {total_p99} "
            f"| {result['sent_rate_per_s']:.0f} | {lag} | {target_cpu:.2f} | {per_request_us:.0f} "
            f"| {load_cpu:.2f} | {other} |"
        )
    return lines


def _added_latency_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "## Added latency over direct (target − direct, same rate)",
        "",
        "Scheduled: from each request's scheduled send time (what a client sees, generator lag "
        "included). From send: from the moment the generator started the request.",
        "",
        "| kind | rate/s | target | metric | added p50 ms | added p99 ms "
        "| added p50 ms (from send) | added p99 ms (from send) |",
        "|---|---:|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['kind']} | {row['rate_per_s']:g} | {row['target']} | {row['metric']} "
            f"| {format_ms(row['added_p50_ms'])} | {format_ms(row['added_p99_ms'])} "
            f"| {format_ms(row['added_p50_ms_from_send'])} "
            f"| {format_ms(row['added_p99_ms_from_send'])} |"
        )
    return lines


def _ceiling_table(ceilings: Sequence[dict[str, Any]], settings: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"## Highest sustained rate (p99 < {settings['p99_budget_ms']:g} ms, no errors)",
        "",
        f"Step search from {settings['search_start_rate']:g} req/s by "
        f"{settings['search_step_rate']:g}, then bisection to "
        f"{settings['search_resolution_rate']:g} req/s; {settings['search_duration_s']:g} s "
        f"per trial after {settings['search_warmup_s']:g} s warm-up; a failing rate is tried "
        "twice. The direct row is the ceiling of the measuring setup itself (mock cloud and "
        "generator sharing one core). Where the mock+generator core ran out first, a proxy's "
        "row is a lower bound of what the proxy alone sustains.",
        "",
        "| target | kind | sustained req/s | first failing req/s | trials "
        "| cores at failure: target / mock+gen | note |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for ceiling in ceilings:
        failed = [s for s in ceiling["steps"] if not s["passed"]]
        splits = [_core_split(ceiling["target"], s["process_cores"]) for s in failed]
        target_cores = max((t for t, _ in splits), default=0.0)
        load_cores = max((ld for _, ld in splits), default=0.0)
        notes = []
        if not ceiling["complete"]:
            notes.append("search stopped by its time budget")
        if failed and load_cores >= _SATURATED_CORES and ceiling["target"] != "direct":
            notes.append("mock+generator core saturated first: a lower bound")
        busiest = max(
            (max(s["other_load_cores"].values(), default=0.0) for s in ceiling["steps"]),
            default=0.0,
        )
        if busiest > settings["max_other_load"]:
            notes.append(f"foreign load up to {busiest:.2f} cores")
        at_failure = f"{target_cores:.2f} / {load_cores:.2f}" if failed else "-"
        lines.append(
            f"| {ceiling['target']} | {ceiling['kind']} "
            f"| {_rate(ceiling['max_sustained_rate_per_s'])} "
            f"| {_rate(ceiling['first_failed_rate_per_s'])} | {len(ceiling['steps'])} "
            f"| {at_failure} | {'; '.join(notes)} |"
        )
    return lines


def _core_split(target: str, process_cores: dict[str, float]) -> tuple[float, float]:
    """(cores of the target's own process, cores of the mock cloud + load generator)."""
    target_cores = process_cores.get(_TARGET_PROCESS.get(target, ""), 0.0)
    return target_cores, process_cores.get("mock_cloud", 0.0) + process_cores.get("loadgen", 0.0)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
