"""The report of loadtest/studies/cache_workload.py: semantic-on against semantic-off at each rate,
the saturation rate, and the issue's targets, as Markdown."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

SEMANTIC_ON: Final = "semantic-on"
# Saturation: busy or late lookups past this share, or the router not keeping up.
BUSY_SHARE_LIMIT: Final = 0.01
THROUGHPUT_FLOOR: Final = 0.95
ERROR_SHARE_LIMIT: Final = 0.001
# The issue's targets (ms): what the semantic tier may add to a miss at p99; a semantic hit's p99.
MISS_ADDED_P99_TARGET_MS: Final = 1.0
SEMANTIC_HIT_P99_TARGET_MS: Final = 10.0


def comparisons(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per rate, semantic-on minus semantic-off: a miss's p50 and p99, and the semantic hit."""
    by_key = {(r["tenant"], r["rate_per_s"]): r for r in rows}
    found = []
    for rate in sorted({r["rate_per_s"] for r in rows}):
        on, off = by_key.get((SEMANTIC_ON, rate)), by_key.get(("semantic-off", rate))
        if on is None or off is None:
            continue
        on_miss, off_miss = (
            on["latency_by_verdict"].get("miss"),
            off["latency_by_verdict"].get("miss"),
        )
        semantic = on["latency_by_verdict"].get("hit-semantic")
        entry: dict[str, Any] = {"rate_per_s": rate}
        for q in ("p50_ms", "p99_ms"):
            both = on_miss and off_miss
            entry[f"miss_{q}_off"] = off_miss[q] if off_miss else None
            entry[f"miss_{q}_on"] = on_miss[q] if on_miss else None
            entry[f"miss_added_{q}"] = on_miss[q] - off_miss[q] if both else None
        entry["semantic_hit_p99_ms"] = semantic["p99_ms"] if semantic else None
        found.append(entry)
    return found


def _ms(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.2f}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "–"


