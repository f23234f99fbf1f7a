"""A stack's router: `edge-router serve` on the node config the stack wrote, started where the
stack puts it (`InPlace`), its admin token in its environment alone, waited for until `/readyz`
says its edge worker answers and its embedder is loaded; the edge worker it spawned found by
its pid, and killed at the end if the router did not stop it (the router was killed). The
router is a subprocess (`edge-router` next to this Python): the suite never imports it."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Final

import yaml

from loadtest.harness.processes import Processes, wait_ready
from loadtest.harness.stack_config import DEMO_DIR, InPlace, StackError, as_is

_READY_TIMEOUT_S: Final = 120.0  # the router's /readyz waits for the worker's models to load
_WORKER_EXIT_WAIT_S: Final = 10.0


class RouterProcess:
    def __init__(
        self, processes: Processes, directory: Path, workers: int = 1, in_place: InPlace = as_is
    ) -> None:
        """`workers`: its `serve --workers` (one process unless a run is about more)."""
        self.processes = processes
        self.directory = directory
        self.workers = workers
        self.in_place = in_place
        self.admin_token = secrets.token_urlsafe(24)
        self.process: subprocess.Popen[bytes] | None = None
        self._worker_pids: set[int] = set()

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self, node: dict[str, Any], url: str) -> None:
        """Started on `node`, waited for at `url` (its base, as the suite reaches it)."""
        node_file = self.directory / "node.yaml"
        node_file.write_text(yaml.safe_dump(node, sort_keys=False))
        self.process = self.processes.start("router", self._argv(node, node_file), None)
        wait_ready(self.processes, "router", self.process, url + "/healthz", 60.0)
        self._wait_ready(url)
        self.edge_worker_pid()  # remembered, to be sure it is stopped at the end

    def _argv(self, node: dict[str, Any], node_file: Path) -> list[str]:
        """`edge-router serve`, its admin token read from a file by a shell that then becomes
        the router (`exec`), so that it is in no command line or log."""
        token_env = str(node.get("admin", {}).get("token_env", "EDGE_ROUTER_ADMIN_TOKEN"))
        if not token_env.isidentifier():
            raise StackError(f"{DEMO_DIR}/node.yaml: admin.token_env {token_env!r} is no name")
        token_file = self.directory / "admin-token"
        token_file.touch(mode=0o600)
        token_file.write_text(self.admin_token)
        script = (
            f'{token_env}="$(cat "$1")"; export {token_env}; '
            'exec "$2" serve --workers "$4" --config "$3"'
        )
        arguments = [str(token_file), _router_binary(), str(node_file), str(self.workers)]
        return self.in_place([_binary("sh"), "-c", script, "sh", *arguments])

    def _wait_ready(self, url: str) -> None:
        """Until /readyz says 200: the edge worker has answered, the embedder is loaded."""
        deadline = time.monotonic() + _READY_TIMEOUT_S
        last = ""
        while time.monotonic() < deadline:
            self.processes.check_alive()
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2.0):
                    return
            except urllib.error.HTTPError as waiting:
                last = waiting.read().decode(errors="replace")
            except OSError as error:
                last = str(error)
            time.sleep(0.2)
        raise StackError(
            f"the router was not ready after {_READY_TIMEOUT_S:g} s ({last}):\n"
            + self.processes.log_tail("router")
        )

    def edge_worker_pid(self) -> int | None:
        """The edge worker it runs now (its child running `edge_worker.cli`), if any."""
        if self.process is None:
            return None
        for pid in _children(self.process.pid):
            if b"edge_worker.cli" in _cmdline(pid):
                self._worker_pids.add(pid)
                return pid
        return None

    def stop_leftover_workers(self) -> None:
        """Every edge worker it ran that is still there once it is stopped: killed."""
        for pid in self._worker_pids:
            _stop_leftover(pid)


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} is not on the PATH")
    return found


def _router_binary() -> str:
    """`edge-router` next to this Python (the virtualenv's), else on the PATH."""
    beside = Path(sys.executable).parent / "edge-router"
    if beside.exists():
        return str(beside)
    found = shutil.which("edge-router")
    if found is None:
        raise StackError(f"no edge-router beside {sys.executable} nor on the PATH")
    return found


def _children(pid: int) -> list[int]:
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                children += [int(child) for child in (task / "children").read_text().split()]
    return children


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _stop_leftover(pid: int) -> None:
    """An edge worker the router did not stop (the router was killed): stopped, by its pid."""
    deadline = time.monotonic() + _WORKER_EXIT_WAIT_S
    while time.monotonic() < deadline and b"edge_worker.cli" in _cmdline(pid):
        time.sleep(0.1)
    if b"edge_worker.cli" in _cmdline(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
