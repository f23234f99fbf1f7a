"""Raw HTTP/1.1 over a socket, for tests of what a misbehaving client sends the front door: a
request head built by hand, a response read without a client library's leniency, and whether
the server closed the connection. Every wait is bounded by `WAIT_S`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.stack import Stack, running_stack

WAIT_S = 5.0  # an upper bound on every wait; the limits under test are well below it


@asynccontextmanager
async def stack_with(**server: Any) -> AsyncIterator[Stack]:
    """A running stack whose node config's `server` section has these fields."""
    async with running_stack(overrides={"server": server}) as stack:
        yield stack


@asynccontextmanager
async def connection(
    stack: Stack,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    host, port = stack.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def head(method: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: router",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body: status, headers (lower-case), body."""
    raw_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
    status_line, *lines = raw_head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), WAIT_S)
    return int(status_line.split()[1]), headers, body


async def closed(reader: asyncio.StreamReader) -> bool:
    """True when the server closes the connection within the bound, having sent nothing more."""
    try:
        rest = await asyncio.wait_for(reader.read(), WAIT_S)
    except ConnectionResetError:
        return True
    return rest == b""
