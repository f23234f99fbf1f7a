"""`edge-router serve --workers N`: N router processes on one port, under one supervisor.

One router process is one event loop on one core. The supervisor (this module, in the process
the operator started) claims the port once, so a busy port still fails at once with one line,
then opens one listening socket per worker on it with SO_REUSEPORT, and hands socket i to worker
i (`edge-router serve` started again with `--listen-fd`), as Envoy's listeners and nginx's
`reuseport` do. The kernel spreads new connections over the sockets by a hash of their
addresses. One socket shared by every worker (gunicorn's way) was measured first: uvloop accepts
until the queue is empty, so the 64 connections a client pool opened at once all went to one
worker and the other core stayed idle (docs/deploy.md). The supervisor keeps every socket open,
so connections that reach a dead worker's socket wait in its queue for the restarted worker
(about 2 s on a first restart) instead of being refused.

The supervisor also owns what a node must have once: the edge worker (`router.edge_supervisor`;
the workers never spawn one), the pool's private directory (the workers' sockets for one another:
`router.pool_membership`) and, for what the node config does not already share through Redis, a
node-local redis-server (`router.worker_plan` says what it holds, `router.node_redis` why Redis).
Latency estimators and health stay in each worker (docs/deploy.md has the measurements behind
that choice).

A worker that exits is restarted with a back-off (`router.child_process`). SIGTERM or SIGINT
stops the supervisor: it closes its copies of the listening sockets, sends every worker SIGTERM and
waits for their drains (`server.drain_timeout_s`, plus 5 s), then stops the edge worker and the
node-local Redis. A worker gets SIGTERM when the supervisor dies, even by SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
import socket
import sys
from collections.abc import Coroutine
from typing import Any

from router.child_process import RestartingChild, RestartPolicy
from router.config.loader import LoadedNodeConfig
from router.edge_supervisor import EdgeWorkerSupervisor
from router.linux_process import parent_death_signal
from router.node_redis import NodeRedis, maxmemory_bytes
from router.pool_membership import new_pool_directory
from router.worker_plan import PoolPlan, node_redis_holds

log = logging.getLogger("edge_router.workers")

# A worker that crashes is back at once, then after 1, 2, 4... s up to 30 s if it keeps crashing.
_RESTART_BACKOFF_S = 0.5
_MAX_RESTART_BACKOFF_S = 30.0
# Beyond the drain: the worker's own exit (closing the app's parts) before it is killed.
_EXIT_GRACE_S = 5.0


class WorkerPool:
    def __init__(
        self, loaded: LoadedNodeConfig, listening: list[socket.socket], plan: PoolPlan
    ) -> None:
        """`listening`: one socket per worker, all on the node's port (SO_REUSEPORT)."""
        self._loaded = loaded
        self._listening = listening
        self._plan = plan
        self.directory = new_pool_directory()
        self._node_redis = (
            None
            if plan.redis_server is None
            else NodeRedis(
                plan.redis_server,
                self.directory,
                maxmemory_bytes(loaded.config.cache.max_bytes),
            )
        )
        drain_s = loaded.config.server.drain_timeout_s
        policy = RestartPolicy(_RESTART_BACKOFF_S, _MAX_RESTART_BACKOFF_S, drain_s + _EXIT_GRACE_S)
        self.workers = [
            RestartingChild(
                f"worker {index}/{plan.workers}",
                functools.partial(self.worker_command, index),
                policy,
                pass_fds=(listening[index - 1].fileno(),),
                preexec_fn=parent_death_signal(),
            )
            for index in range(1, plan.workers + 1)
        ]

    def worker_command(self, index: int) -> list[str]:
        plan = self._plan
        command = [
            sys.executable, "-m", "router.cli", "serve",
            "--config", str(plan.config_path),
            "--log-level", plan.log_level,
            "--listen-fd", str(self._listening[index - 1].fileno()),
            "--worker-index", f"{index}/{plan.workers}",
            "--pool-dir", str(self.directory),
        ]  # fmt: skip
        return command

    async def run(self, until_stopped: Coroutine[Any, Any, Any]) -> int:
        """Run the pool until `until_stopped` returns (a signal), then drain and stop it all."""
        try:
            return await self._run(until_stopped)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    async def _run(self, until_stopped: Coroutine[Any, Any, Any]) -> int:
        async with asyncio.TaskGroup() as group:
            node_parts: list[asyncio.Task[None]] = []
            if self._node_redis is not None:
                node_parts.append(group.create_task(self._node_redis.run()))
                await self._node_redis.until_ready()
                held = " and ".join(node_redis_holds(self._loaded.config))
                log.info("node-local redis-server shares the workers' %s", held)
            if self._loaded.config.edge_worker.spawn:
                edge = EdgeWorkerSupervisor(self._loaded.config.edge_worker)
                node_parts.append(group.create_task(edge.run()))
            running = [group.create_task(worker.run()) for worker in self.workers]
            log.info("edge-router: %d workers on %s", len(self.workers), _name(self._listening[0]))
            received = await until_stopped
            log.info(
                "edge-router: %s received; draining the %d workers for up to %.0f s",
                getattr(received, "name", received),
                len(self.workers),
                self._loaded.config.server.drain_timeout_s,
            )
            # New connections are refused once the workers close theirs, not queued for no one.
            for sock in self._listening:
                sock.close()
            codes = await _stop_all(running, self.workers)
            for task in node_parts:
                task.cancel()
        failed = [code for code in codes if code not in (0, None)]
        log.info("edge-router stopped (worker exit codes: %s)", codes)
        return 1 if failed else 0


async def _stop_all(
    running: list[asyncio.Task[None]], workers: list[RestartingChild]
) -> list[int | None]:
    """Cancel each worker's restart loop, which sends its SIGTERM and waits for its drain; the
    exit code each worker ended with."""
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return [None if w.process is None else w.process.returncode for w in workers]


def _name(listening: socket.socket) -> str:
    host, port = listening.getsockname()[:2]
    return f"{host}:{port}"
