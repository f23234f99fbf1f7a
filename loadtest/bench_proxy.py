"""Benchmark: the latency a proxy adds over talking to the (simulated) cloud directly.

Starts on loopback the mock cloud with one zero-latency region, the bare aiohttp proxy and, when
`--router-cmd` is given, the router. Every proxy under test is pinned to one core (`--proxy-cpu`)
and the mock cloud and the load generator to another (`--load-cpu`), so "one process on one core"
is what is measured. For each kind and rate it runs the open-loop generator (a separate process)
against each target, reports the added latency (target percentile minus direct percentile at the
same rate; TTFT for streams), then searches for the highest rate each target sustains with p99 under
the budget and no errors. Every subprocess is killed at the end, also on error and Ctrl-C.

    .venv/bin/python -m loadtest.bench_proxy --rates 500,1000 --duration 10 \\
        --router-cmd 'edge-router serve --config node.yaml' --router-url http://127.0.0.1:8080/v1 \\
        --out results.json --markdown results.md

In `--router-cmd`, `{upstream}` is replaced by the mock region's base URL (with /v1) and
`{upstream_port}` by its port, so a node config template can point at the simulator.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
KINDS: Final = ("chat-json", "chat-stream")
LOOPBACK: Final = "127.0.0.1"
_TARGET_PROCESS: Final = {"direct": "mock_cloud", "bare-proxy": "bare_proxy", "router": "router"}
# A process using this many cores of its one pinned core is taken as the bottleneck.
_SATURATED_CORES: Final = 0.85


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    base_url: str


@dataclass(frozen=True, slots=True)
class BenchSettings:
    rates: tuple[float, ...]
    kinds: tuple[str, ...]
    duration_s: float
    warmup_s: float
    router_cmd: str | None
    router_url: str | None
    mock_port: int
    mock_control_port: int
    proxy_port: int
    proxy_cpu: int
    load_cpu: int
    model: str
    api_key: str
    p99_budget_ms: float
    search: bool
    search_start_rate: float
    search_step_rate: float
    search_max_rate: float
    search_resolution_rate: float
    search_duration_s: float
    search_warmup_s: float
    search_budget_s: float
    max_other_load: float
    quiet_wait_s: float
    out: Path | None
    markdown: Path | None
    keep_logs: bool


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


@dataclass(slots=True)
class Ceiling:
    target: str
    kind: str
    max_sustained_rate_per_s: float | None = None
    first_failed_rate_per_s: float | None = None
    complete: bool = False
    steps: list[dict[str, Any]] = field(default_factory=list)


def _pinned_to(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


class Processes:
    """Every subprocess the benchmark starts, each in its own session so its whole group dies."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[tuple[str, subprocess.Popen[bytes], int | None]] = []

    def start(self, name: str, argv: Sequence[str], cpu: int | None) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        print(f"[bench] start {name} (cpu {cpu}): {shlex.join(argv)}", file=sys.stderr)
        proc = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_pinned_to(cpu),
        )
        log.close()
        self.started.append((name, proc, cpu))
        return proc

    def check_alive(self) -> None:
        for name, proc, _ in self.started:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode} during the benchmark:\n"
                    + self.log_tail(name)
                )

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop_all(self) -> None:
        for _, proc, _ in reversed(self.started):
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        for _, proc, _ in reversed(self.started):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=5.0)
        self.started.clear()


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signum)


