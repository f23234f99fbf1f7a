"""The access log: one JSON line per request with the routing decision.

Never carries keys, nor prompts and completions: only what was decided and measured, and the
PII kinds a request carried (never a value). A tenant that opts in (`privacy.log_content`) gets
its requests' content as well, PII redacted (`router.telemetry.content`).

Every answer gets a line, with the request's id (`x-request-id`) and the client's address:
`record` for requests the pipeline ran, `record_answer` (from the front door's middleware) for
those refused before it (bad JSON, 401, 404, 413, the admin API).

Lines are buffered in memory and written in one call every `flush_interval_s` (and at shutdown),
like nginx's `access_log ... buffer=`. Going through `logging` with a write per line cost 60-100 us
of CPU per request on the benchmark machine, a fifth of the router's whole budget; building the
line with orjson and appending it to a list cost a few microseconds; keeping the few values
needed and encoding them with the batch takes even that off each request's critical path.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from typing import Any, BinaryIO, NamedTuple

import orjson
from aiohttp import web

from router.context import Decision, RequestContext
from router.telemetry.content import LoggedContent
from router.wire.usage import Usage

# Flush early under heavy load so one flush never encodes more than this many lines at once.
_FLUSH_ENTRIES = 500

# Set by the front door on every request; read into its line.
REQUEST_ID = web.RequestKey("router_request_id", str)
# Set once a request has its line, so the front door does not write a second one.
ACCESS_LOGGED = web.RequestKey("router_access_logged", bool)
_NO_DECISION = Decision()


class _Entry(NamedTuple):
    ts: float
    request_id: str
    client: str
    method: str
    path: str
    status: int
    duration_ms: float
    tenant: str
    model: str
    stream: bool
    decision: Decision
    usage: Usage | None
    content: LoggedContent | None

    def encode(self) -> bytes:
        decision, usage = self.decision, self.usage
        line: dict[str, Any] = {
            "ts": self.ts,
            "request_id": self.request_id,
            "client": self.client,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 3),
            "tenant": self.tenant,
            "model": self.model,
            "stream": self.stream,
            "served_by": decision.served_by,
            "endpoint": decision.endpoint,
            "region": decision.region,
            "upstream_model": decision.upstream_model,
            "reason": decision.reason_text(),
            "experiment": decision.experiment,
            "ttft_ms": None if decision.ttft_ms is None else round(decision.ttft_ms, 3),
            "input_tokens": usage.input_tokens if usage else None,
            "output_tokens": usage.output_tokens if usage else None,
            "usage_counted": usage.counted if usage else None,
            "privacy": decision.privacy,
        }
        if self.content is not None:
            line["input"] = self.content.input
            line["output"] = self.content.output
        return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)


class AccessLog:
    def __init__(self, stream: BinaryIO | None = None, flush_interval_s: float = 0.2) -> None:
        self._stream = stream if stream is not None else sys.stderr.buffer
        self._flush_interval_s = flush_interval_s
        self._entries: list[_Entry] = []

    def record(
        self,
        ctx: RequestContext,
        status: int,
        duration_ms: float,
        content: LoggedContent | None = None,
    ) -> None:
        """Keep what the line needs; it is encoded with the batch, off the request's path."""
        parsed = ctx.parsed
        self._append(
            ctx.request,
            ctx.request.path,
            status,
            duration_ms,
            (ctx.tenant, parsed.model, parsed.stream, ctx.decision, ctx.usage, content),
        )

    def record_answer(
        self, request: web.BaseRequest, status: int, duration_ms: float, path: str | None = None
    ) -> None:
        """A line for an answer given before the pipeline ran: no tenant, model or decision."""
        answer_path = request.path if path is None else path
        self._append(
            request, answer_path, status, duration_ms, ("", "", False, _NO_DECISION, None, None)
        )

    def _append(
        self,
        request: web.BaseRequest,
        path: str,
        status: int,
        duration_ms: float,
        routed: tuple[str, str, bool, Decision, Usage | None, LoggedContent | None],
    ) -> None:
        request[ACCESS_LOGGED] = True
        entry = _Entry(
            time.time(),
            request.get(REQUEST_ID, ""),
            request.remote or "",
            request.method,
            path,
            status,
            duration_ms,
            *routed,
        )
        self._entries.append(entry)
        if len(self._entries) >= _FLUSH_ENTRIES:
            self.flush()

    def flush(self) -> None:
        if not self._entries:
            return
        entries, self._entries = self._entries, []
        with contextlib.suppress(OSError, ValueError):  # a closed or full stream loses lines only
            self._stream.write(b"".join(entry.encode() for entry in entries))
            self._stream.flush()

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self._flush_interval_s)
                self.flush()
        finally:
            self.flush()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self.run(), name="access-log-flush")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
