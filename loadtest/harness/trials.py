"""Trials: one run of the load generator (a separate process) against one target at one kind and
rate, the matrix of them, and the latency each proxy adds over direct at the same rate."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtest.harness.cpu import CpuAccount, wait_for_quiet
from loadtest.harness.processes import child_env, pinned_to
from loadtest.harness.proxy_report import format_ms
from loadtest.harness.proxy_settings import REPO_ROOT, BenchSettings
from loadtest.harness.targets import Target


@dataclass(slots=True)
class Trial:
    target: str
    kind: str
    rate_per_s: float
    result: dict[str, Any]
    # Cores used by processes other than ours during the run, per pinned CPU: a shared machine
    # shows up here rather than silently in the tail.
    other_load_cores: dict[str, float] = field(default_factory=dict)
    # Cores used by each of our processes (mock_cloud, bare_proxy, router, loadgen) during the run.
    process_cores: dict[str, float] = field(default_factory=dict)
    quiet_wait_s: float = 0.0

    def metric(self) -> str:
        return "ttft" if self.kind == "chat-stream" else "latency"

    def percentile_ms(self, name: str, *, from_send: bool = False) -> float | None:
        summary = self.result.get(self.metric() + ("_from_send" if from_send else ""))
        return float(summary[name]) if summary else None

    def send_lag_p99_ms(self) -> float:
        lag = self.result.get("send_lag")
        return float(lag["p99_ms"]) if lag else 0.0

    def sustains(self, p99_budget_ms: float) -> bool:
        p99 = self.percentile_ms("p99_ms")
        return self.result["errors"] == 0 and p99 is not None and p99 < p99_budget_ms


def run_trial(
    settings: BenchSettings,
    account: CpuAccount,
    target: Target,
    kind: str,
    rate: float,
    *,
    search: bool = False,
) -> Trial:
    duration_s = settings.search_duration_s if search else settings.duration_s
    warmup_s = settings.search_warmup_s if search else settings.warmup_s
    quiet_wait_s = wait_for_quiet(settings, account)
    options = {
        "--url": target.base_url,
        "--kind": kind,
        "--rate": f"{rate:g}",
        "--duration": f"{duration_s:g}",
        "--warmup": f"{warmup_s:g}",
        "--model": settings.model,
        "--api-key": settings.api_key,
        "--timeout": "10",
        "--drain-timeout": "5",
    }
    argv = [sys.executable, "-m", "loadtest.generator", *(p for kv in options.items() for p in kv)]
    before, started = account.snapshot(), time.monotonic()
    completed = subprocess.run(
        argv,
        cwd=REPO_ROOT,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=warmup_s + duration_s + 60.0,
        preexec_fn=pinned_to(settings.load_cpu),
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"load generator failed: {completed.stderr.decode(errors='replace')}")
    account.processes.check_alive()
    other_load, process_cores = account.cores_between(
        before, account.snapshot(), time.monotonic() - started
    )
    trial = Trial(
        target.name,
        kind,
        rate,
        json.loads(completed.stdout),
        other_load,
        process_cores,
        quiet_wait_s,
    )
    p50, p99 = trial.percentile_ms("p50_ms"), trial.percentile_ms("p99_ms")
    print(
        f"[bench] {target.name:<10} {kind:<11} {rate:>6g}/s  ok={trial.result['ok']} "
        f"err={trial.result['errors']} {trial.metric()} "
        f"p50={format_ms(p50)} p99={format_ms(p99)} ms "
        f"lag p99={trial.send_lag_p99_ms():.2f} ms cores={process_cores} other={other_load}",
        file=sys.stderr,
    )
    return trial


def run_matrix(
    settings: BenchSettings, account: CpuAccount, targets: Sequence[Target]
) -> list[Trial]:
    # Targets interleaved per rate so that drift in the machine's state hits them alike.
    return [
        run_trial(settings, account, target, kind, rate)
        for kind in settings.kinds
        for rate in settings.rates
        for target in targets
    ]


def added_latency(trials: Sequence[Trial]) -> list[dict[str, Any]]:
    direct = {(t.kind, t.rate_per_s): t for t in trials if t.target == "direct"}
    rows = []
    for trial in trials:
        base = direct.get((trial.kind, trial.rate_per_s))
        if trial.target == "direct" or base is None:
            continue
        row: dict[str, Any] = {
            "target": trial.target,
            "kind": trial.kind,
            "rate_per_s": trial.rate_per_s,
            "metric": trial.metric(),
        }
        for name in ("p50_ms", "p99_ms"):
            for suffix, from_send in (("", False), ("_from_send", True)):
                mine = trial.percentile_ms(name, from_send=from_send)
                theirs = base.percentile_ms(name, from_send=from_send)
                added = None if mine is None or theirs is None else round(mine - theirs, 3)
                row[f"added_{name}{suffix}"] = added
        rows.append(row)
    return rows
