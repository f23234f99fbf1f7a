"""Tying a child process's life to its parent's, on Linux.

`terminate_with_parent` runs in the child between fork and exec (a `preexec_fn`): the kernel
sends the child SIGTERM when the thread that started it exits, even when the parent was killed
with SIGKILL, so no worker or redis-server outlives its supervisor holding a socket and the CPU.
The supervisor starts its children from the event loop's thread, which lives as long as the
process. Elsewhere it does nothing (the edge worker, which may run on other systems, polls its
parent's pid instead: `edge_worker.serving`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import sys

_PR_SET_PDEATHSIG = 1


def terminate_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
