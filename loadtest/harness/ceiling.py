"""The ceiling search: the highest rate a target sustains with p99 under the budget and no errors,
stepping up until a rate fails and then bisecting, within a time budget."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from loadtest.harness.cpu import CpuAccount
from loadtest.harness.proxy_settings import BenchSettings
from loadtest.harness.targets import Target
from loadtest.harness.trials import run_trial


@dataclass(slots=True)
class Ceiling:
    target: str
    kind: str
    max_sustained_rate_per_s: float | None = None
    first_failed_rate_per_s: float | None = None
    complete: bool = False
    steps: list[dict[str, Any]] = field(default_factory=list)


def search_ceiling(
    settings: BenchSettings, account: CpuAccount, target: Target, kind: str, budget_s: float
) -> Ceiling:
    """Step up until a rate fails, then bisect between the last pass and the first failure.
    A failure counts only if a second trial at that rate fails too, so one disturbed trial on a
    shared machine does not end the search."""
    ceiling = Ceiling(target.name, kind)
    deadline = time.monotonic() + budget_s
    trial_s = settings.search_warmup_s + settings.search_duration_s + 2.0

    def trial_passes(rate: float) -> bool | None:
        if time.monotonic() + trial_s > deadline or len(ceiling.steps) >= 60:
            return None
        trial = run_trial(settings, account, target, kind, rate, search=True)
        passed = trial.sustains(settings.p99_budget_ms)
        ceiling.steps.append(
            {
                "rate_per_s": rate,
                "passed": passed,
                "errors": trial.result["errors"],
                "p99_ms": trial.percentile_ms("p99_ms"),
                "send_lag_p99_ms": trial.send_lag_p99_ms(),
                "other_load_cores": trial.other_load_cores,
                "process_cores": trial.process_cores,
            }
        )
        return passed

    def attempt(rate: float) -> bool | None:
        passed = trial_passes(rate)
        return trial_passes(rate) if passed is False else passed

    rate = settings.search_start_rate
    while rate <= settings.search_max_rate:
        passed = attempt(rate)
        if passed is None:
            return ceiling
        if not passed:
            ceiling.first_failed_rate_per_s = rate
            break
        ceiling.max_sustained_rate_per_s = rate
        rate += settings.search_step_rate
    else:
        ceiling.complete = True  # sustained the highest rate we were allowed to try
        return ceiling
    low, high = ceiling.max_sustained_rate_per_s or 0.0, rate
    while high - low > settings.search_resolution_rate:
        mid = round((low + high) / 2 / 10) * 10
        if not low < mid < high:
            break
        passed = attempt(mid)
        if passed is None:
            return ceiling
        if passed:
            low = ceiling.max_sustained_rate_per_s = mid
        else:
            high = ceiling.first_failed_rate_per_s = mid
    ceiling.complete = True
    return ceiling
