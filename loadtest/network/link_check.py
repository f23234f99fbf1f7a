"""What a test bed link gives: the TCP handshake's time over it and one connection's throughput,
at a few one-way delays, with the relay's CPU (docs/network-testbed.md, "Its limits").

    python -m loadtest.network.link_check [--delays 0,10,20,50] [--megabytes 52]

Needs root, as the test bed does.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence

import psutil

from loadtest.network.testbed import TestBed, Topology

PORT = 7001
SINK = (
    "import socket\n"
    f"s = socket.create_server(('0.0.0.0', {PORT}))\n"
    "print('up', flush=True)\n"
    "while True:\n"
    "    c, _ = s.accept()\n"
    "    n = 0\n"
    "    while (b := c.recv(1 << 20)):\n"
    "        n += len(b)\n"
    "    c.close()\n"
    "    print(n, flush=True)\n"
)
HANDSHAKE = (
    "import socket, sys, time\n"
    "t = time.monotonic()\n"
    f"socket.create_connection((sys.argv[1], {PORT}), timeout=5).close()\n"
    "print((time.monotonic() - t) * 1000)\n"
)
SEND = (
    "import socket, sys\n"
    f"c = socket.create_connection((sys.argv[1], {PORT}))\n"
    "buf = b'x' * (1 << 16)\n"
    "for _ in range(int(sys.argv[2])):\n"
    "    c.sendall(buf)\n"
    "c.shutdown(socket.SHUT_WR)\n"
    "c.recv(1)\n"
)


def _in(bed: TestBed, host: str, code: str, *arguments: str) -> str:
    argv = ["ip", "netns", "exec", bed.namespace(host), sys.executable, "-c", code, *arguments]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


def check(delay_ms: float, megabytes: float) -> str:
    topology = Topology.of(
        {"hosts": ["a", "b"], "links": [{"a": "a", "b": "b", "delay_ms": delay_ms}]}
    )
    with TestBed(topology) as bed:
        sink = bed.run("b", [sys.executable, "-c", SINK], stdout=subprocess.PIPE)
        assert sink.stdout is not None
        sink.stdout.readline()
        address = bed.address("b", seen_from="a")
        handshakes = sorted(float(_in(bed, "a", HANDSHAKE, address)) for _ in range(5))
        for _ in handshakes:  # the sink's line for each handshake's empty connection
            sink.stdout.readline()
        assert bed._relay is not None
        relay = psutil.Process(bed._relay.pid)
        cpu_before = sum(relay.cpu_times()[:2])
        chunks = max(1, int(megabytes * 1e6 / (1 << 16)))
        started = time.monotonic()
        _in(bed, "a", SEND, address, str(chunks))
        received = int(sink.stdout.readline())
        wall_s = time.monotonic() - started
        cores = (sum(relay.cpu_times()[:2]) - cpu_before) / wall_s
    return (
        f"| {delay_ms:g} | {handshakes[0]:.1f} / {handshakes[2]:.1f} / {handshakes[-1]:.1f} "
        f"| {received / wall_s / 1e6:.0f} | {cores:.0%} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delays", default="0,10,20,50", help="one-way delays, ms")
    parser.add_argument("--megabytes", type=float, default=52.0)
    args = parser.parse_args(argv)
    print("| one-way delay ms | handshake min / median / max ms | MB/s, one connection "
          "| relay CPU (of a core) |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: |")
    for delay in (float(d) for d in args.delays.split(",") if d):
        print(check(delay, args.megabytes), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
