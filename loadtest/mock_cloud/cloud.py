"""MockCloud: every configured region plus the control API, started and stopped together."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType

from aiohttp import web

from .control import control_app
from .region import Region
from .settings import CloudSettings


class MockCloud:
    """Simulated cloud regions on loopback ports, for tests, demos and benchmarks, speaking OpenAI's
    Chat Completions and Responses and Anthropic's Messages APIs.

    Used in-process as `async with MockCloud(settings) as cloud:`, then
    `cloud.regions["us-east"].base_url` is an OpenAI `base_url`, `.anthropic_base_url` an
    Anthropic one, and `cloud.control_url` the control API; or as a process with
    `python -m loadtest.mock_cloud --config FILE`.
    """

    def __init__(
        self,
        settings: CloudSettings,
        *,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` is what the regions' prompt caches and flapping faults read (seconds, never
        going back), so that a test can move time past a TTL or a flap period."""
        self.settings = settings
        # One generator per region, seeded from the run seed and the name: what one region draws
        # does not depend on how much traffic the others got.
        self._regions = {
            r.name: Region(
                r,
                random.Random(f"{seed}/{r.name}"),
                settings.record_limit,
                settings.response_store_limit,
                clock=clock,
            )
            for r in settings.regions
        }
        self._control_runner: web.AppRunner | None = None
        self._control_url: str | None = None

    @property
    def regions(self) -> Mapping[str, Region]:
        return MappingProxyType(self._regions)

    @property
    def control_url(self) -> str:
        if self._control_url is None:
            raise RuntimeError("the mock cloud has not been started")
        return self._control_url

    async def start(self) -> None:
        try:
            for region in self._regions.values():
                await region.start()
            await self._start_control()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self._control_runner is not None:
            await self._control_runner.cleanup()
            self._control_runner = None
            self._control_url = None
        for region in self._regions.values():
            await region.stop()

    async def __aenter__(self) -> MockCloud:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _start_control(self) -> None:
        control = self.settings.control
        runner = web.AppRunner(control_app(self.regions), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._control_runner = runner
        site = web.TCPSite(runner, control.host, control.port)
        await site.start()
        host = f"[{control.host}]" if ":" in control.host else control.host
        self._control_url = f"http://{host}:{site.port}"
