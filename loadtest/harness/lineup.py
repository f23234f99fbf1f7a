"""A line-up: one scenario against several targets the suite starts itself, side by side in one
run (issue 19), so that what each adds is read against `direct` measured at the same rate, on
the same machine, minutes apart at most.

    python -m loadtest run peers --start direct,bare,router,litellm,portkey --core 0

starts on loopback the simulated cloud (`--cloud-config`; pinned with the load generator to a
core of their own), then each named target, a fresh process pinned to the one shared core
`--core` (`lineup_targets` says how each starts); runs the scenario's phases with the targets
interleaved (the first phase against each target in turn, then the second...), so that whatever
else runs on this shared machine hits them all alike; and stops every process at the end,
whatever happened. Each record names its target, its process (`target_pid`: direct's is the
cloud's) and that process's CPU and RSS over the phase, and the cores the machine's other work
used meanwhile (`foreign_cores`). A phase with a fault gets the cloud's control API.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from loadtest.harness.cpu import CpuAccount
from loadtest.harness.lineup_targets import (
    LITELLM_CONFIG,
    PEERS_CONFIG_DIR,
    PORTKEY_CONFIG,
    LineupError,
    PeerInstalls,
    config_upstreams,
    launch,
)
from loadtest.harness.processes import Processes, ensure_port_free
from loadtest.harness.proxy_settings import LOOPBACK, REPO_ROOT
from loadtest.harness.runner import Target, run_scenario
from loadtest.harness.scenario import Scenario
from loadtest.mock_cloud.settings import CloudSettings, SettingsError, load_cloud_settings

# Three alike regions at the simulator's full speed, named and placed as the local demo's.
DEFAULT_CLOUD_CONFIG: Final = PEERS_CONFIG_DIR / "cloud.yaml"
# The router on those three regions, routing by latency, every timeout at its default.
DEFAULT_ROUTER_CONFIG: Final = REPO_ROOT / "deploy" / "bench" / "node-faults.yaml"
# LiteLLM's proxy takes about 10 s to import here; a target not up after this has failed.
_READY_TIMEOUT_S: Final = 120.0
_CLOUD_TIMEOUT_S: Final = 30.0
# Between two runs, for the target just measured to close its connections.
_SETTLE_S: Final = 0.5

Records = list[dict[str, Any]]
RunAsync = Callable[[Coroutine[Any, Any, Records]], Records]


@dataclass(frozen=True, slots=True)
class LineupSettings:
    targets: tuple[str, ...]
    # The core every target is pinned to; the cloud and the generator get another (None: none
    # is pinned).
    core: int | None = 0
    router_config: Path = DEFAULT_ROUTER_CONFIG
    cloud_config: Path = DEFAULT_CLOUD_CONFIG
    api_key: str = "sk-loadtest"
    model: str = "gpt-4o-mini"
    keep_logs: bool = False
    installs: PeerInstalls = field(default_factory=PeerInstalls)


@dataclass(frozen=True, slots=True)
class _Cloud:
    pid: int
    regions: dict[str, str]  # name: base URL (with /v1), in the config's order
    control_url: str


def run_lineup(scenario: Scenario, settings: LineupSettings, run_async: RunAsync) -> Records:
    """Start the cloud and the targets, run the scenario's phases interleaved across them (in
    `run_async`, the caller's event loop), stop everything; a record per phase and target."""
    settings.installs.check(settings.targets)
    cloud_settings = _cloud_settings(settings.cloud_config)
    target_core, load_core = _cores(settings.core)
    processes = Processes(Path(tempfile.mkdtemp(prefix="lineup_")))
    try:
        cloud = _start_cloud(processes, settings.cloud_config, cloud_settings, load_core)
        _check_upstreams(settings, cloud)
        targets = [
            _start_target(processes, name, cloud, settings, target_core)
            for name in settings.targets
        ]
        account = None
        if target_core is not None and load_core is not None:
            account = CpuAccount(processes, load_core, (target_core, load_core))
        with _pinned(load_core):
            return run_async(_interleaved(scenario, targets, cloud.control_url, processes, account))
    except RuntimeError as error:  # a process that died or never answered, with its log
        if isinstance(error, LineupError):
            raise
        raise LineupError(str(error)) from None
    finally:
        processes.finish(settings.keep_logs)


async def _interleaved(
    scenario: Scenario,
    targets: list[Target],
    control: str,
    processes: Processes,
    account: CpuAccount | None,
) -> Records:
    records: Records = []
    for phase in scenario.phases:
        one_phase = scenario.model_copy(update={"phases": (phase,)})
        for target in targets:
            processes.check_alive()
            await asyncio.sleep(_SETTLE_S)
            before = _Usage.now(account)
            (record,) = await run_scenario(one_phase, target, control)
            record["target_pid"] = target.pid
            if account is not None:
                record["foreign_cores"] = before.foreign_since(account)
            records.append(record)
    return records