class CpuAccount:
    """CPU seconds used by each of our processes, and by foreign work on each pinned core.

    This machine may be shared (other work, other test runs), so each trial records how busy the
    cores were with work that is not ours, and waits for a quiet moment first. Ours are the
    started processes (threads included, their own children not) plus the finished load
    generators, counted through RUSAGE_CHILDREN.
    """

    def __init__(self, processes: Processes, load_cpu: int, cpus: Sequence[int]) -> None:
        self.processes = processes
        self.load_cpu = load_cpu
        self.cpus = tuple(cpus)
        self.tick_s = 1.0 / os.sysconf("SC_CLK_TCK")

    def snapshot(self) -> dict[str, float]:
        """CPU seconds so far: `cpuN` is foreign work on core N, other keys are our processes."""
        busy = self._busy_ticks()
        foreign = {cpu: busy.get(cpu, 0) * self.tick_s for cpu in self.cpus}
        seconds: dict[str, float] = {}
        for name, proc, cpu in self.processes.started:
            if proc.poll() is None:
                seconds[name] = self._process_ticks(proc.pid) * self.tick_s
                if cpu in foreign:
                    foreign[cpu] -= seconds[name]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        seconds["loadgen"] = children.ru_utime + children.ru_stime
        foreign[self.load_cpu] -= seconds["loadgen"]
        return seconds | {f"cpu{cpu}": used for cpu, used in foreign.items()}

    @staticmethod
    def cores_between(
        before: dict[str, float], after: dict[str, float], wall_s: float
    ) -> tuple[dict[str, float], dict[str, float]]:
        """(foreign cores per CPU, cores per process of ours) over an interval."""
        cores = {k: round(max(0.0, v - before.get(k, 0.0)) / wall_s, 3) for k, v in after.items()}
        foreign = {k: v for k, v in cores.items() if k.startswith("cpu")}
        return foreign, {k: v for k, v in cores.items() if k not in foreign}

    @staticmethod
    def _busy_ticks() -> dict[int, int]:
        busy = {}
        for line in Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if name.startswith("cpu") and name != "cpu":
                # irq and softirq are left out: on loopback they are mostly our own traffic.
                user, nice, system, _idle, _iowait, _irq, _softirq, steal = map(int, fields[:8])
                busy[int(name[3:])] = user + nice + system + steal
        return busy

    @staticmethod
    def _process_ticks(pid: int) -> int:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return 0
        fields = stat.rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime


def wait_for_quiet(settings: BenchSettings, account: CpuAccount) -> float:
    """Sample foreign load until it is below the threshold or the wait bound is spent.
    Always sleeps at least one sample, which also lets targets close the previous connections."""
    started = time.monotonic()
    sample_s = 0.5
    while True:
        before = account.snapshot()
        time.sleep(sample_s)
        load, _ = account.cores_between(before, account.snapshot(), sample_s)
        waited = time.monotonic() - started
        if max(load.values()) <= settings.max_other_load or waited >= settings.quiet_wait_s:
            if waited >= settings.quiet_wait_s and settings.quiet_wait_s > 0:
                print(f"[bench] machine still busy after {waited:.0f} s: {load}", file=sys.stderr)
            return waited


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _ensure_port_free(port: int) -> None:
    with socket.socket() as probe:
        # As servers do; otherwise connections in TIME_WAIT from a previous run block the probe.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as exc:
            raise SystemExit(f"port {LOOPBACK}:{port} is already in use ({exc})") from exc


