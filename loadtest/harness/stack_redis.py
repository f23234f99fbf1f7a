"""A stack's Redis: a real `redis-server` (Debian's, from the PATH) without persistence, started
where the stack puts it (on loopback, or in a namespace of the network test bed: `InPlace`),
pinged, signalled (a disruption stops or kills it), started again on the same address after a
kill, and continued at the end if it was left stopped, so that it can exit."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from loadtest.harness.processes import Processes
from loadtest.harness.stack_config import InPlace, StackError, as_is

_START_TIMEOUT_S: Final = 10.0


class RedisServer:
    def __init__(
        self,
        processes: Processes,
        directory: Path,
        bind: Sequence[str],
        port: int,
        reach: str,
        in_place: InPlace = as_is,
    ) -> None:
        """`bind`: the addresses it listens on; `reach`: the one the suite pings it at."""
        self.processes = processes
        self.directory = directory
        self.bind = tuple(bind)
        self.port = port
        self.reach = reach
        self.in_place = in_place
        self.process: subprocess.Popen[bytes] | None = None
        self._starts = 0

    def start(self) -> None:
        """A redis-server on the stack's port (again, after a kill): no persistence."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackError("no redis-server on the PATH (Debian: apt-get install redis-server)")
        self._starts += 1
        name = "redis" if self._starts == 1 else f"redis-{self._starts}"
        # Bound to its addresses alone, with no password: protected mode would refuse the
        # router's connections from another host, so it is off.
        argv = [binary, "--bind", *self.bind, "--port", str(self.port), "--protected-mode", "no"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self.process = self.processes.start(name, self.in_place(argv), None)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackError(f"{name} exited at start:\n{self.processes.log_tail(name)}")
            if self.answers():
                return
            time.sleep(0.02)
        raise StackError(f"{name} did not answer PING at {self.reach}:{self.port}")

    def answers(self, timeout_s: float = 0.2) -> bool:
        """Whether it answers PING within `timeout_s`."""
        try:
            with socket.create_connection((self.reach, self.port), timeout=timeout_s) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def signal(self, signum: signal.Signals) -> None:
        if self.process is None or self.process.poll() is not None:
            raise StackError("the stack's redis-server is not running")
        self.process.send_signal(signum)
        if signum == signal.SIGKILL:
            self.process.wait(timeout=5.0)

    def release(self) -> None:
        """Continued if it was left stopped (SIGSTOP), so that stopping it works."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGCONT)
