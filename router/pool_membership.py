"""A worker's place in `edge-router serve --workers N`: its number, and the Unix sockets on which
it and its siblings answer one another.

A client (or Prometheus) reaches whichever worker accepts its connection, but some answers are
about the whole node: `/metrics` gathers every worker's series, and the dashboard's data and
`/admin/endpoints` every worker's (`router.telemetry.worker_dashboard`). So each worker also
serves its app on `worker-<i>.sock` in the pool's directory, which only the router's user may
enter; a request that arrives there is a sibling's and is answered from this worker alone, so no
request fans out twice. A sibling that does not answer in time (one that is restarting) is left
out, and the answer says how many answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

SIBLING_TIMEOUT_S = 2.0
NODE_REDIS_SOCKET = "redis.sock"
POOL_DIR_PREFIX = "edge-router-pool-"


def new_pool_directory() -> Path:
    """The pool's private directory (mode 0700), named with the supervisor's pid, after removing
    this user's that supervisors now gone left behind (one killed with SIGKILL cannot remove its
    own): each restart of a container would otherwise leave one more in its /tmp."""
    for stale in Path(tempfile.gettempdir()).glob(f"{POOL_DIR_PREFIX}*-*"):
        pid = stale.name.removeprefix(POOL_DIR_PREFIX).split("-", 1)[0]
        with contextlib.suppress(OSError):
            if pid.isdigit() and not _running(int(pid)) and stale.stat().st_uid == os.getuid():
                shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{POOL_DIR_PREFIX}{os.getpid()}-"))


def _running(pid: int) -> bool:
    """Whether another process with this pid runs (this one, just started, left nothing: in a
    container the new supervisor may get its predecessor's pid)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@dataclass(frozen=True)
class PoolMembership:
    directory: Path
    index: int  # 1..count
    count: int

    @classmethod
    def parse(cls, directory: str, index_of_count: str) -> PoolMembership:
        index, _, count = index_of_count.partition("/")
        return cls(Path(directory), int(index), int(count))

    def socket_of(self, index: int) -> Path:
        return self.directory / f"worker-{index}.sock"

    @property
    def own_socket(self) -> Path:
        return self.socket_of(self.index)

    @property
    def siblings(self) -> list[int]:
        return [i for i in range(1, self.count + 1) if i != self.index]

    async def ask_siblings(
        self, path: str, headers: Mapping[str, str]
    ) -> list[tuple[int, bytes | None]]:
        """GET `path` from every sibling at once: (its number, its body, or None when it did not
        answer 200 in time)."""
        answers = await asyncio.gather(*(self._ask(i, path, headers) for i in self.siblings))
        return list(zip(self.siblings, answers, strict=True))

    async def _ask(self, index: int, path: str, headers: Mapping[str, str]) -> bytes | None:
        connector = aiohttp.UnixConnector(path=str(self.socket_of(index)))
        timeout = aiohttp.ClientTimeout(total=SIBLING_TIMEOUT_S)
        try:
            async with (
                aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
                session.get(f"http://worker-{index}{path}", headers=headers) as response,
            ):
                return await response.read() if response.status == 200 else None
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None


def forwarded_headers(request: web.Request) -> dict[str, str]:
    """What a sibling needs to answer as this worker would: the Authorization header, if any
    (the admin token, for admin routes)."""
    return {k: v for k, v in request.headers.items() if k.lower() == "authorization"}


def from_sibling(request: web.Request) -> bool:
    """Whether the request came over a worker's Unix socket (a sibling's), not from a client."""
    transport = request.transport
    sock = None if transport is None else transport.get_extra_info("socket")
    return sock is not None and sock.family == socket.AF_UNIX
