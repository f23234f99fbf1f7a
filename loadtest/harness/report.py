"""Runs as people read them: a Markdown table per run (`markdown_report`) with the standard
metrics of each phase, and runs side by side (`comparison`) with each metric's ratio to the
first run's, or a line-up's targets (`side_by_side`) with ratios to direct's, as this machine's
noise makes absolute times worth less than ratios."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

_NONE = "-"


def markdown_report(records: Sequence[dict[str, Any]]) -> str:
    """A table: a row per phase (offered and sent rate, successes and errors by class, end-to-end
    latency, TTFT, TPOT and ITL percentiles, output tokens and goodput per second, the
    generator's own lateness)."""
    lines = [
        "| scenario | phase | target | offered/s | sent/s | ok | errors | latency p50/p99 ms "
        "| TTFT p50/p99 ms | TPOT p50/p99 ms | ITL p50/p99 ms | out tok/s | goodput/s "
        "| send lag p99 ms | target cores / RSS MiB | fault: verdict | cache hits "
        "| per tenant: ok, latency p50/p99 ms |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | --- | ---: | --- |",
    ]
    for record in records:
        result = record["result"]
        errors = result["errors_by_kind"]
        lines.append(
            "| "
            + " | ".join(
                [
                    record["scenario"],
                    record["phase"],
                    record["target"],
                    _offered(result),
                    f"{result['sent_rate_per_s']:.1f}",
                    str(result["ok"]),
                    ", ".join(f"{k}={v}" for k, v in errors.items()) or "0",
                    _pair(result["latency"]),
                    _pair(result["ttft"]),
                    _pair(result["tpot"]),
                    _pair(result["itl"]),
                    f"{result['output_tokens_per_s']:.0f}",
                    f"{result['goodput_per_s']:.1f}",
                    _one(result["send_lag"], "p99_ms"),
                    _process(record.get("target_process")),
                    _fault_verdict(record),
                    _cache_hits(result.get("cache")),
                    _per_tenant(result.get("tenants")),
                ]
            )
            + " |"
        )
    slos = {str(r["result"]["slo"]) for r in records if r["result"]["slo"]}
    if slos:
        lines.append("")
        lines.append(f"Goodput counts the successes that met every SLO: {', '.join(sorted(slos))}.")
    return "\n".join(lines) + "\n"


_COMPARED = (
    ("latency p50 ms", "latency", "p50_ms"),
    ("latency p99 ms", "latency", "p99_ms"),
    ("TTFT p50 ms", "ttft", "p50_ms"),
    ("TTFT p99 ms", "ttft", "p99_ms"),
    ("TPOT p50 ms", "tpot", "p50_ms"),
    ("ITL p99 ms", "itl", "p99_ms"),
)


def comparison(runs: Sequence[tuple[str, Sequence[dict[str, Any]]]]) -> str:
    """Runs of the same scenario side by side, phase by phase: each metric, and its ratio to the
    first run's (`1.25x`: a quarter more)."""
    if not runs:
        return ""
    first_records = runs[0][1]
    labels = [label for label, _ in runs]
    lines = [
        "| phase | metric | " + " | ".join(labels) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in labels) + " |",
    ]
    for index, base in enumerate(first_records):
        for title, series, field in _COMPARED:
            reference = _value(base["result"], series, field)
            if reference is None:
                continue
            cells = []
            for _, records in runs:
                value = (
                    _value(records[index]["result"], series, field)
                    if index < len(records)
                    else None
                )
                cells.append(_with_ratio(value, reference))
            lines.append(f"| {base['phase']} | {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def target_names(records: Sequence[dict[str, Any]]) -> list[str]:
    """The targets records name, in their order of first appearance."""
    return list(dict.fromkeys(str(record["target"]) for record in records))


def _cpu_us_per_request(record: dict[str, Any]) -> float | None:
    # The target's cores over the phase per request sent: close to its CPU per request while
    # it keeps up (the phase's wall time also holds the last answers' drain).
    usage, sent = record.get("target_process"), record["result"]["sent_rate_per_s"]
    return None if usage is None or not sent else usage["cpu_cores"] / sent * 1e6


def _rss_mib(record: dict[str, Any]) -> float | None:
    usage = record.get("target_process")
    return None if usage is None else float(usage["rss_max_mib"])


# A line-up's table, per phase: the metric, how a record gives it, its format, and whether the
# difference to the reference is shown (the latency a target adds).
_LINED_UP: tuple[tuple[str, Callable[[dict[str, Any]], float | None], str, bool], ...] = (
    ("latency p50 ms", lambda r: _value(r["result"], "latency", "p50_ms"), ".2f", True),
    ("latency p99 ms", lambda r: _value(r["result"], "latency", "p99_ms"), ".2f", True),
    ("TTFT p50 ms", lambda r: _value(r["result"], "ttft", "p50_ms"), ".2f", True),
    ("TTFT p99 ms", lambda r: _value(r["result"], "ttft", "p99_ms"), ".2f", True),
    ("throughput ok/s", lambda r: float(r["result"]["ok_rate_per_s"]), ".1f", False),
    ("goodput /s", lambda r: float(r["result"]["goodput_per_s"]), ".1f", False),
    ("CPU µs/request", _cpu_us_per_request, ".0f", False),
    ("RSS max MiB", _rss_mib, ".0f", False),
)


def side_by_side(records: Sequence[dict[str, Any]]) -> str:
    """The records of a line-up (`run --start`: several targets, the same phases, one run) as
    one table: per phase and metric, each target's value and its ratio to `direct`'s (else the
    first target's), and for latencies the difference, what the target adds over direct at the
    same rate in the same run (`12.40 (+11.90, 24.8x)`)."""
    names = target_names(records)
    if not names:
        return ""
    reference = "direct" if "direct" in names else names[0]
    by_run = {(r["scenario"], r["phase"], r["target"]): r for r in records}
    phases = list(dict.fromkeys((record["scenario"], record["phase"]) for record in records))
    several = len({scenario for scenario, _ in phases}) > 1
    lines = [
        "| phase | metric | " + " | ".join(names) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in names) + " |",
    ]
    for scenario, phase_name in phases:
        runs = [by_run.get((scenario, phase_name, name)) for name in names]
        base = by_run.get((scenario, phase_name, reference))
        phase = f"{scenario} {phase_name}" if several else phase_name
        for title, read, spec, added in _LINED_UP:
            values = [None if run is None else read(run) for run in runs]
            if all(value is None for value in values):
                continue
            ref = None if base is None else read(base)
            cells = [
                _lined_up(value, None if name == reference else ref, spec, added)
                for name, value in zip(names, values, strict=True)
            ]
            lines.append(f"| {phase} | {title} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"Ratios to {reference}; (+n) is the latency added to {reference}'s at the same rate in "
        "the same run. CPU per request and RSS are the target's process's (direct's is the "
        "simulated cloud's)."
    )
    return "\n".join(lines) + "\n"


