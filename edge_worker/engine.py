"""Generation slots and the queue in front of them.

At most `slots` generations run at once, each in its own worker thread (onnxruntime-genai
releases the GIL while it computes), and at most `queue_size` more wait for a slot. A request
beyond that is refused at once (`QueueFull`, a 429 at the HTTP layer): memory stays bounded
whatever the load. Pieces travel from the thread to the event loop through `call_soon_threadsafe`,
so the loop never waits on the model. A cancelled request sets its stop flag; its thread stops
before the next token and its slot is free again within one token's time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from edge_worker.generator import Generator, Piece, Sampling


class QueueFull(Exception):
    """Every slot is busy and the queue is full."""


_DONE = object()


class Engine:
    def __init__(self, generator: Generator, *, slots: int, queue_size: int) -> None:
        self._generator = generator
        self._slots = asyncio.Semaphore(slots)
        self._capacity = slots + queue_size
        self._executor = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="generator")
        self.admitted = 0  # requests holding a slot or waiting for one
        self.running = 0  # requests holding a slot

    @property
    def generator(self) -> Generator:
        return self._generator

    async def generate(
        self, prompt_ids: Sequence[int], sampling: Sampling
    ) -> AsyncGenerator[Piece, None]:
        """The answer's pieces as they are generated; raises `QueueFull` before the first one
        when there is no room. Closing the iterator early cancels the generation."""
        if self.admitted >= self._capacity:
            raise QueueFull(f"{self.admitted} requests are running or queued")
        self.admitted += 1
        try:
            async with self._slots:
                self.running += 1
                try:
                    async for piece in self._run(prompt_ids, sampling):
                        yield piece
                finally:
                    self.running -= 1
        finally:
            self.admitted -= 1

    async def _run(self, prompt_ids: Sequence[int], sampling: Sampling) -> AsyncIterator[Piece]:
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def produce() -> None:
            try:
                for piece in self._generator.tokens(prompt_ids, sampling):
                    if stop.is_set():
                        return
                    loop.call_soon_threadsafe(pieces.put_nowait, piece)
            except BaseException as error:  # handed to the loop, raised there
                loop.call_soon_threadsafe(pieces.put_nowait, error)
            finally:
                loop.call_soon_threadsafe(pieces.put_nowait, _DONE)

        finished = loop.run_in_executor(self._executor, produce)
        try:
            while (item := await pieces.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, Piece)
                yield item
        finally:
            stop.set()
            await asyncio.shield(finished)  # the slot is free only once the thread is

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
