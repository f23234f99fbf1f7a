"""The target's own cost while a phase runs, when the suite is told its process (`--pid`): CPU
(its and its children's user and system time, as cores over the phase's wall time, and per
request) and resident memory (sampled every half second: the peak, and at the end)."""

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


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def _rss_mib(process: psutil.Process) -> float:
    return float(process.memory_info().rss) / _MIB


@contextlib.asynccontextmanager
async def measured(pid: int | None) -> AsyncIterator[ProcessUsage | None]:
    """The usage of process `pid` over the block (None without a pid); filled when it ends."""
    if pid is None:
        yield None
        return
    process = psutil.Process(pid)
    usage = ProcessUsage()
    started_s, cpu_before = time.monotonic(), _cpu_seconds(process)

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
        usage.cpu_cores = (_cpu_seconds(process) - cpu_before) / elapsed_s
        usage.rss_end_mib = _rss_mib(process)
        usage.rss_max_mib = max(usage.rss_max_mib, usage.rss_end_mib)
