"""Client processes holding streams (`held_streams`), driven from a caller's event loop over
pipes: ten thousand streams are more than one process should read beside what it measures, so a
study (`loadtest/studies/streams.py`) spreads them over a few processes, each with the
generator's session (`run.open_session`) on uvloop, and asks each in turn to open its share,
mark, sample and close.

Each process answers one command at a time: `open` (its share, the seconds it took), `mark`,
`sample` (a `HeldSample`) and `close` (then it exits). A process ignores Ctrl-C: the caller
stops it, after whatever it measures. The objects of a process's streams are frozen out of the
garbage collector's reach after each batch it opens (`gc.freeze`): without that, opening 5,000
streams in one process ran six full collections, the longest 279 ms, each walking every stream
already open.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import signal
from collections.abc import Sequence
from typing import Any, Final

from loadtest.generator.held_streams import HeldSample, HeldStreams
from loadtest.generator.probe import Prepared
from loadtest.generator.run import open_session
from loadtest.generator.settings import LoadSettings

__all__ = ["HeldSample", "StreamHolders", "split"]

# How long `stop` waits for a process to exit before it is killed.
_EXIT_WAIT_S: Final = 5.0
# How long a process may take to answer a command, on top of an `open`'s own waits.
_ANSWER_WAIT_S: Final = 60.0


def split(count: int, parts: int) -> list[int]:
    """`count` in `parts` shares that differ by at most one."""
    return [count // parts + (1 if i < count % parts else 0) for i in range(parts)]


class StreamHolders:
    """`count` client processes holding streams of `request` through sessions of `settings`
    (its `max_connections` must cover a process's share, its `request_timeout_s` the hold)."""

    def __init__(self, count: int, settings: LoadSettings, request: Prepared) -> None:
        if count < 1:
            raise ValueError("at least one client process")
        context = multiprocessing.get_context("spawn")
        self._pipes: list[multiprocessing.connection.Connection] = []
        self._closed = False
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_holder_main, args=(theirs, settings, request), daemon=True
            )
            process.start()
            theirs.close()
            self._pipes.append(ours)
            self.processes.append(process)

    async def open(self, count: int, batch: int, first_event_timeout_s: float) -> float:
        """Open `count` more streams, shared out between the processes; the slowest one's
        seconds."""
        shares = split(count, len(self._pipes))
        batches = -(-max(shares) // batch) if batch > 0 else 0
        answers = await self._ask(
            [("open", share, batch, first_event_timeout_s) for share in shares],
            _ANSWER_WAIT_S + batches * first_event_timeout_s,
        )
        return max(float(answer) for answer in answers)

    async def mark(self) -> None:
        await self._ask([("mark",)] * len(self._pipes))

    async def sample(self) -> list[HeldSample]:
        samples: list[HeldSample] = await self._ask([("sample",)] * len(self._pipes))
        return samples

    async def close(self) -> None:
        """Every stream closed; the processes then exit."""
        await self._ask([("close",)] * len(self._pipes))
        self._closed = True

    def stop(self) -> None:
        """End the processes: after `close` they exit on their own, else they are terminated."""
        for process in self.processes:
            process.join(timeout=_EXIT_WAIT_S if self._closed else 0)
            if process.is_alive():
                process.terminate()
                process.join(timeout=_EXIT_WAIT_S)
            if process.is_alive():
                process.kill()
                process.join(timeout=_EXIT_WAIT_S)
        for pipe in self._pipes:
            pipe.close()

    async def _ask(
        self, commands: Sequence[tuple[Any, ...]], wait_s: float = _ANSWER_WAIT_S
    ) -> list[Any]:
        """Each process's answer to its command; a process that exited or did not answer
        within `wait_s` raises."""
        for pipe, command in zip(self._pipes, commands, strict=True):
            pipe.send(command)
        answers = await asyncio.gather(
            *(asyncio.to_thread(_receive, pipe, wait_s) for pipe in self._pipes)
        )
        return list(answers)


def _receive(pipe: multiprocessing.connection.Connection, wait_s: float) -> Any:
    if not pipe.poll(wait_s):
        raise TimeoutError(f"a stream holder did not answer within {wait_s:g} s")
    answer = pipe.recv()
    if isinstance(answer, BaseException):
        raise answer
    return answer


def _holder_main(
    pipe: multiprocessing.connection.Connection, settings: LoadSettings, request: Prepared
) -> None:
    import uvloop

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller stops us, after what it measures
    uvloop.run(_answer_commands(pipe, settings, request))


async def _answer_commands(
    pipe: multiprocessing.connection.Connection, settings: LoadSettings, request: Prepared
) -> None:
    loop = asyncio.get_running_loop()
    async with open_session(settings) as session:
        streams = HeldStreams(session, request)
        while True:
            command, *arguments = await loop.run_in_executor(None, pipe.recv)
            answer: object = None
            try:
                if command == "open":
                    count, batch, timeout_s = arguments
                    answer = await streams.open(count, batch, timeout_s, after_batch=gc.freeze)
                elif command == "mark":
                    streams.mark()
                elif command == "sample":
                    answer = streams.sample()
                else:
                    await streams.close()
            except Exception as exc:  # sent back, raised in the caller
                answer = exc
            pipe.send(answer)
            if command == "close":
                return
