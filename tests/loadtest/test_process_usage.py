"""A target's CPU is its whole process tree's: `serve --workers N` does its work in children of
the pid the suite is given, which stay alive through the phase."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

from loadtest.harness.process_usage import measured

BURN = (
    "import time\n"
    "end = time.process_time() + 0.5\n"
    "while time.process_time() < end: pass\n"
    "print('burnt', flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.mark.asyncio
async def test_a_live_childs_cpu_counts_for_its_idle_parent() -> None:
    # The parent (this test's process) only waits; the child burns half a CPU second and is
    # reaped after the measurement ends, so only a reading of the live tree sees its work.
    started = time.monotonic()
    async with measured(os.getpid()) as usage:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", BURN, stdout=asyncio.subprocess.PIPE
        )
        assert child.stdout is not None
        assert await child.stdout.readline() == b"burnt\n"
    wall_s = time.monotonic() - started
    try:
        assert usage is not None
        assert usage.cpu_cores * wall_s >= 0.45  # the child's 0.5 s, less a clock tick or two
        assert usage.rss_end_mib > 0
    finally:
        child.kill()
        await child.wait()
