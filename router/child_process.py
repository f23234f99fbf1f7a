"""A child process kept running: started, restarted after a back-off when it exits, stopped with
SIGTERM and then SIGKILL. The edge worker (`router.edge_supervisor`) and the router's own worker
processes (`router.worker_pool`) are both kept this way.

The back-off doubles from `restart_backoff_s` up to `max_restart_backoff_s` and starts over once
a run has lasted `_STABLE_RUN_S`, as systemd's and Kubernetes' restart back-offs do, so a child
that crashes at start-up is not restarted in a tight loop and one that crashed once after a day
comes back at once. Every start and exit is logged with the child's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

log = logging.getLogger("edge_router.children")

# A run this long counts as healthy: the next crash starts the back-off from the beginning.
_STABLE_RUN_S = 60.0


@dataclass(frozen=True)
class RestartPolicy:
    restart_backoff_s: float
    max_restart_backoff_s: float
    # After SIGTERM, how long the child may take to exit before it is killed.
    stop_grace_s: float


class RestartingChild:
    """Runs `command()` as a child process until cancelled, restarting it whenever it exits."""

    def __init__(
        self,
        name: str,
        command: Callable[[], list[str]],
        policy: RestartPolicy,
        *,
        before_start: Callable[[], Awaitable[None]] | None = None,
        new_session: bool = False,
        pass_fds: Collection[int] = (),
        preexec_fn: Callable[[], None] | None = None,
        quiet: bool = False,
    ) -> None:
        """`before_start`: awaited before each start (the edge worker waits for its port);
        `new_session`: the child gets a session of its own, out of reach of a terminal's Ctrl-C;
        `pass_fds`: descriptors the child inherits (a listening socket); `preexec_fn`: run in
        the child before exec (`router.linux_process.parent_death_signal`); `quiet`: its standard
        output discarded (its exits are still logged)."""
        self.name = name
        self._command = command
        self._policy = policy
        self._before_start = before_start
        self._new_session = new_session
        self._pass_fds = tuple(pass_fds)
        self._preexec_fn = preexec_fn
        self._stdout = asyncio.subprocess.DEVNULL if quiet else None
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def run(self) -> None:
        """Keep the child running until cancelled; then stop it."""
        backoff_s = self._policy.restart_backoff_s
        try:
            while True:
                if self._before_start is not None:
                    await self._before_start()
                started = time.monotonic()
                self.process = await asyncio.create_subprocess_exec(
                    *self._command(),
                    start_new_session=self._new_session,
                    pass_fds=self._pass_fds,
                    preexec_fn=self._preexec_fn,
                    stdout=self._stdout,
                )
                self.starts += 1
                log.info("%s started (pid %d)", self.name, self.process.pid)
                code = await self.process.wait()
                ran_s = time.monotonic() - started
                if ran_s >= _STABLE_RUN_S:
                    backoff_s = self._policy.restart_backoff_s
                log.warning(
                    "%s exited with %s after %.1fs; restarting in %.1fs",
                    self.name,
                    code,
                    ran_s,
                    backoff_s,
                )
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, self._policy.max_restart_backoff_s)
        finally:
            await self.stop()

    async def stop(self, grace_s: float | None = None) -> int | None:
        """SIGTERM, then SIGKILL after `grace_s` (default: the policy's); the exit code, or None
        when no child was running."""
        process = self.process
        if process is None:
            return None
        if process.returncode is not None:
            return process.returncode
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            grace = self._policy.stop_grace_s if grace_s is None else grace_s
            return await asyncio.wait_for(asyncio.shield(process.wait()), grace)
        except TimeoutError:
            log.warning("%s did not exit within %.0f s of SIGTERM; killing it", self.name, grace)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            return await process.wait()
