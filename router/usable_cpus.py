"""How many CPUs this process may use: the default of `edge-router serve --workers`.

The smaller of the CPUs it may be scheduled on (its affinity: `taskset`, a cpuset, Kubernetes'
static CPU manager) and its CPU quota rounded up (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us`:
what a Kubernetes CPU limit becomes). `os.cpu_count()` reads neither, so a pod limited to 2 CPUs
on a 64-core node would start 64 workers that share 2 CPUs' worth of time; nginx's
`worker_processes auto` reads only the affinity, Go's automaxprocs reads the quota too.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    scheduled_on = len(os.sched_getaffinity(0))
    quota = cpu_quota(cgroup_root)
    if quota is None:
        return scheduled_on
    return max(1, min(scheduled_on, math.ceil(quota)))


def cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """CPUs' worth of time per period this cgroup may use; None: no quota (or none readable)."""
    v2 = _read(cgroup_root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        return _ratio(quota, period)
    quota_us = _read(cgroup_root / "cpu" / "cpu.cfs_quota_us")
    period_us = _read(cgroup_root / "cpu" / "cpu.cfs_period_us")
    if quota_us is None or period_us is None:
        return None
    return _ratio(quota_us, period_us)


def _ratio(quota: str, period: str) -> float | None:
    if quota in ("max", "-1"):
        return None
    try:
        ratio = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
    return ratio if ratio > 0 else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
