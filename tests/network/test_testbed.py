"""The network test bed: hosts as namespaces, links through the user-space relay with the delay,
loss and partitions they are given, and nothing left behind (issue 21). Connection times are
checked from below only: a link of 20 ms one way cannot carry a TCP handshake in under 40 ms,
however fast the machine."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from loadtest.network.testbed import TestBed, TestBedError, Topology, remove_stale_namespaces

PORT = 7000
SERVER = (
    "import socket\n"
    f"s = socket.create_server(('0.0.0.0', {PORT}))\n"
    "print('listening', flush=True)\n"
    "while True:\n"
    "    c, _ = s.accept()\n"
    "    c.close()\n"
)
CONNECT = (
    "import socket, sys, time\n"
    "t = time.monotonic()\n"
    "try:\n"
    f"    socket.create_connection((sys.argv[1], {PORT}), timeout=float(sys.argv[2])).close()\n"
    "    print((time.monotonic() - t) * 1000)\n"
    "except OSError:\n"
    "    print('failed')\n"
)


def _namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}


def _connect_ms(bed: TestBed, host: str, to: str, timeout_s: float = 3.0) -> float | None:
    """A TCP handshake from `host` to `to`'s server, in ms (None: it failed)."""
    address = bed.address(to, seen_from=host)
    done = subprocess.run(
        ["ip", "netns", "exec", bed.namespace(host), sys.executable, "-c", CONNECT, address,
         str(timeout_s)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    said = done.stdout.strip()
    return None if said == "failed" else float(said)


@contextmanager
def _two_hosts(**link: object) -> Iterator[TestBed]:
    topology = Topology.of({"hosts": ["a", "b"], "links": [{"a": "a", "b": "b", **link}]})
    with TestBed(topology) as bed:
        server = bed.run("b", [sys.executable, "-c", SERVER], stdout=subprocess.PIPE)
        assert server.stdout is not None and server.stdout.readline() == b"listening\n"
        yield bed


def test_a_handshake_over_a_20_ms_link_takes_two_one_way_delays() -> None:
    with _two_hosts(delay_ms=20) as bed:
        times = [_connect_ms(bed, "a", "b") for _ in range(3)]
        assert all(t is not None and t >= 40.0 for t in times), times
        bed.shape("a", "b", delay_ms=60)
        slower = _connect_ms(bed, "a", "b")
        assert slower is not None and slower >= 120.0


def test_a_partition_cuts_the_link_and_healing_restores_it() -> None:
    with _two_hosts(delay_ms=1) as bed:
        assert _connect_ms(bed, "a", "b") is not None
        bed.partition("a", "b")
        assert _connect_ms(bed, "a", "b", timeout_s=1.0) is None
        bed.heal("a", "b")
        assert _connect_ms(bed, "a", "b") is not None


def test_one_way_loss_drops_that_way_only() -> None:
    with _two_hosts(delay_ms=1) as bed:
        bed.shape("b", "a", both_ways=False, loss=1.0)  # every answer from b lost
        assert _connect_ms(bed, "a", "b", timeout_s=1.0) is None
        bed.shape("b", "a", both_ways=False, loss=0.0)
        assert _connect_ms(bed, "a", "b") is not None


def test_nothing_is_left_behind_even_when_the_test_fails() -> None:
    before = _namespaces()
    with pytest.raises(RuntimeError, match="on purpose"), _two_hosts(delay_ms=1) as bed:
        made = {bed.namespace("a"), bed.namespace("b")}
        assert made <= _namespaces()
        raise RuntimeError("on purpose")
    assert _namespaces() == before


def test_namespaces_of_a_test_bed_whose_process_is_gone_are_removed() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = f"tb{gone.pid}-host"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        assert stale in remove_stale_namespaces()
        assert stale not in _namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True, check=False)


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"hosts": ["a"], "links": []}, "hosts: 2 to 16"),
        ({"hosts": ["a", "A b"], "links": []}, "lower-case"),
        ({"hosts": ["a", "b"], "links": [{"a": "a", "b": "c"}]}, "two of the hosts"),
        ({"hosts": ["a", "b"], "links": [{"a": "a", "b": "b", "dealy_ms": 1}]}, "unknown"),
        ({"hosts": ["a", "b"], "links": []}, "links: 1 to 32"),
    ],
)
def test_a_bad_topology_is_refused_saying_where(data: dict[str, object], said: str) -> None:
    with pytest.raises(TestBedError, match=said):
        Topology.of(data)


def test_the_relay_stops_with_the_test_bed() -> None:
    with _two_hosts(delay_ms=1) as bed:
        relay = bed._relay
        assert relay is not None and relay.poll() is None
    deadline = time.monotonic() + 10
    while relay.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert relay.poll() == 0
