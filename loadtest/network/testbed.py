"""A network test bed: hosts as network namespaces, joined by links with real delay, jitter, loss,
bandwidth and partitions (`loadtest.network.relay`), built from a small topology and torn down on
exit, even on failure.

    topology = Topology.of({
        "hosts": ["client", "pop", "us-east"],
        "links": [
            {"a": "client", "b": "pop", "delay_ms": 2},
            {"a": "pop", "b": "us-east", "delay_ms": 20, "loss": 0.01},
        ],
    })
    with TestBed(topology) as bed:
        bed.run("pop", ["edge-router", "serve", ...])       # a process in the pop's namespace
        bed.address("us-east", seen_from="pop")              # 10.201.1.2, say
        bed.shape("pop", "us-east", delay_ms=200)            # change a link under traffic
        bed.partition("pop", "us-east"); bed.heal("pop", "us-east")

Each link is a point-to-point /30 (`10.<net>.<link>.1` on `a`, `.2` on `b`) between its two
namespaces, `<net>` one of 201 to 250 that no address of the test's own namespace is in yet, so
that two test beds at once (a test and a load-test run) do not answer for each other's links to
`here`; hosts talk only to hosts they have a link to, so no namespace forwards. The host named
`here` is no namespace but the test's own: a link to it lets the test's own clients (aiohttp, the
`openai` package) reach a host across a real link. Every
namespace has its own loopback up, so a service can listen on 127.0.0.1 for itself too. Namespaces
are named `tb<pid>-<host>`; one left by a test bed whose process is gone (killed with SIGKILL) is
removed by the next one. Needs root (`ip netns`, TUN devices), as CI runs. A topology has at
most `MAX_HOSTS` hosts and `MAX_LINKS` links.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any

MAX_HOSTS = 16
MAX_LINKS = 32
HERE = "here"  # the test's own namespace
_NETS = 50  # 10.201.0.0/16 to 10.250.0.0/16
_NAMESPACE = re.compile(r"^tb(\d+)-")
_HOST_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
_SHAPE_KEYS = ("delay_ms", "jitter_ms", "loss", "rate_mbit")


class TestBedError(RuntimeError):
    __test__ = False  # not a pytest class


@dataclass(frozen=True)
class LinkSpec:
    a: str
    b: str
    # The same both ways unless `ab` / `ba` say otherwise.
    shape: dict[str, float]
    ab: dict[str, float]
    ba: dict[str, float]


@dataclass(frozen=True)
class Topology:
    hosts: tuple[str, ...]
    links: tuple[LinkSpec, ...]

    @classmethod
    def of(cls, data: dict[str, Any]) -> Topology:
        hosts = tuple(data.get("hosts") or ())
        if not 2 <= len(hosts) <= MAX_HOSTS or len(set(hosts)) != len(hosts):
            raise TestBedError(f"hosts: 2 to {MAX_HOSTS} distinct names")
        for host in hosts:
            if not _HOST_NAME.match(host):
                raise TestBedError(f"hosts: {host!r}: lower-case letters, digits, '-'; 16 at most")
        links = []
        for index, link in enumerate(data.get("links") or ()):
            a, b = link.get("a"), link.get("b")
            if a not in hosts or b not in hosts or a == b:
                raise TestBedError(f"links[{index}]: a and b must be two of the hosts")
            shape = {k: float(v) for k, v in link.items() if k in _SHAPE_KEYS}
            unknown = set(link) - {"a", "b", "ab", "ba", *_SHAPE_KEYS}
            if unknown:
                raise TestBedError(f"links[{index}]: unknown fields {sorted(unknown)}")
            ab = {**shape, **{k: float(v) for k, v in (link.get("ab") or {}).items()}}
            ba = {**shape, **{k: float(v) for k, v in (link.get("ba") or {}).items()}}
            links.append(LinkSpec(a, b, shape, ab, ba))
        if not 1 <= len(links) <= MAX_LINKS:
            raise TestBedError(f"links: 1 to {MAX_LINKS}")
        return cls(hosts, tuple(links))


class TestBed:
    """The namespaces, the relay and the processes started in them; all gone on exit."""

    __test__ = False  # not a pytest class

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self._prefix = f"tb{os.getpid()}"
        self._relay: subprocess.Popen[str] | None = None
        self._processes: list[subprocess.Popen[bytes]] = []
        self._made: list[str] = []
        self._net = 201

    def namespace(self, host: str) -> str:
        if host == HERE:
            raise TestBedError(f"`{HERE}` is the test's own namespace, not one of the bed's")
        return f"{self._prefix}-{host}"

    def _ip_in(self, host: str, *arguments: str) -> None:
        """`ip ...` in `host`'s namespace."""
        if host == HERE:
            _ip(*arguments)
        else:
            _ip("-n", self.namespace(host), *arguments)

    def __enter__(self) -> TestBed:
        remove_stale_namespaces()
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _build(self) -> None:
        self._net = _free_net()
        for host in self.topology.hosts:
            if host == HERE:
                continue
            _ip("netns", "add", self.namespace(host))
            self._made.append(self.namespace(host))
            _ip("-n", self.namespace(host), "link", "set", "lo", "up")
        specs = [
            {"name": f"l{i}", "a": self._device(i, "a"), "b": self._device(i, "b"),
             "ab": link.ab, "ba": link.ba}
            for i, link in enumerate(self.topology.links)
        ]  # fmt: skip
        self._relay = subprocess.Popen(
            [sys.executable, "-m", "loadtest.network.relay"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._send({"links": specs})
        for i, link in enumerate(self.topology.links):
            for side, host in (("a", link.a), ("b", link.b)):
                device = self._device(i, side)
                if host != HERE:
                    _ip("link", "set", device, "netns", self.namespace(host))
                address, peer = self._addresses(i, side)
                self._ip_in(host, "addr", "add", address, "peer", f"{peer}/32", "dev", device)
                self._ip_in(host, "link", "set", device, "up")

    def _device(self, index: int, side: str) -> str:
        return f"tb{os.getpid() % 100_000}l{index}{side}"[:15]

    def _addresses(self, index: int, side: str) -> tuple[str, str]:
        a, b = f"10.{self._net}.{index}.1", f"10.{self._net}.{index}.2"
        return (a, b) if side == "a" else (b, a)

    def _link_index(self, one: str, other: str) -> tuple[int, str]:
        for i, link in enumerate(self.topology.links):
            if (link.a, link.b) == (one, other):
                return i, "ab"
            if (link.b, link.a) == (one, other):
                return i, "ba"
        raise TestBedError(f"no link between {one} and {other}")

    def address(self, host: str, seen_from: str) -> str:
        """`host`'s address on its link with `seen_from`."""
        index, direction = self._link_index(seen_from, host)
        return self._addresses(index, "b" if direction == "ab" else "a")[0]

    def shape(self, one: str, other: str, both_ways: bool = True, **shape: float) -> None:
        """The link's delay, jitter, loss or rate from now on (`one` to `other`, or both ways)."""
        index, direction = self._link_index(one, other)
        self._send({"link": f"l{index}", "direction": "both" if both_ways else direction,
                    "shape": shape})  # fmt: skip

    def partition(self, one: str, other: str) -> None:
        self._send({"link": f"l{self._link_index(one, other)[0]}", "partition": True})

    def heal(self, one: str, other: str) -> None:
        self._send({"link": f"l{self._link_index(one, other)[0]}", "partition": False})

    def run(
        self,
        host: str,
        argv: Sequence[str],
        stdout: IO[bytes] | int | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """A process in `host`'s namespace (`env` added to this process's environment), stopped
        when the test bed closes."""
        command = ["ip", "netns", "exec", self.namespace(host), *argv]
        environment = None if env is None else {**os.environ, **env}
        process = subprocess.Popen(
            command, stdout=stdout, stderr=subprocess.STDOUT, env=environment
        )
        self._processes.append(process)
        return process

    def _send(self, message: dict[str, Any]) -> None:
        relay = self._relay
        if relay is None or relay.stdin is None or relay.stdout is None:
            raise TestBedError("the relay is not running")
        relay.stdin.write(json.dumps(message) + "\n")
        relay.stdin.flush()
        answer = relay.stdout.readline().strip()
        if answer not in ("ready", "ok"):
            raise TestBedError(f"the relay answered {answer!r} (exit {relay.poll()})")

    def close(self) -> None:
        for process in self._processes:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._relay is not None:
            with contextlib.suppress(OSError):
                if self._relay.stdin is not None:
                    self._relay.stdin.close()  # the relay exits when its stdin closes
            try:
                self._relay.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._relay.kill()
                self._relay.wait()
            self._relay = None
        for namespace in self._made:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
        self._made.clear()


def remove_stale_namespaces() -> list[str]:
    """Namespaces of test beds whose process is gone (one killed before it could clean up)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    removed = []
    for line in listed.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        owner = _NAMESPACE.match(name)
        if owner is None or _alive(int(owner.group(1))):
            continue
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        removed.append(name)
    return removed


def _free_net() -> int:
    """A second octet for the links' addresses that the test's own namespace has no address in,
    starting from one the pid picks."""
    listed = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True)
    start = os.getpid() % _NETS
    for step in range(_NETS):
        net = 201 + (start + step) % _NETS
        if f" 10.{net}." not in listed.stdout:
            return net
    raise TestBedError("every 10.201-250.0.0/16 has an address here: too many test beds at once")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ip(*arguments: str) -> None:
    done = subprocess.run(["ip", *arguments], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise TestBedError(f"ip {' '.join(arguments)}: {done.stderr.strip()}")
