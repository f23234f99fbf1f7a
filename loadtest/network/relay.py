"""The test bed's links: a user-space relay between pairs of TUN devices, with delay, jitter, loss,
a bandwidth limit and partitions, per link and per direction.

This kernel has no `netem` queueing discipline, so a link is two TUN devices, one moved into each
namespace it joins, and this process carries every IP packet from one to the other after the
link's delay. It runs as a process of its own (`python -m loadtest.network.relay`), so that the
test's own event loop never delays a packet. It reads its links as one JSON line on stdin, creates
their TUN devices, prints `ready`, then takes commands, one JSON line each, until stdin closes:

    {"links": [{"name": "l0", "a": "tb0a", "b": "tb0b", "ab": {...}, "ba": {...}}]}
    {"link": "l0", "direction": "ab" | "ba" | "both", "shape": {"delay_ms": 20, "loss": 0.01}}
    {"link": "l0", "partition": true}

A shape is `delay_ms`, `jitter_ms` (uniform, up to that much more, never reordering: a packet
leaves no earlier than the one before it, as netem does with a rate), `loss` (the share of packets
dropped at random) and `rate_mbit` (a packet leaves once the link has sent the ones before it; 0:
no limit). A partitioned link drops everything, both ways, until healed. Each direction holds at
most `_MAX_QUEUED` packets (a router's txqueuelen is 1,000): past it a packet is dropped, as a full
queue drops it.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import json
import os
import random
import selectors
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any

_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000
_MTU_READ = 65_536
_MAX_QUEUED = 1_000


@dataclass
class Shape:
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    rate_mbit: float = 0.0

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> Shape:
        return cls(**(data or {}))


@dataclass
class Direction:
    """One way of a link: packets read from `source`, written to `sink` when due."""

    source: int
    sink: int
    shape: Shape
    queue: list[tuple[float, int, bytes]] = field(default_factory=list)
    last_due_s: float = 0.0


@dataclass
class Link:
    name: str
    ab: Direction
    ba: Direction
    partitioned: bool = False


def open_tun(name: str) -> int:
    """A TUN device named `name` (no packet-information header), non-blocking; its descriptor."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), _IFF_TUN | _IFF_NO_PI))
    return fd


class Relay:
    def __init__(self, rng: random.Random) -> None:
        self.links: dict[str, Link] = {}
        self._by_source: dict[int, tuple[Link, Direction]] = {}
        self._rng = rng
        self._sequence = 0

    def add(self, spec: dict[str, Any]) -> None:
        a, b = open_tun(spec["a"]), open_tun(spec["b"])
        link = Link(
            spec["name"],
            Direction(a, b, Shape.of(spec.get("ab"))),
            Direction(b, a, Shape.of(spec.get("ba"))),
        )
        self.links[link.name] = link
        self._by_source[a] = (link, link.ab)
        self._by_source[b] = (link, link.ba)

    def command(self, order: dict[str, Any]) -> None:
        link = self.links[order["link"]]
        if "partition" in order:
            link.partitioned = bool(order["partition"])
        if "shape" in order:
            direction = order.get("direction", "both")
            for name in ("ab", "ba") if direction == "both" else (direction,):
                getattr(link, name).shape = Shape.of(order["shape"])

    def sources(self) -> list[int]:
        return list(self._by_source)

    def receive(self, fd: int, now_s: float) -> None:
        """Every packet waiting on `fd`, queued for when it is due (or dropped)."""
        link, direction = self._by_source[fd]
        while True:
            try:
                packet = os.read(fd, _MTU_READ)
            except BlockingIOError:
                return
            shape = direction.shape
            lost = shape.loss > 0 and self._rng.random() < shape.loss
            if link.partitioned or lost or len(direction.queue) >= _MAX_QUEUED:
                continue
            due_s = now_s + (shape.delay_ms + self._rng.uniform(0, shape.jitter_ms)) / 1000
            due_s = max(due_s, direction.last_due_s)
            if shape.rate_mbit > 0:
                due_s += len(packet) * 8 / (shape.rate_mbit * 1e6)
            direction.last_due_s = due_s
            self._sequence += 1
            heapq.heappush(direction.queue, (due_s, self._sequence, packet))

    def send_due(self, now_s: float) -> float | None:
        """Write every packet that is due; seconds until the next one (None: none queued)."""
        wait_s: float | None = None
        for link in self.links.values():
            for direction in (link.ab, link.ba):
                queue = direction.queue
                while queue and queue[0][0] <= now_s:
                    _, _, packet = heapq.heappop(queue)
                    if link.partitioned:
                        continue
                    with contextlib.suppress(OSError):  # the device's queue is full, or down: lost
                        os.write(direction.sink, packet)
                if queue:
                    left_s = queue[0][0] - now_s
                    wait_s = left_s if wait_s is None else min(wait_s, left_s)
        return wait_s


def main() -> int:
    relay = Relay(random.Random(int(os.environ.get("RELAY_SEED", "0")) or None))
    for spec in json.loads(sys.stdin.readline())["links"]:
        relay.add(spec)
    print("ready", flush=True)
    selector = selectors.DefaultSelector()
    for fd in relay.sources():
        selector.register(fd, selectors.EVENT_READ)
    os.set_blocking(sys.stdin.fileno(), False)
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ)
    pending = b""
    while True:
        wait_s = relay.send_due(time.monotonic())
        for key, _ in selector.select(timeout=wait_s if wait_s is not None else 1.0):
            if key.fd != sys.stdin.fileno():
                relay.receive(key.fd, time.monotonic())
                continue
            chunk = os.read(key.fd, 65_536)
            if not chunk:  # the test bed is gone: so are its links
                return 0
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                relay.command(json.loads(line))
                print("ok", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
