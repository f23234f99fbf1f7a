"""Active probes: a cheap request to every endpoint on an interval, for RTT and reachability.

Runs as one background task for the app's lifetime. Each round probes all endpoints at once, so a
hanging endpoint delays nothing but its own sample. While an endpoint is still starting (never
answered, inside its start-up grace), it is probed every `_STARTING_INTERVAL_S` between rounds, so
the router sees a worker that finished loading its models within a fraction of a second rather
than a whole probe interval later (readiness waits for it).
"""

from __future__ import annotations

import asyncio
import logging

from router.config.model import HealthSettings
from router.endpoints.registry import Endpoint, Registry
from router.endpoints.transport import Transport

log = logging.getLogger("edge_router.prober")

_STARTING_INTERVAL_S = 0.1


class Prober:
    def __init__(self, registry: Registry, transport: Transport, settings: HealthSettings) -> None:
        self._registry = registry
        self._transport = transport
        self._settings = settings
        self._warm: set[str] = set()

    async def probe_once(self) -> None:
        await asyncio.gather(*(self._probe(e) for e in self._registry.endpoints.values()))

    async def _probe(self, endpoint: Endpoint) -> None:
        rtt_ms = await self._transport.probe(endpoint, self._settings.probe_timeout_s)
        if rtt_ms is not None:
            # The first probe of an endpoint pays for opening the connection (TCP, maybe TLS):
            # that is not the round trip later requests see on a pooled connection.
            if endpoint.name in self._warm:
                endpoint.rtt.observe(rtt_ms)
            else:
                self._warm.add(endpoint.name)
        health = self._registry.health
        was_available = health.available(endpoint.name)
        readmitted = health.get(endpoint.name).readmissions
        health.record_probe(endpoint.name, rtt_ms is not None, rtt_ms)
        if was_available and not health.available(endpoint.name):
            log.warning("endpoint %s failed its probes and is ejected", endpoint.name)
        if health.get(endpoint.name).readmissions != readmitted:
            # Back after an ejection: what its failures cost it is forgotten, so the next
            # requests measure it afresh (router.endpoints.estimators.PeakEwma.forget_penalty).
            for stats in endpoint.model_stats.values():
                stats.forget_penalties()
            log.info("endpoint %s answers its probes again and is readmitted", endpoint.name)

    async def run(self) -> None:
        while True:
            await self.probe_once()
            await self._probe_starting_until(self._settings.probe_interval_s)

    async def _probe_starting_until(self, interval_s: float) -> None:
        """Wait `interval_s`, probing the endpoints that are still starting meanwhile."""
        loop = asyncio.get_running_loop()
        next_round_s = loop.time() + interval_s
        while (left_s := next_round_s - loop.time()) > 0:
            starting = [e for e in self._registry.endpoints.values() if self._starting(e)]
            if not starting:
                await asyncio.sleep(left_s)
                return
            await asyncio.sleep(min(_STARTING_INTERVAL_S, left_s))
            await asyncio.gather(*(self._probe(e) for e in starting))

    def _starting(self, endpoint: Endpoint) -> bool:
        return self._registry.health.get(endpoint.name).starting
