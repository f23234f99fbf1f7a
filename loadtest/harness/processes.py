"""The subprocesses of the benchmark: starting each pinned to a core in its own session with its
log in the run's directory, checking ports are free and targets answer, and stopping every
process group at the end."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from loadtest.harness.proxy_settings import LOOPBACK, REPO_ROOT


def pinned_to(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


class Processes:
    """Every subprocess the benchmark starts, each in its own session so its whole group dies."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[tuple[str, subprocess.Popen[bytes], int | None]] = []

    def start(self, name: str, argv: Sequence[str], cpu: int | None) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        print(f"[bench] start {name} (cpu {cpu}): {shlex.join(argv)}", file=sys.stderr)
        proc = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=pinned_to(cpu),
        )
        log.close()
        self.started.append((name, proc, cpu))
        return proc

    def check_alive(self) -> None:
        for name, proc, _ in self.started:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode} during the benchmark:\n"
                    + self.log_tail(name)
                )

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def finish(self, keep_logs: bool) -> None:
        """Stop every process, then remove the log directory, or say where it was kept."""
        self.stop_all()
        if keep_logs:
            print(f"[bench] logs kept in {self.log_dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def stop_all(self) -> None:
        for _, proc, _ in reversed(self.started):
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        for _, proc, _ in reversed(self.started):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=5.0)
        self.started.clear()


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signum)


def one_router_process(config: Path) -> list[str]:
    """`edge-router serve` on `config` as one process (`--workers 1`: a study measures one), from
    this checkout (`python -m router.cli`; the console script imports the installed one)."""
    argv = [sys.executable, "-m", "router.cli", "serve", "--workers", "1"]
    return [*argv, "--config", str(config)]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def ensure_port_free(port: int) -> None:
    with socket.socket() as probe:
        # As servers do; otherwise connections in TIME_WAIT from a previous run block the probe.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as exc:
            raise SystemExit(f"port {LOOPBACK}:{port} is already in use ({exc})") from exc


def wait_ready(
    processes: Processes, name: str, proc: subprocess.Popen[bytes], url: str, timeout_s: float
) -> None:
    """Poll `url` until it answers with any HTTP status; fail fast if the process dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{processes.log_tail(name)}")
        try:
            with urllib.request.urlopen(url, timeout=1.0):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(
        f"{name} not ready at {url} after {timeout_s} s:\n{processes.log_tail(name)}"
    )


_Report = TypeVar("_Report")


def run_interruptibly(run: Callable[[], _Report]) -> _Report | None:
    """A benchmark's run, with SIGTERM turned into an exit and Ctrl-C into KeyboardInterrupt (so
    that the run's `finally` blocks stop its subprocesses); None when it was interrupted."""

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    # Explicit, because a shell starting us in the background sets SIGINT to "ignore".
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run()
    except KeyboardInterrupt:
        print("[bench] interrupted; all subprocesses stopped", file=sys.stderr)
        return None
