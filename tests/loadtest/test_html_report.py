"""The HTML report's error timeline: requests counted per time bin by outcome, and the fault's
window shaded where it held (the whole phase for a fault of the simulated cloud, from `at_s` for a
disruption)."""

from __future__ import annotations

from typing import Any

from loadtest.harness.html_report import _window, error_timeline, html_report


def test_the_timeline_counts_each_outcome_per_bin() -> None:
    due = [0.0, 0.05, 1.0, 2.0, 2.04, 6.0]
    outcomes = ["ok", "http_503", "ok", "stream_error", "stream_error", "ok"]
    width, counts = error_timeline(due, outcomes)
    assert width == 0.1  # 6 s over at most 60 bins, at least 0.1 s wide
    assert sum(counts["ok"]) == 3 and counts["ok"][0] == 1 and counts["ok"][-1] == 1
    assert counts["http_503"][0] == 1 and sum(counts["http_503"]) == 1
    assert counts["stream_error"][20] == 2
    assert {len(per_bin) for per_bin in counts.values()} == {61}


def test_a_long_phase_gets_wider_bins() -> None:
    width, counts = error_timeline([0.0, 59.9, 120.0], ["ok", "ok", "TimeoutError"])
    assert width == 2.0 and len(counts["ok"]) == 61
    assert counts["TimeoutError"][-1] == 1


def _record(**extra: Any) -> dict[str, Any]:
    requests = {
        "due_s": [0.0, 1.0, 4.0],
        "latency_ms": [10.0, None, 12.0],
        "ttft_ms": [None, None, None],
        "outcome": ["ok", "http_500", "ok"],
    }
    result = {
        "offered_rate_per_s": 1.0,
        "sent_rate_per_s": 1.0,
        "ok": 2,
        "errors_by_kind": {"http_500": 1},
        "ok_rate_per_s": 0.5,
        "goodput_per_s": 0.5,
        "output_tokens_per_s": 8.0,
        "slo": {},
        **dict.fromkeys(("latency", "ttft", "tpot", "itl", "send_lag")),
    }
    return {
        "scenario": "s",
        "phase": "p",
        "target": "t",
        "requests": requests,
        "result": result,
        **extra,
    }


def test_the_window_is_the_faults_or_the_disruptions() -> None:
    assert _window(_record()) is None
    assert _window(_record(fault="stall", verdict="pass")) == (0.0, 4.0)
    assert _window(_record(disruption={"kind": "redis_loss", "at_s": 1.5})) == (1.5, 4.0)
    assert _window(_record(disruption={"kind": "x", "at_s": 1.0, "until_s": 2.0})) == (1.0, 2.0)


def test_the_page_has_an_error_timeline_per_phase() -> None:
    page = html_report([_record(fault="error_once", verdict="partial")], title="t")
    assert "answers and errors over time (1 errors)" in page
    assert page.count("<svg") == 3
