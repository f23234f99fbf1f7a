"""The client side of `bench_streams`: processes that each open many slow streamed chat requests
on raw asyncio protocols (no HTTP client library, so that the clients are never the bottleneck)
and answer the benchmark's commands (open, mark, sample, close) over a pipe."""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import signal
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import orjson

from loadtest.harness.proxy_settings import LOOPBACK

API_KEY: Final = "sk-bench-streams"
MODEL: Final = "gpt-4o-mini"


def stream_request(port: int) -> bytes:
    """The whole HTTP/1.1 request each stream sends, built once."""
    body = orjson.dumps(
        {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "Tell a story."}]}
    )
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Stream(asyncio.Protocol):
    """One streamed chat request: sends the request, reads the status, counts SSE events."""

    def __init__(self, request: bytes, first: asyncio.Future[None]) -> None:
        self._request = request
        self._head = b""
        self._transport: asyncio.Transport | None = None
        self._closing = False
        self.first = first
        self.status = 0
        self.events = 0
        self.outcome = "connecting"
        self.error_body = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        if not self.status:
            self._head += data
            head, found, body = self._head.partition(b"\r\n\r\n")
            if not found:
                return
            self._head = b""
            self.status = int(head[9:12])
            if self.status != 200:
                self.outcome = "refused (503)" if self.status == 503 else f"status {self.status}"
                self.error_body = body[:300]
                self._settle()
                self.close()
                return
            data = body
        self.events += data.count(b"data:")
        if self.events and self.outcome == "connecting":
            self.outcome = "streaming"
            self._settle()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._closing:
            before = self.outcome == "connecting"
            self.outcome = "closed before answer" if before else "closed mid-stream"
        self._settle()

    def close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def _settle(self) -> None:
        if not self.first.done():
            self.first.set_result(None)


@dataclass
class ClientSide:
    """One client process's streams and the commands it answers over its pipe."""

    port: int
    request: bytes
    streams: list[Stream] = field(default_factory=list)
    connect_errors: Counter[str] = field(default_factory=Counter)
    marked: list[int] = field(default_factory=list)

    async def open(self, count: int, batch: int, first_chunk_timeout_s: float) -> dict[str, Any]:
        started = time.monotonic()
        for offset in range(0, count, batch):
            opened = await asyncio.gather(
                *(self._connect() for _ in range(min(batch, count - offset)))
            )
            firsts = [stream.first for stream in opened if stream is not None]
            if firsts:
                await asyncio.wait(firsts, timeout=first_chunk_timeout_s)
        return {"ramp_s": time.monotonic() - started}

    async def _connect(self) -> Stream | None:
        loop = asyncio.get_running_loop()
        stream = Stream(self.request, loop.create_future())
        try:
            await loop.create_connection(lambda: stream, LOOPBACK, self.port)
        except OSError as exc:
            self.connect_errors[f"connect: {type(exc).__name__} {exc.errno}"] += 1
            return None
        self.streams.append(stream)
        return stream

    def mark(self) -> dict[str, Any]:
        self.marked = [stream.events for stream in self.streams]
        return {}

    def sample(self) -> dict[str, Any]:
        outcomes = Counter(stream.outcome for stream in self.streams) + self.connect_errors
        receiving = sum(
            1
            for stream, events in zip(self.streams, self.marked, strict=False)
            if stream.outcome == "streaming" and stream.events > events
        )
        bodies = {
            s.outcome: s.error_body.decode(errors="replace") for s in self.streams if s.error_body
        }
        return {"outcomes": dict(outcomes), "receiving": receiving, "error_bodies": bodies}

    def close(self) -> dict[str, Any]:
        for stream in self.streams:
            stream.close()
        self.streams.clear()
        return {}


def client_process(conn: multiprocessing.connection.Connection, port: int) -> None:
    """A client process's main: answer commands from the benchmark until `close`."""
    import uvloop

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the benchmark stops us, after the router
    uvloop.run(_answer_commands(conn, ClientSide(port, stream_request(port))))


async def _answer_commands(conn: multiprocessing.connection.Connection, side: ClientSide) -> None:
    loop = asyncio.get_running_loop()
    while True:
        command, *arguments = await loop.run_in_executor(None, conn.recv)
        if command == "open":
            conn.send(await side.open(*arguments))
        elif command == "mark":
            conn.send(side.mark())
        elif command == "sample":
            conn.send(side.sample())
        else:
            conn.send(side.close())
            await asyncio.sleep(0.5)  # let the closes go out
            return


class Clients:
    """The client processes, driven from the benchmark's event loop."""

    def __init__(self, count: int, port: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipes: list[multiprocessing.connection.Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=client_process, args=(theirs, port), daemon=True)
            process.start()
            self._pipes.append(ours)
            self.processes.append(process)

    async def ask(self, command: str, *per_client: Sequence[Any]) -> list[dict[str, Any]]:
        for i, pipe in enumerate(self._pipes):
            pipe.send((command, *(arguments[i] for arguments in per_client)))
        return list(await asyncio.gather(*(asyncio.to_thread(p.recv) for p in self._pipes)))

    async def open(self, count: int, batch: int, timeout_s: float) -> float:
        shares = split(count, len(self._pipes))
        answers = await self.ask("open", shares, [batch] * len(shares), [timeout_s] * len(shares))
        return max(float(answer["ramp_s"]) for answer in answers)

    def stop(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=5.0)


def split(count: int, parts: int) -> list[int]:
    """`count` in `parts` shares that differ by at most one."""
    return [count // parts + (1 if i < count % parts else 0) for i in range(parts)]