def _lined_up(value: float | None, reference: float | None, spec: str, added: bool) -> str:
    if value is None:
        return _NONE
    if reference is None or reference <= 0:
        return format(value, spec)
    difference = f"{value - reference:+{spec}}, " if added else ""
    return f"{value:{spec}} ({difference}{value / reference:.2f}x)"


def _value(result: dict[str, Any], series: str, field: str) -> float | None:
    summary = result.get(series)
    if not isinstance(summary, dict):
        return None
    value = summary.get(field)
    return float(value) if isinstance(value, int | float) else None


def _with_ratio(value: float | None, reference: float) -> str:
    if value is None:
        return _NONE
    if reference <= 0:
        return f"{value:.2f}"
    return f"{value:.2f} ({value / reference:.2f}x)"


def _offered(result: dict[str, Any]) -> str:
    """The offered rate; a closed loop has none (what it achieved is in sent/s)."""
    if result.get("loop") == "closed":
        return f"closed x{result['concurrency']}"
    poisson = " poisson" if result.get("arrival") == "poisson" else ""
    return f"{result['offered_rate_per_s']:g}{poisson}"


def _cache_hits(cache: dict[str, Any] | None) -> str:
    """The hits and their share of the successes, when the target said anything of its cache."""
    if cache is None or cache["hit_share"] is None:
        return _NONE
    return f"{cache['hits']} ({cache['hit_share']:.0%})"


def _per_tenant(tenants: dict[str, Any] | None) -> str:
    if not tenants:
        return _NONE
    return "; ".join(
        f"{name}: {tenant['ok']}/{tenant['requests']}, {_pair(tenant['latency'])}"
        for name, tenant in tenants.items()
    )


def _pair(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return _NONE
    return f"{summary['p50_ms']:.2f} / {summary['p99_ms']:.2f}"


def _process(usage: dict[str, Any] | None) -> str:
    if usage is None:
        return _NONE
    return f"{usage['cpu_cores']:.2f} / {usage['rss_max_mib']:.0f}"


def _one(summary: dict[str, Any] | None, field: str) -> str:
    return _NONE if summary is None else f"{summary[field]:.2f}"


def _fault_verdict(record: dict[str, Any]) -> str:
    """`mode: verdict` for a phase under a fault of the simulated cloud or a disruption of the
    router's surroundings, `-` for a phase under neither."""
    if "fault" in record:
        checked = " + accounting" if "accounting" in record else ""
        return f"{record['fault']}{checked}: {record['verdict']}"
    if "disruption" in record:
        return f"{record['disruption']['kind']}: {record['verdict']}"
    return _NONE
