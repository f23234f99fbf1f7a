"""The ports a process is about to listen on, claimed before anything else starts.

A second router started beside a running one, or a router whose edge worker was left behind by a
killed predecessor, must fail at once with one line naming the port, and the process that holds
it where the system tells, rather than start half its parts and print tracebacks. So the router
binds its own listening socket first (and serves on that very socket: no window for another
process between the check and the bind) and checks the worker's port before it spawns a worker.
"""

from __future__ import annotations

import errno
import socket

import psutil

_COMMAND_CHARS = 120


class PortInUse(Exception):
    """A port some other process listens on; the message names it and, if known, its holder
    (looked up only when the message is read: the supervisor re-checks a busy port every second
    and says so once)."""

    def __init__(self, host: str, port: int, purpose: str) -> None:
        super().__init__(host, port, purpose)
        self.host, self.port, self.purpose = host, port, purpose

    def __str__(self) -> str:
        holder = holder_of(self.port)
        by = f" by {holder}" if holder is not None else ""
        return f"port {self.port} on {self.host} ({self.purpose}) is already in use{by}"


def listening_socket(host: str, port: int, purpose: str, backlog: int = 4096) -> socket.socket:
    """A socket bound to (host, port) and listening; `PortInUse` when another process has it.

    As asyncio's create_server does (SO_REUSEADDR): a port in TIME_WAIT is free, a listening one
    is not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=backlog)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(host, port, purpose) from error
        raise


def reuseport_sockets(
    host: str, port: int, count: int, purpose: str, backlog: int = 4096
) -> list[socket.socket]:
    """`count` sockets listening on one (host, port) with SO_REUSEPORT, for the workers of
    `serve --workers N`; `PortInUse` when another process listens there. Any process of the same
    user may join a SO_REUSEPORT group, so the port is first claimed the ordinary way (a plain
    bind fails on a port that a group, or anything else, holds) and released just before the
    group binds: a second router started by mistake fails, as with one process."""
    ensure_free(host, port, purpose)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]  # port 0: the others join the port the first got
            sock.listen(backlog)
    except OSError as error:
        for sock in sockets:
            sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(host, port, purpose) from error
        raise
    return sockets


def ensure_free(host: str, port: int, purpose: str) -> None:
    """Raise `PortInUse` when (host, port) cannot be listened on now."""
    listening_socket(host, port, purpose, backlog=1).close()


def holder_of(port: int) -> str | None:
    """'pid N (command line)' of the process listening on `port`, when the system tells."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None
    for connection in connections:
        listening = connection.status == psutil.CONN_LISTEN
        if listening and connection.laddr and connection.laddr.port == port and connection.pid:
            return f"pid {connection.pid} ({_command_of(connection.pid)})"
    return None


def _command_of(pid: int) -> str:
    try:
        command = " ".join(psutil.Process(pid).cmdline())
    except (psutil.Error, OSError):
        return "?"
    return command if len(command) <= _COMMAND_CHARS else command[: _COMMAND_CHARS - 3] + "..."
