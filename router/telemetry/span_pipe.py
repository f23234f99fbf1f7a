"""Finished spans sent to the exporter process (`router.telemetry.span_export`) through a pipe.

On the request's path a finished span costs an append to a list. Every `flush_interval_s` (or
at `FLUSH_RECORDS` records) the list is `marshal`led in one call and written to the exporter's
standard input; the event loop writes what the pipe does not take at once as the exporter reads.
The interval is short (20 ms) so that the exporter's work comes in short slices: handing over
every 0.2 s, its slices of several milliseconds on the router's core showed in the router's p99
even at idle priority (docs/benchmarks.md, "What tracing costs").
Nothing waits on the exporter: when it falls behind (a slow collector) and more than
`MAX_BUFFERED_BYTES` wait to be written, or when it is not running, spans are dropped and
counted (`router_trace_spans_total{outcome="dropped"}`), never queued without bound.

`run` keeps the exporter running while the router runs: it is started again after a back-off
when it exits, and at shutdown gets what is left, then the end of its input, and up to
`STOP_GRACE_S` to export it before it is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import marshal
import sys
import time

from router.config.model import TracingSettings
from router.telemetry.span_export import frame
from router.telemetry.spans import SpanRecord

log = logging.getLogger("edge_router.tracing")

FLUSH_RECORDS = 500
MAX_BUFFERED_BYTES = 8 * 1024 * 1024
STOP_GRACE_S = 10.0
_RESTART_BACKOFF_S = (0.5, 30.0)
_STABLE_RUN_S = 60.0


class SpanPipe:
    """A span sink (`__call__`) feeding the exporter process, and that process's keeper."""

    def __init__(self, settings: TracingSettings, flush_interval_s: float = 0.02) -> None:
        self._settings = settings
        self._flush_interval_s = flush_interval_s
        self._records: list[SpanRecord] = []
        self._stdin: asyncio.StreamWriter | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.sent = 0
        self.dropped = 0

    def command(self) -> list[str]:
        settings = self._settings
        command = [
            sys.executable, "-m", "router.telemetry.span_export",
            "--exporter", settings.exporter, "--endpoint", settings.otlp_endpoint,
            "--service-name", settings.service_name, "--timeout-s", str(settings.otlp_timeout_s),
        ]  # fmt: skip
        if settings.otlp_compression == "gzip":
            command.append("--gzip")
        return command

    @property
    def connected(self) -> bool:
        """Whether a running exporter takes what is flushed."""
        return self._stdin is not None

    def buffered_bytes(self) -> int:
        """Written to the exporter's input but not yet taken by the pipe."""
        stdin = self._stdin
        return 0 if stdin is None else stdin.transport.get_write_buffer_size()

    def __call__(self, record: SpanRecord) -> None:
        self._records.append(record)
        if len(self._records) >= FLUSH_RECORDS:
            self.flush()

    def flush(self) -> None:
        if not self._records:
            return
        records, self._records = self._records, []
        stdin = self._stdin
        if stdin is None or stdin.is_closing() or self.buffered_bytes() > MAX_BUFFERED_BYTES:
            self.dropped += len(records)
            return
        try:
            body = marshal.dumps(records)
        except ValueError:  # a value marshal does not take (spans.py keeps them plain): none sent
            log.exception("spans dropped: a record could not be encoded")
            self.dropped += len(records)
            return
        stdin.write(frame(body))
        self.sent += len(records)

    async def run(self) -> None:
        """Keep the exporter running until cancelled; then hand it what is left and stop it."""
        backoff_s = _RESTART_BACKOFF_S[0]
        try:
            while True:
                started = time.monotonic()
                process = self.process = await asyncio.create_subprocess_exec(
                    *self.command(), stdin=asyncio.subprocess.PIPE, start_new_session=True
                )
                self.starts += 1
                try:
                    await self._feed(process)
                finally:
                    await self._stop(process)
                if time.monotonic() - started >= _STABLE_RUN_S:
                    backoff_s = _RESTART_BACKOFF_S[0]
                log.warning(
                    "span exporter exited with %s; restarting in %.1fs",
                    process.returncode,
                    backoff_s,
                )
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, _RESTART_BACKOFF_S[1])
        finally:
            self._records.clear()

    async def _feed(self, process: asyncio.subprocess.Process) -> None:
        """Flush every interval until the process exits."""
        self._stdin = process.stdin
        try:
            while process.returncode is None:
                await asyncio.sleep(self._flush_interval_s)
                self.flush()
        finally:
            self._stdin = None

    async def _stop(self, process: asyncio.subprocess.Process) -> None:
        """What is left, then the end of the input; killed if it has not exited in time."""
        stdin = process.stdin
        try:
            async with asyncio.timeout(STOP_GRACE_S):
                if process.returncode is None and stdin is not None:
                    self._stdin = stdin
                    self.flush()
                    self._stdin = None
                    stdin.close()
                    with contextlib.suppress(ConnectionError):
                        await stdin.wait_closed()
                await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
