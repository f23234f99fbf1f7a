"""What each of the router's own disruptions does to the stack the suite started (a
`StartedStack`: on loopback or over the network test bed) and what it looks at meanwhile; the
reload storm's is `loadtest.harness.reload_storm`, a network link's `loadtest.harness.links`. An
`Action` is prepared before the phase, applied and undone on the schedule of
`loadtest.harness.disruptions`, and finished after the phase, when it writes its evidence."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from loadtest.harness.stack_config import LOCAL_MODEL
from loadtest.harness.started_stack import StartedStack

if TYPE_CHECKING:
    from loadtest.harness.disruption_spec import Disruption

SAMPLE_EVERY_S: Final = 0.25
_WORKER_BACK_WAIT_S: Final = 60.0


class Action(ABC):
    """One kind of disruption: `prepare` before the phase, `apply` and `undo` on schedule (each
    kind's own), `finish` after the phase (its evidence). Background watchers are stopped at the
    end."""

    def __init__(
        self,
        stack: StartedStack,
        disruption: Disruption,
        http: aiohttp.ClientSession,
        evidence: dict[str, Any],
    ) -> None:
        self.stack = stack
        self.disruption = disruption
        self.http = http
        self.evidence = evidence
        self.applied = False
        self.watchers: list[asyncio.Task[None]] = []

    async def prepare(self) -> None:
        return

    @abstractmethod
    async def apply(self) -> None: ...

    @abstractmethod
    async def undo(self) -> None: ...

    async def finish(self) -> None:
        return

    def stop_watching(self) -> None:
        for watcher in self.watchers:
            watcher.cancel()

    async def get_json(self, url: str, headers: dict[str, str] | None = None) -> Any:
        async with self.http.get(url, headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"GET {url}: {response.status} {await response.text()}")
            return await response.json()

    async def answers(self, url: str) -> bool:
        """Whether `url` answers 200 within a second."""
        try:
            async with self.http.get(url, timeout=aiohttp.ClientTimeout(total=1)) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False


class RegionTraffic(Action):
    """Where the router's chat requests went before, while and after a disruption
    (`chat_requests_by_region`: the requests each region received, as its cloud's control API
    counts them; the edge worker's are not counted)."""

    async def prepare(self) -> None:
        self.counts = [await self._chat_requests()]

    async def count_requests(self) -> None:
        """A count of each region's requests: at the change, at its undoing, at the end."""
        self.counts.append(await self._chat_requests())

    async def finish(self) -> None:
        await self.count_requests()
        names = ("before", "while_disrupted", "after")
        self.evidence["chat_requests_by_region"] = {
            name: {region: later[region] - earlier.get(region, 0) for region in later}
            for name, earlier, later in zip(names, self.counts, self.counts[1:], strict=False)
        }

    async def _chat_requests(self) -> dict[str, int]:
        counts = {}
        for region in self.stack.region_names:
            stats = await self.get_json(self.stack.region_control_url(region) + "/stats")
            counts[region] = int(stats["by_path"].get("/v1/chat/completions", 0))
        return counts


class RegionChange(RegionTraffic):
    """A change to regions of the simulated cloud through its control API, undone by putting
    back what their settings were before the phase."""

    async def prepare(self) -> None:
        await super().prepare()
        self.settings = {
            region: await self.get_json(self.stack.region_control_url(region))
            for region in self.disruption.regions
        }

    async def patch(self, region: str, patch: dict[str, object]) -> None:
        async with self.http.patch(self.stack.region_control_url(region), json=patch) as response:
            if response.status != 200:
                raise RuntimeError(
                    f"the control API refused {patch} for region {region!r}: "
                    f"{response.status} {await response.text()}"
                )


class RegionLoss(RegionChange):
    async def apply(self) -> None:
        await self.count_requests()
        self.applied = True
        for region in self.disruption.regions:
            await self.patch(region, {"down": True})

    async def undo(self) -> None:
        for region in self.disruption.regions:
            await self.patch(region, {"down": False})
        await self.count_requests()

    async def finish(self) -> None:
        await super().finish()
        self.evidence["serving_again"] = {
            region: await self.answers(f"{self.stack.region_url(region)}/models")
            for region in self.settings
        }


class Brownout(RegionChange):
    async def apply(self) -> None:
        await self.count_requests()
        self.applied = True
        for region in self.disruption.regions:
            await self.patch(region, {"ttft_ms": self.disruption.ttft_ms})

    async def undo(self) -> None:
        for region, settings in self.settings.items():
            await self.patch(region, {"ttft_ms": settings["ttft_ms"]})
        await self.count_requests()

    async def finish(self) -> None:
        await super().finish()
        self.evidence["ttft_ms_restored"] = {
            region: (await self.get_json(self.stack.region_control_url(region)))["ttft_ms"]
            == settings["ttft_ms"]
            for region, settings in self.settings.items()
        }


class RedisLoss(Action):
    """Redis stopped or killed; the router's own word on it: the gauge
    `router_limits_backend_degraded` (1 while it enforces limits locally, until a call to Redis
    succeeds again), sampled from the loss to the phase's end, and the count of calls served
    locally because Redis failed, `router_limits_backend_fallbacks_total`."""

    async def prepare(self) -> None:
        self.fallbacks_before = await self._metric("router_limits_backend_fallbacks_total")
        self.degraded_before = await self._metric("router_limits_backend_degraded") > 0
        self.degraded_seen = False

    async def apply(self) -> None:
        self.applied = True
        stop = self.disruption.mode == "stop"
        self.stack.signal_redis(signal.SIGSTOP if stop else signal.SIGKILL)
        self.watchers.append(asyncio.create_task(self._sample_degraded()))

    async def undo(self) -> None:
        if self.disruption.mode == "stop":
            self.stack.signal_redis(signal.SIGCONT)
        else:
            await asyncio.to_thread(self.stack.start_redis)

    async def finish(self) -> None:
        fallbacks = await self._metric("router_limits_backend_fallbacks_total")
        self.evidence.update(
            mode=self.disruption.mode,
            redis_answers=await asyncio.to_thread(self.stack.redis_answers),
            degraded_before=self.degraded_before,
            degraded_seen=self.degraded_seen,
            degraded_at_end=await self._metric("router_limits_backend_degraded") > 0,
            local_fallbacks=int(fallbacks - self.fallbacks_before),
        )

    async def _sample_degraded(self) -> None:
        while not self.degraded_seen:
            if await self._metric("router_limits_backend_degraded") > 0:
                self.degraded_seen = True
            await asyncio.sleep(SAMPLE_EVERY_S / 2)

    async def _metric(self, name: str) -> float:
        async with self.http.get(f"{self.stack.router_url}/metrics") as response:
            return metric_value(await response.text(), name)


def metric_value(text: str, name: str) -> float:
    """A series of a Prometheus text page, its labelled samples summed (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


class WorkerCrash(Action):
    """The router's edge worker killed with SIGKILL; the router's supervisor starts another,
    waited for until it answers on the worker's port (`back_after_s`)."""

    async def prepare(self) -> None:
        pid = await asyncio.to_thread(self.stack.edge_worker_pid)
        if pid is None:
            raise RuntimeError("the stack's router runs no edge worker to crash")
        self.evidence["killed_pid"] = pid
        self.evidence["local_model"] = LOCAL_MODEL

    async def apply(self) -> None:
        self.applied = True
        os.kill(self.evidence["killed_pid"], signal.SIGKILL)
        self.killed_at = time.monotonic()
        self.back = asyncio.create_task(self._until_back())
        self.watchers.append(self.back)

    async def undo(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.back), _WORKER_BACK_WAIT_S)

    async def finish(self) -> None:
        if self.applied and not self.back.done():
            self.back.cancel()
        self.evidence.setdefault("back_after_s", None)

    async def _until_back(self) -> None:
        while True:
            pid = await asyncio.to_thread(self.stack.edge_worker_pid)
            fresh = pid not in (None, self.evidence["killed_pid"])
            if fresh and await asyncio.to_thread(self.stack.edge_worker_answers):
                self.evidence["new_pid"] = pid
                self.evidence["back_after_s"] = round(time.monotonic() - self.killed_at, 3)
                return
            await asyncio.sleep(0.1)
