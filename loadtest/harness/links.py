"""The network's own disruptions, on a link of the test bed the stack runs over
(`loadtest.harness.network_stack`), with where the router's chat requests went before, while and
after (`RegionTraffic`):

- `partition`: every packet dropped, both ways; the TCP connections across it stay open, as a
  real partition leaves them, so what was sent waits for the router's timeouts or the heal;
  undone, the link carries packets again (TCP retransmits what it lost);
- `link`: its `delay_ms`, `jitter_ms` or `loss` changed, both ways, for the window; what the
  disruption does not name keeps the topology's value; undone, the topology's shape is back.

The relay is told from a thread: it answers each command at once, but the generator's event loop
is never made to wait on a pipe.
"""

from __future__ import annotations

import asyncio

from loadtest.harness.disruption_actions import RegionTraffic
from loadtest.network.testbed import LinkSpec, TestBed


class LinkAction(RegionTraffic):
    async def prepare(self) -> None:
        if self.stack.bed is None or self.disruption.link is None:
            raise RuntimeError(f"{self.disruption.kind} needs a link of the network test bed")
        self.bed: TestBed = self.stack.bed
        self.ends: tuple[str, str] = self.disruption.link
        self.evidence["link"] = list(self.ends)
        await super().prepare()


class Partition(LinkAction):
    async def apply(self) -> None:
        await self.count_requests()
        self.applied = True
        await asyncio.to_thread(self.bed.partition, *self.ends)

    async def undo(self) -> None:
        await asyncio.to_thread(self.bed.heal, *self.ends)
        await self.count_requests()


class LinkChange(LinkAction):
    async def prepare(self) -> None:
        await super().prepare()
        self.spec = _spec(self.bed, *self.ends)
        self.evidence["shape"] = self.disruption.shape()
        self.evidence["restored"] = {"ab": self.spec.ab, "ba": self.spec.ba}

    async def apply(self) -> None:
        await self.count_requests()
        self.applied = True
        await asyncio.to_thread(self._shape, self.disruption.shape())

    async def undo(self) -> None:
        await asyncio.to_thread(self._shape, {})
        await self.count_requests()

    def _shape(self, change: dict[str, float]) -> None:
        """Each direction: the topology's shape, with `change` over it (the relay replaces a
        direction's whole shape, so what is not changed is given again)."""
        spec = self.spec
        self.bed.shape(spec.a, spec.b, both_ways=False, **{**spec.ab, **change})
        self.bed.shape(spec.b, spec.a, both_ways=False, **{**spec.ba, **change})


def _spec(bed: TestBed, one: str, other: str) -> LinkSpec:
    for link in bed.topology.links:
        if {link.a, link.b} == {one, other}:
            return link
    raise RuntimeError(f"no link between {one} and {other} in the test bed")
