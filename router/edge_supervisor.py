"""Starting and supervising the PoP's edge worker (`edge-worker serve`), when the node config says
the router should (`edge_worker.spawn`).

The worker runs as a child process on a loopback port; the router reaches it as an ordinary
endpoint (the node config lists it with `locality: edge`), whose health the prober tracks like any
other, so a worker that is down or restarting simply takes no traffic. If the process exits, it
is started again after a back-off (`router.child_process`: doubling from `restart_backoff_s` up
to `max_restart_backoff_s`). On shutdown the worker gets SIGTERM, then SIGKILL if it has not
exited within 10 s.

The worker runs in a session of its own, so a terminal's Ctrl-C reaches the router alone, which
drains its requests (some of them served by the worker) before it stops the worker. The worker
is told the router's pid and exits by itself when the router is gone, even after a SIGKILL. A
port held by some other process (a worker left by an older router, say) is reported once with
its holder, and the worker is started when the port is free again, not restarted in a loop.
With `serve --workers N`, the supervisor of the N router processes starts the one edge worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from router.child_process import RestartingChild, RestartPolicy
from router.config.model import EdgeWorkerSettings
from router.ports import PortInUse, ensure_free

log = logging.getLogger("edge_router.edge_worker")

_STOP_GRACE_S = 10.0
_PORT_RECHECK_S = 1.0


class EdgeWorkerSupervisor:
    def __init__(self, settings: EdgeWorkerSettings) -> None:
        self._settings = settings
        policy = RestartPolicy(
            settings.restart_backoff_s, settings.max_restart_backoff_s, _STOP_GRACE_S
        )
        self._child = RestartingChild(
            "edge worker",
            self.command,
            policy,
            before_start=self._until_port_free,
            new_session=True,
        )

    @property
    def process(self) -> asyncio.subprocess.Process | None:
        return self._child.process

    @property
    def starts(self) -> int:
        return self._child.starts

    def command(self) -> list[str]:
        settings = self._settings
        command = [
            sys.executable, "-m", "edge_worker.cli", "serve",
            "--host", "127.0.0.1", "--port", str(settings.port),
            "--max-batch", str(settings.max_batch), "--queue", str(settings.queue),
            "--parent-pid", str(os.getpid()),
        ]  # fmt: skip
        if settings.store is not None:
            command += ["--store", settings.store]
        if settings.public_key is not None:
            command += ["--public-key", settings.public_key]
        return command

    async def run(self) -> None:
        """Keep the worker running until cancelled; then stop it."""
        await self._child.run()

    async def _until_port_free(self) -> None:
        reported = False
        while True:
            try:
                ensure_free("127.0.0.1", self._settings.port, "the edge worker's edge_worker.port")
            except PortInUse as busy:
                if not reported:
                    log.error("%s; the worker starts when it is free", busy)
                    reported = True
                await asyncio.sleep(_PORT_RECHECK_S)
                continue
            if reported:
                log.info("port %d is free again; starting the edge worker", self._settings.port)
            return
