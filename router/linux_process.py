"""Tying a child process's life to its parent's, on Linux.

`parent_death_signal()`, called in the parent, gives the function to run in the child between
fork and exec (a `preexec_fn`): it asks the kernel to send the child SIGTERM when the thread that
started it exits, even when the parent was killed with SIGKILL, so no worker or redis-server
outlives its supervisor holding a socket and the CPU. The supervisor starts its children from the
event loop's thread, which lives as long as the process. libc's `prctl` is looked up in the
parent: between fork and exec the child only makes that one call (a lookup there could run
`ldconfig`, or take a lock another thread of the parent held at the fork). Elsewhere than Linux
it gives None (the edge worker, which may run on other systems, polls its parent's pid instead:
`edge_worker.serving`).
"""

from __future__ import annotations

import ctypes
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def parent_death_signal() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.restype = ctypes.c_int
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    sigterm = int(signal.SIGTERM)

    def terminate_with_parent() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm, 0, 0, 0)

    return terminate_with_parent
