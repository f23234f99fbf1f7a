"""A region taken down answers nothing more, even on a connection accepted as it went down.

The race, made deterministic: the kernel completes a loopback connect at once, so after one yield
the event loop accepts it in the same iteration that runs `set_down`, and the connection's
`connection_made` (which registers it with the server) runs after the region aborted every
connection it knew of. Under load a router's pool opened such a connection now and then, and the
"down" region went on serving it (tests/router/test_routing.py failed with us-east answering).
"""

from __future__ import annotations

import asyncio
import random
import socket

import pytest

from loadtest.mock_cloud.region import Region
from loadtest.mock_cloud.settings import RegionSettings

MODELS_REQUEST = b"GET /v1/models HTTP/1.1\r\nHost: region\r\n\r\n"


async def _answer(sock: socket.socket) -> bytes:
    """What the region sends back to one request: the bytes before it closed, or b"" on a
    reset."""
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_sendall(sock, MODELS_REQUEST)
        return await asyncio.wait_for(loop.sock_recv(sock, 64), timeout=5.0)
    except ConnectionError:
        return b""


@pytest.mark.asyncio
async def test_a_connection_accepted_as_the_region_goes_down_gets_no_answer() -> None:
    region = Region(RegionSettings(name="us-east", port=0), random.Random(0), record_limit=10)
    await region.start()
    try:
        with socket.create_connection(("127.0.0.1", region.port)) as sock:
            sock.setblocking(False)
            await asyncio.sleep(0)  # the loop accepts it before this task goes on
            await region.set_down(True)
            assert await _answer(sock) == b""
        assert region.stats.requests_total == 0
    finally:
        await region.stop()
