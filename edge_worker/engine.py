"""Generation batches and the queue in front of them.

Requests that wait while the model is busy are answered together: when a batch ends, up to
`max_batch` waiting requests that agree on their search options (temperature, top_p, seed) start
as one static batch (`Generator.batch`), in the engine's one worker thread. On this 2-core
machine a batch of 2 gives about 1.8x and a batch of 4 about 2.5x the tokens per second of one
request, where running requests in parallel threads gives nothing (onnxruntime already uses both
cores for one). At most `queue_size` requests wait beyond the batch; one more is refused at once
(`QueueFull`, a 429 at the HTTP layer), so memory stays bounded whatever the load. Pieces travel
from the thread to the event loop through `call_soon_threadsafe`; the loop never waits on the
model. A cancelled request's row stops getting tokens at once, and a batch with no row left
stops within one token, freeing the model for the next one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from edge_worker.generator import Generator, Piece, Sampling

# How long the first waiting request holds the model for others to join its batch. Requests over
# HTTP arrive a few milliseconds apart even when sent together (loadtest/studies/worker.py).
BATCH_WINDOW_S = 0.01


class QueueFull(Exception):
    """The batch is full and so is the queue."""


_DONE = object()


@dataclass(eq=False)
class _Job:
    prompt_ids: Sequence[int]
    sampling: Sampling
    pieces: asyncio.Queue[object] = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def search_options(self) -> tuple[float, float, int | None]:
        return self.sampling.temperature, self.sampling.top_p, self.sampling.seed


class Engine:
    def __init__(self, generator: Generator, *, max_batch: int, queue_size: int) -> None:
        self._generator = generator
        self._max_batch = max_batch
        self._capacity = max_batch + queue_size
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generator")
        self._waiting: list[_Job] = []
        self._batch: asyncio.Future[None] | None = None
        self.admitted = 0  # requests in the running batch or waiting for one
        self.running = 0  # requests in the running batch
        self.batches = 0  # batches started, for tests and metrics
        # For the metrics: batches by size (requests in the batch), and tokens generated (written
        # by the generator's thread only, read when scraped).
        self.batch_sizes: dict[int, int] = {}
        self.generated_tokens = 0

    @property
    def max_batch(self) -> int:
        return self._max_batch

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
        job = _Job(prompt_ids, sampling)
        self.admitted += 1
        self._waiting.append(job)
        # After a short window, so requests that arrive together start together: a request that
        # just misses a batch waits for the whole of it (batches are static).
        asyncio.get_running_loop().call_later(BATCH_WINDOW_S, self._start_batch)
        try:
            while (item := await job.pieces.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, Piece)
                yield item
        finally:
            job.cancelled.set()
            if job in self._waiting:  # never started: leave the queue
                self._waiting.remove(job)
                self.admitted -= 1

    def _start_batch(self) -> None:
        if self._batch is not None or not self._waiting:
            return
        first = self._waiting[0]
        jobs = [j for j in self._waiting if j.search_options == first.search_options]
        jobs = jobs[: self._max_batch]
        for job in jobs:
            self._waiting.remove(job)
        self.running = len(jobs)
        self.batches += 1
        self.batch_sizes[len(jobs)] = self.batch_sizes.get(len(jobs), 0) + 1
        loop = asyncio.get_running_loop()
        self._batch = loop.run_in_executor(self._executor, self._run, jobs, loop)
        self._batch.add_done_callback(lambda _: self._batch_ended(len(jobs)))

    def _batch_ended(self, size: int) -> None:
        self._batch = None
        self.running = 0
        self.admitted -= size
        self._start_batch()

    def _run(self, jobs: list[_Job], loop: asyncio.AbstractEventLoop) -> None:
        """In the worker thread: the batch, each piece handed to its job on the loop."""
        try:
            pieces = self._generator.batch(
                [job.prompt_ids for job in jobs],
                [job.sampling for job in jobs],
                wanted=lambda row: not jobs[row].cancelled.is_set(),
            )
            for row, piece in pieces:
                self.generated_tokens += 1
                loop.call_soon_threadsafe(jobs[row].pieces.put_nowait, piece)
        except Exception as error:  # every job of the batch learns why
            for job in jobs:
                loop.call_soon_threadsafe(job.pieces.put_nowait, error)
        finally:
            for job in jobs:
                loop.call_soon_threadsafe(job.pieces.put_nowait, _DONE)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
