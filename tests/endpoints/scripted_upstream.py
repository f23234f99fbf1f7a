"""A scripted upstream for the upstream clients' tests: a raw TCP server on a loopback port whose
script reads the request bytes and writes exactly the response bytes a test chooses, so framing,
keep-alive and broken connections are under the test's control.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ReceivedRequest:
    head: bytes
    body: bytes

    @property
    def request_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")

    @property
    def headers(self) -> dict[str, str]:
        lines = self.head.decode("latin-1").split("\r\n")[1:]
        pairs = (line.split(":", 1) for line in lines if line)
        return {name.strip().lower(): value.strip() for name, value in pairs}


class Peer:
    """The upstream's side of one accepted connection, as a script sees it."""

    def __init__(
        self, upstream: ScriptedUpstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.upstream = upstream
        self.number = upstream.connections  # 1 for the first connection accepted
        self._reader = reader
        self._writer = writer

    async def read_request(self) -> ReceivedRequest | None:
        """The next request on this connection, or None once the client closed it."""
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        request = ReceivedRequest(head, b"")
        length = int(request.headers.get("content-length", "0"))
        request = ReceivedRequest(head, await self._reader.readexactly(length))
        self.upstream.requests.append(request)
        return request

    async def write(self, data: bytes) -> None:
        if self._writer.is_closing():
            # uvloop raises RuntimeError on a write to a closed transport; say what happened.
            raise ConnectionResetError("the client closed the connection")
        self._writer.write(data)
        await self._writer.drain()

    async def write_in_pieces(self, data: bytes, piece_size: int) -> None:
        """Split across separate writes, so frame boundaries fall mid-line."""
        for start in range(0, len(data), piece_size):
            await self.write(data[start : start + piece_size])
            await asyncio.sleep(0.002)

    def close(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        self._writer.transport.abort()


Script = Callable[[Peer], Awaitable[None]]


class ScriptedUpstream:
    """A loopback TCP server running `script` on every accepted connection."""

    def __init__(self, script: Script) -> None:
        self._script = script
        self._server: asyncio.Server | None = None
        self._peers: list[Peer] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0
        self.requests: list[ReceivedRequest] = []
        self.script_errors: list[Exception] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        peer = Peer(self, reader, writer)
        self._peers.append(peer)
        try:
            await self._script(peer)
        except ConnectionError:
            pass  # the client went away, which several tests cause on purpose
        except asyncio.CancelledError:
            pass  # stop() ends the scripts still running; asyncio logs a cancelled callback task
        except Exception as exc:  # a script's own assertion: fail the test, not just a log line
            self.script_errors.append(exc)
        finally:
            peer.abort()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for peer in self._peers:
            peer.abort()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        assert not self.script_errors, self.script_errors


# -- response bytes ------------------------------------------------------------------------------


def http_response(
    body: bytes = b"", status: str = "200 OK", headers: Iterable[tuple[str, str]] = ()
) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in headers)]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)
LAST_CHUNK = b"0\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def answer_every_request(make_response: Callable[[ReceivedRequest], bytes]) -> Script:
    """A well-behaved keep-alive upstream: answers each request on the connection in turn."""

    async def script(peer: Peer) -> None:
        while (request := await peer.read_request()) is not None:
            await peer.write(make_response(request))

    return script


def echo_body(request: ReceivedRequest) -> bytes:
    return http_response(request.body)