def wait_ready(
    processes: Processes, name: str, proc: subprocess.Popen[bytes], url: str, timeout_s: float
) -> None:
    """Poll `url` until it answers with any HTTP status; fail fast if the process dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{processes.log_tail(name)}")
        try:
            with urllib.request.urlopen(url, timeout=1.0):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(
        f"{name} not ready at {url} after {timeout_s} s:\n{processes.log_tail(name)}"
    )


def mock_cloud_yaml(settings: BenchSettings) -> str:
    # Zero RTT, zero TTFT and unbounded token speed: the simulator answers as fast as it can.
    return (
        f"control: {{host: {LOOPBACK}, port: {settings.mock_control_port}}}\n"
        "regions:\n"
        f"  - name: bench\n"
        f"    port: {settings.mock_port}\n"
        "    rtt_ms: 0\n"
        "    rtt_jitter: 0\n"
        "    ttft_ms: 0\n"
        "    tokens_per_s: 0\n"
        "    error_rate: 0\n"
        "    timeout_rate: 0\n"
    )


def _router_argv(template: str, upstream_base: str, upstream_port: int) -> list[str]:
    command = template.replace("{upstream}", upstream_base)
    command = command.replace("{upstream_port}", str(upstream_port))
    argv = shlex.split(command)
    if shutil.which(argv[0]) is None and (Path(sys.executable).parent / argv[0]).exists():
        argv[0] = str(Path(sys.executable).parent / argv[0])
    return argv


def start_targets(settings: BenchSettings, processes: Processes) -> list[Target]:
    upstream = f"http://{LOOPBACK}:{settings.mock_port}"
    for port in (settings.mock_port, settings.mock_control_port, settings.proxy_port):
        _ensure_port_free(port)
    config = processes.log_dir / "mock_cloud.yaml"
    config.write_text(mock_cloud_yaml(settings))
    python = sys.executable
    mock = processes.start(
        "mock_cloud",
        [python, "-m", "loadtest.mock_cloud", "--config", str(config)],
        settings.load_cpu,
    )
    wait_ready(processes, "mock_cloud", mock, f"{upstream}/v1/models", 30.0)
    targets = [Target("direct", f"{upstream}/v1")]
    proxy = processes.start(
        "bare_proxy",
        [
            python,
            "-m",
            "loadtest.bare_proxy",
            "--listen",
            f"{LOOPBACK}:{settings.proxy_port}",
            "--upstream",
            upstream,
        ],
        settings.proxy_cpu,
    )
    proxy_url = f"http://{LOOPBACK}:{settings.proxy_port}/v1"
    wait_ready(processes, "bare_proxy", proxy, f"{proxy_url}/models", 30.0)
    targets.append(Target("bare-proxy", proxy_url))
    if settings.router_cmd and settings.router_url:
        router = processes.start(
            "router",
            _router_argv(settings.router_cmd, f"{upstream}/v1", settings.mock_port),
            settings.proxy_cpu,
        )
        wait_ready(processes, "router", router, f"{settings.router_url.rstrip('/')}/models", 60.0)
        targets.append(Target("router", settings.router_url.rstrip("/")))
    return targets


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
    argv = [sys.executable, "-m", "loadtest.loadgen", *(p for kv in options.items() for p in kv)]
    before, started = account.snapshot(), time.monotonic()
    completed = subprocess.run(
        argv,
        cwd=REPO_ROOT,
        env=_child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=warmup_s + duration_s + 60.0,
        preexec_fn=_pinned_to(settings.load_cpu),
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
        f"err={trial.result['errors']} {trial.metric()} p50={_fmt(p50)} p99={_fmt(p99)} ms "
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


def machine_state() -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": sorted(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "load_average_before": list(os.getloadavg()),
        "python": platform.python_version(),
        "aiohttp": _package_version("aiohttp"),
        "uvloop": _package_version("uvloop"),
        "kernel": platform.release(),
    }


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def _fmt(value: float | None) -> str:
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
            _fmt(metric[k]) if metric else "-"
            for k in ("p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms", "mean_ms")
        ]
        total_p99 = _fmt(result["latency"]["p99_ms"]) if result["latency"] else "-"
        lag = _fmt(result["send_lag"]["p99_ms"]) if result["send_lag"] else "-"
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
            f"| {_fmt(row['added_p50_ms'])} | {_fmt(row['added_p99_ms'])} "
            f"| {_fmt(row['added_p50_ms_from_send'])} | {_fmt(row['added_p99_ms_from_send'])} |"
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


def _float_list(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(",") if part.strip())


def parse_args(argv: Sequence[str] | None) -> BenchSettings:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.bench_proxy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--rates", type=_float_list, default=(500.0, 1000.0), help="comma-separated req/s")
    add("--kinds", default=",".join(KINDS), help="comma-separated: chat-json,chat-stream")
    add("--duration", dest="duration_s", type=float, default=10.0, help="measured s per run")
    add("--warmup", dest="warmup_s", type=float, default=2.0, help="warm-up s per run")
    add("--router-cmd", help="command starting the router; the router target is skipped without")
    add("--router-url", default=f"http://{LOOPBACK}:8080/v1", help="router base URL")
    add("--mock-port", type=int, default=9101)
    add("--mock-control-port", type=int, default=9100)
    add("--proxy-port", type=int, default=8090)
    add("--proxy-cpu", type=int, default=0, help="core for the proxy under test")
    add("--load-cpu", type=int, default=1, help="core for the mock cloud and load generator")
    add("--model", default="gpt-4o-mini")
    add("--api-key", default="sk-loadtest")
    add("--p99-budget-ms", type=float, default=50.0)
    add("--no-search", dest="search", action="store_false", help="skip the ceiling search")
    add("--search-start", dest="search_start_rate", type=float, default=500.0)
    add("--search-step", dest="search_step_rate", type=float, default=500.0)
    add("--search-max", dest="search_max_rate", type=float, default=8000.0)
    add("--search-resolution", dest="search_resolution_rate", type=float, default=100.0)
    add("--search-duration", dest="search_duration_s", type=float, default=5.0)
    add("--search-warmup", dest="search_warmup_s", type=float, default=1.0)
    add(
        "--search-budget",
        dest="search_budget_s",
        type=float,
        default=900.0,
        help="seconds for all ceiling searches together",
    )
    add(
        "--max-other-load",
        type=float,
        default=0.15,
        help="before each run, wait until foreign work uses at most this many cores per CPU",
    )
    add(
        "--quiet-wait",
        dest="quiet_wait_s",
        type=float,
        default=20.0,
        help="... but wait at most this many seconds (0: do not wait)",
    )
    add("--out", type=Path, help="write results as JSON (default: stdout)")
    add("--markdown", type=Path, help="write a Markdown report")
    add("--keep-logs", action="store_true", help="keep subprocess logs in the temp directory")
    args = parser.parse_args(argv)
    args.kinds = tuple(k for k in args.kinds.split(",") if k)
    if not args.kinds or not set(args.kinds) <= set(KINDS):
        parser.error(f"--kinds must be drawn from {KINDS}")
    if not args.rates or min(args.rates) <= 0:
        parser.error("--rates must be positive")
    if args.proxy_cpu == args.load_cpu:
        parser.error("--proxy-cpu and --load-cpu must differ")
    return BenchSettings(**vars(args))


def _check_cpus(settings: BenchSettings) -> None:
    usable = os.sched_getaffinity(0)
    missing = {settings.proxy_cpu, settings.load_cpu} - usable
    if missing:
        raise SystemExit(f"CPUs {sorted(missing)} are not available (usable: {sorted(usable)})")


def run(settings: BenchSettings, command: str) -> dict[str, Any]:
    _check_cpus(settings)
    machine = machine_state()
    log_dir = Path(tempfile.mkdtemp(prefix="bench_proxy_"))
    processes = Processes(log_dir)
    try:
        targets = start_targets(settings, processes)
        account = CpuAccount(processes, settings.load_cpu, (settings.proxy_cpu, settings.load_cpu))
        trials = run_matrix(settings, account, targets)
        ceilings = []
        if settings.search:
            searches = [(t, k) for t in targets for k in settings.kinds]
            for target, kind in searches:
                budget = settings.search_budget_s / len(searches)
                ceilings.append(search_ceiling(settings, account, target, kind, budget))
    finally:
        processes.stop_all()
        if settings.keep_logs:
            print(f"[bench] logs kept in {log_dir}", file=sys.stderr)
        else:
            shutil.rmtree(log_dir, ignore_errors=True)
    settings_dict = asdict(settings)
    for key in ("out", "markdown"):
        settings_dict[key] = str(settings_dict[key]) if settings_dict[key] else None
    return {
        "machine": machine,
        "command": command,
        "settings": settings_dict,
        "targets": [asdict(t) for t in targets],
        "runs": [asdict(t) for t in trials],
        "added_latency": added_latency(trials),
        "ceilings": [asdict(c) for c in ceilings],
    }


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    command = shlex.join(sys.orig_argv if argv is None else [sys.executable, *argv])

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    # Explicit, because a shell starting us in the background sets SIGINT to "ignore".
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        report = run(settings, command)
    except KeyboardInterrupt:
        print("[bench] interrupted; all subprocesses stopped", file=sys.stderr)
        return 130
    text = json.dumps(report, indent=2)
    if settings.out:
        settings.out.write_text(text + "\n")
    else:
        print(text)
    markdown = markdown_report(report)
    if settings.markdown:
        settings.markdown.write_text(markdown)
    print(markdown, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
