"""A node-local redis-server for the worker processes of one `edge-router serve --workers N`, when
the node config shares limits through no Redis of its own (`limits.backend: memory`).

N processes that each kept their own token buckets and budget ledger would admit N times a
tenant's limits. Sharing them needs one atomic owner; the Redis backend (`router.limits.
redis_backend`, its Lua scripts and contract tests) already is one, and is the path every
multi-node deployment takes, so the workers use it against a redis-server the supervisor starts
for them, rather than a second, hand-written shared-memory backend with its own locking. It
listens on a Unix socket only (no TCP port to claim or expose), in a directory only this user may
enter, keeps nothing on disk (like the memory backend, a restart forgets usage), and gets SIGTERM
when the supervisor dies, even by SIGKILL (PR_SET_PDEATHSIG). Measured cost: docs/deploy.md.

Its memory is capped (`maxmemory_bytes`: twice the cache's `max_bytes`, for the shared cache
tier's entries, plus 64 MiB for limits and affinity) with `volatile-lru`: every key it holds
expires, and the keys in use (a tenant's buckets and today's counters) are touched by each of the
tenant's requests, so what goes first when it is full is the oldest cache entries.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from router.child_process import RestartingChild, RestartPolicy
from router.linux_process import parent_death_signal
from router.pool_membership import NODE_REDIS_SOCKET

REDIS_SERVER = "redis-server"
_READY_TIMEOUT_S = 10.0
_READY_POLL_S = 0.02
_POLICY = RestartPolicy(restart_backoff_s=0.2, max_restart_backoff_s=5.0, stop_grace_s=5.0)


class NodeRedisUnavailable(Exception):
    pass


def redis_server_path() -> str | None:
    return shutil.which(REDIS_SERVER)


_LIMITS_BYTES = 64 * 1024 * 1024


def maxmemory_bytes(cache_max_bytes: int) -> int:
    return 2 * cache_max_bytes + _LIMITS_BYTES


class NodeRedis:
    def __init__(self, executable: str, directory: Path, maxmemory: int) -> None:
        """`directory`: the pool's own (mode 0700), where its socket goes; `maxmemory`: bytes."""
        self._directory = directory
        self._maxmemory = maxmemory
        self.socket_path = directory / NODE_REDIS_SOCKET
        self._child = RestartingChild(
            "node-local redis-server",
            lambda: self._command(executable),
            _POLICY,
            new_session=True,  # a terminal's Ctrl-C must not stop it before the workers drain
            preexec_fn=parent_death_signal(),
            quiet=True,  # its start-up banner and warnings about persistence it does not use
        )

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def _command(self, executable: str) -> list[str]:
        return [
            executable,
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self._directory),
            "--save", "",
            "--appendonly", "no",
            "--maxmemory", str(self._maxmemory),
            "--maxmemory-policy", "volatile-lru",
            "--loglevel", "warning",
        ]  # fmt: skip

    async def run(self) -> None:
        """Keep redis-server running until cancelled; then stop it."""
        await self._child.run()

    async def until_ready(self) -> None:
        """Return once redis-server answers PING; `NodeRedisUnavailable` after 10 s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _READY_TIMEOUT_S
        while loop.time() < deadline:
            if await _answers_ping(self.socket_path):
                return
            await asyncio.sleep(_READY_POLL_S)
        raise NodeRedisUnavailable(f"redis-server did not answer on {self.socket_path} in 10 s")


async def _answers_ping(socket_path: Path) -> bool:
    try:
        reader, writer = await asyncio.open_unix_connection(str(socket_path))
    except OSError:
        return False
    try:
        writer.write(b"PING\r\n")
        await writer.drain()
        async with asyncio.timeout(1.0):
            return (await reader.readline()).startswith(b"+PONG")
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
