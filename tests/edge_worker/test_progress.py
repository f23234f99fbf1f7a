"""Progress lines: each step says when it starts and how many seconds it took, or that it failed."""

from __future__ import annotations

import io

import pytest

from edge_worker.progress import Progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_step_reports_its_start_and_its_seconds() -> None:
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(out, clock=clock, live=False)
    with progress.step("build int4"):
        clock.now += 39.54
    assert out.getvalue().splitlines() == ["  ... build int4", "  done build int4 (39.5 s)"]
    assert [(s.label, round(s.seconds, 2)) for s in progress.steps] == [("build int4", 39.54)]


def test_a_failing_step_says_so_and_lets_the_error_through() -> None:
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(out, clock=clock, live=False)
    with pytest.raises(RuntimeError), progress.step("convert"):
        clock.now += 2
        raise RuntimeError("boom")
    assert out.getvalue().splitlines()[-1] == "  FAILED convert after 2.0 s"
    assert progress.steps == []