def markdown(report: dict[str, Any]) -> str:
    machine, rows = report["machine"], report["results"]
    lines = [
        f"`{report['command']}` at commit {report['commit']}, {report['started_utc']}; "
        f"{machine['nproc']} cores ({machine['cpu_model']}), Python {machine['python']}, "
        f"Linux {machine['kernel']}, load average before {machine['load_average_before'][0]:.2f}; "
        f"{report['pinning']}. Workload seed {report['settings']['seed']}: 30% repeats, 20% "
        f"rewordings, 50% new; {report['settings']['warmup_s']:g} s warm-up, then up to "
        f"{report['settings']['duration_s']:g} s measured per run; latency from the scheduled "
        "send time to the answer's last byte.",
        "",
        "| tenant | rate/s | measured s | answered/s | errors | send lag p99 ms | p50 ms | p99 ms "
        "| router CPU µs/req | router cores | foreign cores (router's) | verdicts | lookups "
        "| kept up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for row in rows:
        latency, lag = row["latency"] or {}, row["send_lag"] or {}
        on_cpu = row["foreign_cores_router_cpu"]
        on_router_cpu = "" if on_cpu is None else f" ({on_cpu:.2f})"
        lines.append(
            f"| {row['tenant']}{' (search)' if row.get('search') else ''} | {row['rate_per_s']} "
            f"| {row['duration_s']:g} | {row['throughput_per_s']:.0f} | {row['errors']} "
            f"| {_ms(lag.get('p99_ms'))} | {_ms(latency.get('p50_ms'))} "
            f"| {_ms(latency.get('p99_ms'))} | {row['router_cpu_us_per_request']:.0f} "
            f"| {row['router_cores']:.2f} | {row['foreign_cores']:.2f}{on_router_cpu} "
            f"| {_counts(row['verdicts'])} | {_counts(row['lookups'])} "
            f"| {'; '.join(row['saturated_because']) or 'yes'} |"
        )
    lines += [
        "",
        "Latency by verdict (ms), and by verdict and lookup where the router said one:",
        "",
        "| tenant | rate/s | verdict | count | p50 | p90 | p99 | max |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        groups = dict(row["latency_by_verdict"])
        if set(row["lookups"]) - {"none"}:
            groups |= row["latency_by_verdict_and_lookup"]
        for verdict, figures in groups.items():
            shown = " | ".join(_ms(figures[k]) for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))
            lines.append(
                f"| {row['tenant']} | {row['rate_per_s']} | {verdict} | {figures['count']} "
                f"| {shown} |"
            )
    lines += ["", "What each kind of question was answered (measured window):", ""]
    lines += [
        f"- {r['tenant']} at {r['rate_per_s']}/s: {_counts(r['kind_verdicts'])}" for r in rows
    ]
    lines += _comparison_lines(report["comparisons"])
    lines += ["", _saturation_line(report["saturation"], report["settings"])]
    errors = [f"- {r['tenant']} at {r['rate_per_s']}/s: {r['errors_by_kind']}" for r in rows]
    if any(r["errors"] for r in rows):
        lines += ["", "Errors:", *(e for e, r in zip(errors, rows, strict=True) if r["errors"])]
    return "\n".join(lines) + "\n"


def _comparison_lines(found: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "Semantic tier on minus off, a miss (ms), and the targets (a miss adds ≤ "
        f"{MISS_ADDED_P99_TARGET_MS:g} ms p99; a semantic hit ≤ {SEMANTIC_HIT_P99_TARGET_MS:g} ms "
        "p99 end to end):",
        "",
        "| rate/s | miss p50 off / on | added p50 | miss p99 off / on | added p99 | added p99 "
        "target | semantic hit p99 | target |",
        "|---:|---|---:|---|---:|---|---:|---|",
    ]
    for entry in found:
        added, semantic = entry["miss_added_p99_ms"], entry["semantic_hit_p99_ms"]
        miss_met = (
            "–" if added is None else ("met" if added <= MISS_ADDED_P99_TARGET_MS else "NOT met")
        )
        hit_met = (
            "–"
            if semantic is None
            else ("met" if semantic <= SEMANTIC_HIT_P99_TARGET_MS else "NOT met")
        )
        lines.append(
            f"| {entry['rate_per_s']} | {_ms(entry['miss_p50_ms_off'])} / "
            f"{_ms(entry['miss_p50_ms_on'])} | {_ms(entry['miss_added_p50_ms'])} "
            f"| {_ms(entry['miss_p99_ms_off'])} / {_ms(entry['miss_p99_ms_on'])} "
            f"| {_ms(added)} | **{miss_met}** | {_ms(semantic)} | **{hit_met}** |"
        )
    return lines


def _saturation_line(found: dict[str, Any], settings: dict[str, Any]) -> str:
    rule = (
        f"busy lookups > {BUSY_SHARE_LIMIT:.0%}, or answered < {THROUGHPUT_FLOOR:.0%} of the "
        f"offered rate, or errors > {ERROR_SHARE_LIMIT:.1%}, or p99 > "
        f"{settings['p99_budget_ms']:g} ms"
    )
    lowest, highest = found["lowest_saturated_rate_per_s"], found["highest_rate_kept_up_per_s"]
    if lowest is None:
        return (
            f"**Saturation (semantic-on; {rule}): not reached** up to "
            f"{found['max_rate_tried_per_s']} req/s (bound {found['bound_max_rate_per_s']})."
        )
    kept = f"the highest that kept up: {highest} req/s" if highest else "no rate tried kept up"
    control = found["control_reasons"]
    if control is not None:
        said = "; ".join(control) or "kept up"
        kept += f"; semantic-off at {lowest} req/s: {said}"
    return (
        f"**Saturation (semantic-on; {rule}): at {lowest} req/s** ({kept}); there: "
        f"{'; '.join(found['reasons'])}."
    )
