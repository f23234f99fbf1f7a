"""A run as one self-contained HTML page: the report's table, and per phase its latency over time
(failures marked; a faulted phase shaded as the fault's window), its error timeline (answers and
errors by class per time bin, the fault's window shaded) and its latency percentile curve; for a
scenario of several phases, throughput and goodput against the offered load. The plots are drawn
with matplotlib as inline SVG: the page needs nothing beside it."""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from typing import Any

from loadtest.harness.report import markdown_report


def html_report(records: Sequence[dict[str, Any]], title: str = "Load-test report") -> str:
    import matplotlib

    matplotlib.use("Agg")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}"
        "figure{display:inline-block;margin:0 1em 1em 0}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _table(markdown_report(records)),
    ]
    for record in records:
        label = f"{record['scenario']} / {record['phase']} / {record['target']}"
        fault = f" (fault: {record['fault']}, {record['verdict']})" if "fault" in record else ""
        parts.append(f"<h2>{html.escape(label + fault)}</h2>")
        requests = record.get("requests")
        if requests:
            window = _window(record)
            parts.append(_figure(_over_time(requests, window)))
            parts.append(_figure(_error_timeline(requests, window)))
            parts.append(_figure(_percentiles(requests)))
    by_scenario: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_scenario.setdefault(f"{record['scenario']} / {record['target']}", []).append(record)
    for label, phases in by_scenario.items():
        if len(phases) > 1:
            parts.append(f"<h2>{html.escape(label)}: throughput against offered load</h2>")
            parts.append(_figure(_throughput(phases)))
    parts.append("</body></html>")
    return "\n".join(parts)


def _table(markdown: str) -> str:
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    out = ["<table>"]
    for number, row in enumerate(rows):
        if number == 1:
            continue  # the alignment row
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        tag = "th" if number == 0 else "td"
        out.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _figure(svg: str) -> str:
    return f"<figure>{svg}</figure>"


def _window(record: dict[str, Any]) -> tuple[float, float] | None:
    """When the phase's fault held, in seconds into the phase: a fault holds for the whole phase,
    a disruption from its `at_s` to its `until_s` (the phase's end when it has none)."""
    due = record.get("requests", {}).get("due_s") or [0.0]
    end = max(due)
    if "fault" in record:
        return 0.0, end
    disruption = record.get("disruption")
    if isinstance(disruption, dict) and "at_s" in disruption:
        until = disruption.get("until_s")
        return float(disruption["at_s"]), end if until is None else float(until)
    return None


def _over_time(requests: dict[str, list[Any]], window: tuple[float, float] | None) -> str:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3))
    due, latency = requests["due_s"], requests["latency_ms"]
    ok = [(t, v) for t, v in zip(due, latency, strict=True) if v is not None]
    failed = [t for t, v in zip(due, latency, strict=True) if v is None]
    if ok:
        axes.scatter([t for t, _ in ok], [v for _, v in ok], s=4, label="latency")
    if failed:
        top = max((v for _, v in ok), default=1.0)
        axes.scatter(failed, [top] * len(failed), s=12, marker="x", color="red", label="failed")
    _shade(axes, window)
    axes.set_xlabel("seconds into the phase (scheduled)")
    axes.set_ylabel("ms")
    axes.set_title("latency over time")
    axes.legend(fontsize=7)
    return _svg(figure)


# At most this many bins in an error timeline, at least this wide.
_TIMELINE_BINS = 60
_TIMELINE_MIN_BIN_S = 0.1


def error_timeline(
    due_s: Sequence[float], outcomes: Sequence[str]
) -> tuple[float, dict[str, list[int]]]:
    """Requests per time bin by outcome (`ok` and each error class), by when each was due: the
    bin's width and a count per bin for each outcome seen."""
    end = max(due_s, default=0.0)
    width = max(_TIMELINE_MIN_BIN_S, end / _TIMELINE_BINS)
    bins = int(end / width) + 1
    counts: dict[str, list[int]] = {}
    for due, outcome in zip(due_s, outcomes, strict=True):
        counts.setdefault(outcome, [0] * bins)[min(int(due / width), bins - 1)] += 1
    return width, counts


def _error_timeline(requests: dict[str, list[Any]], window: tuple[float, float] | None) -> str:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3))
    width, counts = error_timeline(requests["due_s"], requests["outcome"])
    bottom = [0] * len(next(iter(counts.values()), []))
    starts = [i * width for i in range(len(bottom))]
    ordered = sorted(counts, key=lambda outcome: (outcome != "ok", outcome))
    for outcome in ordered:
        per_bin = counts[outcome]
        color = "tab:green" if outcome == "ok" else None
        axes.bar(starts, per_bin, width, bottom=bottom, align="edge", label=outcome, color=color)
        bottom = [b + n for b, n in zip(bottom, per_bin, strict=True)]
    _shade(axes, window)
    axes.set_xlabel("seconds into the phase (scheduled)")
    axes.set_ylabel(f"requests per {width:g} s")
    errors = sum(sum(per_bin) for outcome, per_bin in counts.items() if outcome != "ok")
    axes.set_title(f"answers and errors over time ({errors} errors)")
    axes.legend(fontsize=7)
    return _svg(figure)


def _shade(axes: Any, window: tuple[float, float] | None) -> None:
    if window is not None:
        axes.axvspan(window[0], window[1], color="orange", alpha=0.12, label="fault")


def _percentiles(requests: dict[str, list[Any]]) -> str:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3))
    for name in ("latency_ms", "ttft_ms"):
        values = sorted(v for v in requests[name] if v is not None)
        if values:
            ranks = [100.0 * (i + 1) / len(values) for i in range(len(values))]
            axes.plot(ranks, values, label=name.removesuffix("_ms"))
    axes.set_xlabel("percentile")
    axes.set_ylabel("ms")
    axes.set_title("percentile curve")
    axes.legend(fontsize=7)
    return _svg(figure)


def _throughput(phases: Sequence[dict[str, Any]]) -> str:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3))
    offered = [p["result"]["offered_rate_per_s"] for p in phases]
    axes.plot(offered, offered, linestyle=":", color="grey", label="offered")
    axes.plot(offered, [p["result"]["ok_rate_per_s"] for p in phases], marker="o", label="ok/s")
    goodput = [p["result"]["goodput_per_s"] for p in phases]
    axes.plot(offered, goodput, marker="s", label="goodput/s")
    axes.set_xlabel("offered requests/s")
    axes.set_ylabel("requests/s")
    axes.legend(fontsize=7)
    return _svg(figure)


def _svg(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.tight_layout()
    figure.savefig(buffer, format="svg")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]
