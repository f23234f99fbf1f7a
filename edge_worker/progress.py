"""Progress of a long command on stderr: one line per step with its elapsed seconds.

On a terminal the running step's line counts up every second; in a log (CI, a pipe) each step
gives one start line and one end line, so nothing floods the log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class StepTime:
    label: str
    seconds: float


class Progress:
    def __init__(
        self,
        stream: TextIO,
        *,
        clock: Callable[[], float] = time.monotonic,
        live: bool | None = None,
    ) -> None:
        self._stream = stream
        self._clock = clock
        self._live = stream.isatty() if live is None else live
        self.steps: list[StepTime] = []

    def note(self, message: str) -> None:
        print(message, file=self._stream, flush=True)

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        start = self._clock()
        stop = threading.Event()
        ticker: threading.Thread | None = None
        if self._live:
            ticker = threading.Thread(target=self._tick, args=(label, start, stop), daemon=True)
            ticker.start()
        else:
            self.note(f"  ... {label}")
        try:
            yield
        except BaseException:
            self._finish(stop, ticker)
            self.note(f"  FAILED {label} after {self._clock() - start:.1f} s")
            raise
        self._finish(stop, ticker)
        seconds = self._clock() - start
        self.steps.append(StepTime(label, seconds))
        self.note(f"  done {label} ({seconds:.1f} s)")

    def _tick(self, label: str, start: float, stop: threading.Event) -> None:
        while True:
            print(f"\r  ... {label} ({self._clock() - start:.0f} s)", end="", file=self._stream)
            self._stream.flush()
            if stop.wait(1.0):
                return

    def _finish(self, stop: threading.Event, ticker: threading.Thread | None) -> None:
        stop.set()
        if ticker is not None:
            ticker.join()
            print("\r\033[K", end="", file=self._stream)  # clear the counting line
