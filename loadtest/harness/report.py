"""Runs as people read them: a Markdown table per run (`markdown_report`) with the standard
metrics of each phase, and runs side by side (`comparison`) with each metric's ratio to the
first run's, as this machine's noise makes absolute times worth less than ratios."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_NONE = "-"


def markdown_report(records: Sequence[dict[str, Any]]) -> str:
    """A table: a row per phase (offered and sent rate, successes and errors by class, end-to-end
    latency, TTFT, TPOT and ITL percentiles, output tokens and goodput per second, the
    generator's own lateness)."""
    lines = [
        "| scenario | phase | target | offered/s | sent/s | ok | errors | latency p50/p99 ms "
        "| TTFT p50/p99 ms | TPOT p50/p99 ms | ITL p50/p99 ms | out tok/s | goodput/s "
        "| send lag p99 ms | target cores / RSS MiB | fault: verdict |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | --- |",
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
                    f"{result['offered_rate_per_s']:g}",
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
                    f"{record['fault']}: {record['verdict']}" if "fault" in record else _NONE,
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