@dataclass(frozen=True, slots=True)
class _Usage:
    """CPU so far: every started process's, foreign work's per pinned core, and this process's
    (the generator's, which runs on the load core and is not foreign)."""

    cpu: dict[str, float]
    own_s: float
    at_s: float

    @staticmethod
    def now(account: CpuAccount | None) -> _Usage:
        own = resource.getrusage(resource.RUSAGE_SELF)
        snapshot = account.snapshot() if account is not None else {}
        return _Usage(snapshot, own.ru_utime + own.ru_stime, time.monotonic())

    def foreign_since(self, account: CpuAccount) -> dict[str, float]:
        after = _Usage.now(account)
        wall_s = max(after.at_s - self.at_s, 1e-9)
        foreign, _ = CpuAccount.cores_between(self.cpu, after.cpu, wall_s)
        load_key = f"cpu{account.load_cpu}"
        own_cores = (after.own_s - self.own_s) / wall_s
        foreign[load_key] = round(max(0.0, foreign[load_key] - own_cores), 3)
        return foreign


def _cloud_settings(path: Path) -> CloudSettings:
    try:
        return load_cloud_settings(path)
    except OSError as error:
        raise LineupError(f"--cloud-config {path}: {error}") from None
    except SettingsError as error:
        raise LineupError(" ".join(str(error).split())) from None


def _cores(core: int | None) -> tuple[int | None, int | None]:
    """(the targets' core, the cloud's and generator's core); the latter None on one core."""
    if core is None:
        return None, None
    usable = os.sched_getaffinity(0)
    if core not in usable:
        raise LineupError(f"--core {core}: not a core this process may use ({sorted(usable)})")
    others = sorted(usable - {core})
    return core, (others[0] if others else None)


def _start_cloud(
    processes: Processes, path: Path, settings: CloudSettings, core: int | None
) -> _Cloud:
    fixed = [settings.control.port, *(region.port for region in settings.regions)]
    for port in (port for port in fixed if port):
        _ensure_free(port)
    argv = [sys.executable, "-m", "loadtest.mock_cloud", "--config", str(path)]
    proc = processes.start("mock_cloud", argv, core)
    regions, control = _cloud_addresses(processes, proc)
    return _Cloud(proc.pid, regions, control)


def _cloud_addresses(
    processes: Processes, proc: subprocess.Popen[bytes]
) -> tuple[dict[str, str], str]:
    """The addresses the cloud prints when it listens (`python -m loadtest.mock_cloud`), so
    that a config asking for port 0 works too."""
    log = processes.log_dir / "mock_cloud.log"
    deadline = time.monotonic() + _CLOUD_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LineupError(f"the simulated cloud exited: {processes.log_tail('mock_cloud')}")
        regions: dict[str, str] = {}
        for line in log.read_text(errors="replace").splitlines():
            words = line.split()
            if len(words) == 5 and words[0] == "region" and words[2:4] == ["listening", "on"]:
                regions[words[1]] = words[4].rstrip("/")
            elif len(words) == 3 and words[:2] == ["control", "on"]:
                return regions, words[2]
        time.sleep(0.05)
    raise LineupError(f"the simulated cloud did not start within {_CLOUD_TIMEOUT_S:g} s")


def _check_upstreams(settings: LineupSettings, cloud: _Cloud) -> None:
    """Every upstream a started gateway's config names is a region of this cloud: a config
    pointing elsewhere would measure failures, or a process that is not part of the run."""
    configs = {
        "router": settings.router_config,
        "litellm": LITELLM_CONFIG,
        "portkey": PORTKEY_CONFIG,
    }
    regions = set(cloud.regions.values())
    for name in settings.targets:
        if name not in configs:
            continue
        for field_path, url in config_upstreams(name, configs[name]):
            if url not in regions:
                raise LineupError(
                    f"{configs[name]}: {field_path}: {url} is not a region of the simulated "
                    f"cloud of {settings.cloud_config} ({', '.join(sorted(regions))})"
                )


def _start_target(
    processes: Processes,
    name: str,
    cloud: _Cloud,
    settings: LineupSettings,
    core: int | None,
) -> Target:
    direct_url = next(iter(cloud.regions.values()))
    spec = launch(name, _free_port(), direct_url, settings.router_config, settings.installs)
    pid = cloud.pid
    if spec.argv:
        proc = processes.start(name, spec.argv, core)
        _wait_healthy(processes, name, proc, spec.ready_url)
        pid = proc.pid
    return Target(spec.base_url, settings.api_key, settings.model, name, pid)


def _wait_healthy(processes: Processes, name: str, proc: subprocess.Popen[bytes], url: str) -> None:
    """Poll `url` until it answers 2xx (a router not yet ready answers 503); fail fast if the
    process dies."""
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LineupError(
                f"{name} exited with {proc.returncode} before it was ready:\n"
                + processes.log_tail(name)
            )
        try:
            with urllib.request.urlopen(url, timeout=2.0):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise LineupError(
        f"{name} not ready at {url} after {_READY_TIMEOUT_S:g} s:\n{processes.log_tail(name)}"
    )


def _ensure_free(port: int) -> None:
    try:
        ensure_port_free(port)
    except SystemExit as busy:
        raise LineupError(str(busy)) from None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def _pinned(core: int | None) -> Iterator[None]:
    """This process (the load generator) on `core` for the block."""
    if core is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
