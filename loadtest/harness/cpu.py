"""CPU accounting: the cores each of our processes used during a trial, the foreign work on each
pinned core, and waiting for the machine to be quiet before a trial."""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from loadtest.harness.processes import Processes
from loadtest.harness.proxy_settings import BenchSettings


class CpuAccount:
    """CPU seconds used by each of our processes, and by foreign work on each pinned core.

    This machine may be shared (other work, other test runs), so each trial records how busy the
    cores were with work that is not ours, and waits for a quiet moment first. Ours are the
    started processes (threads included), each live child apart (`<name>><program>`), plus
    the finished load generators, counted through RUSAGE_CHILDREN.
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
        parents = self._parents()
        for name, proc, cpu in self.processes.started:
            if proc.poll() is None:
                seconds[name] = self._process_ticks(proc.pid) * self.tick_s
                if cpu in foreign:
                    foreign[cpu] -= seconds[name]
                for child in (pid for pid, parent in parents.items() if parent == proc.pid):
                    # The router's span exporter, say (on its core unless it moved), or a sink
                    # a wrapper shell started before it became the router.
                    key = f"{name}>{self._program(child)}"
                    used = self._process_ticks(child) * self.tick_s
                    seconds[key] = seconds.get(key, 0.0) + used
                    cpu_of_child = self._cpu_of(child)
                    if cpu_of_child in foreign:
                        foreign[cpu_of_child] -= used
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
    def _parents() -> dict[int, int]:
        """Each live process's parent."""
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(stat.parent.name)] = int(fields[1])
        return parents

    @staticmethod
    def _program(pid: int) -> str:
        """The module a Python process runs (`-m`), else its command's name."""
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return "?"
        if b"-m" in argv[:-1]:
            return argv[argv.index(b"-m") + 1].decode(errors="replace").rsplit(".", 1)[-1]
        return Path(argv[0].decode(errors="replace")).name

    @staticmethod
    def _cpu_of(pid: int) -> int | None:
        """The one core a process is pinned to, else None."""
        try:
            cpus = os.sched_getaffinity(pid)
        except OSError:
            return None
        return next(iter(cpus)) if len(cpus) == 1 else None

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
