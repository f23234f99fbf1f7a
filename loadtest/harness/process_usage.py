"""The target's own cost while a phase runs, when the suite is told its process (`--pid`): CPU
(the user and system time of its whole process tree: the process, every descendant alive, and
the children that exited and were reaped, as cores over the phase's wall time, and per request)
and resident memory (the tree's, sampled every half second: the peak, and at the end). The tree
matters for `edge-router serve --workers N`, where the pid is the supervisor's and the work is
its workers' (and for a router that runs its edge worker)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

import psutil

_SAMPLE_EVERY_S: Final = 0.5
_MIB: Final = 1024 * 1024


@dataclass(slots=True)
class ProcessUsage:
    cpu_cores: float = 0.0
    rss_max_mib: float = 0.0
    rss_end_mib: float = 0.0

    def to_json_dict(self) -> dict[str, float]:
        return {
            "cpu_cores": round(self.cpu_cores, 4),
            "rss_max_mib": round(self.rss_max_mib, 1),
            "rss_end_mib": round(self.rss_end_mib, 1),
        }


def _tree(process: psutil.Process) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return [process, *process.children(recursive=True)]
    return [process]


def _cpu_by_process(process: psutil.Process) -> dict[int, float]:
    """CPU seconds of each process of the tree (reaped children in their parent's)."""
    seconds: dict[int, float] = {}
    for member in _tree(process):
        with contextlib.suppress(psutil.Error):
            times = member.cpu_times()
            own = times.user + times.system
            seconds[member.pid] = own + times.children_user + times.children_system
    return seconds


def _cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """Work done between two readings of the tree: a process born in between counts from zero,
    and one that exited moved its whole time into its parent's reaped-children time, which the
    difference of the sums takes as it should."""
    return sum(after.values()) - sum(before.values())


def _rss_mib(process: psutil.Process) -> float:
    rss = 0
    for member in _tree(process):
        with contextlib.suppress(psutil.Error):
            rss += member.memory_info().rss
    return float(rss) / _MIB


@contextlib.asynccontextmanager
async def measured(pid: int | None) -> AsyncIterator[ProcessUsage | None]:
    """The usage of process `pid` over the block (None without a pid); filled when it ends."""
    if pid is None:
        yield None
        return
    process = psutil.Process(pid)
    usage = ProcessUsage()
    started_s, cpu_before = time.monotonic(), _cpu_by_process(process)

    async def sample() -> None:
        while True:
            usage.rss_max_mib = max(usage.rss_max_mib, _rss_mib(process))
            await asyncio.sleep(_SAMPLE_EVERY_S)

    sampler = asyncio.create_task(sample())
    try:
        yield usage
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        elapsed_s = max(time.monotonic() - started_s, 1e-9)
        usage.cpu_cores = _cpu_between(cpu_before, _cpu_by_process(process)) / elapsed_s
        usage.rss_end_mib = _rss_mib(process)
        usage.rss_max_mib = max(usage.rss_max_mib, usage.rss_end_mib)
