"""A real redis-server on a free loopback port, for the tests of everything shared through Redis.

`make test` installs Debian's redis-server; a test that needs it fails, never skips, without it.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def redis_server(directory: Path, port: int | None = None) -> Iterator[str]:
    """Start redis-server (no persistence) and yield its URL; stop it on exit."""
    with redis_process(directory, port) as (url, _):
        yield url


@contextmanager
def redis_process(
    directory: Path, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`redis_server`, with the process (to stop and continue it)."""
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is not installed: run `make test`, which installs it"
    port = port or free_port()
    process = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_listening(port, process)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.send_signal(signal.SIGCONT)  # a stopped server cannot act on SIGTERM
        process.terminate()
        process.wait(timeout=10)


def _wait_until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, "redis-server exited at start"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"redis-server did not answer on port {port}")
