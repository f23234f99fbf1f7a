"""The request id on every log line written while a request is handled.

The front door sets `CURRENT_REQUEST_ID` for each request (aiohttp runs each request in a task of
its own, so the value is that request's alone); `RequestIdFilter`, on the process's log handlers,
adds ` request_id=<32 hex digits>` to every line written meanwhile, the same id as the answer's
`x-request-id` and the access-log line, and nothing to lines written outside a request.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

CURRENT_REQUEST_ID: ContextVar[str | None] = ContextVar("edge_router_request_id", default=None)

LOG_FORMAT = "%(asctime)s %(name)s %(message)s%(request_id_suffix)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        rid = CURRENT_REQUEST_ID.get()
        record.request_id = rid
        record.request_id_suffix = "" if rid is None else f" request_id={rid}"
        return True


def configure_logging(level: str, process_label: str | None = None) -> None:
    """The router's log lines on stderr: time, logger, message and, within a request, its id;
    `process_label` (`worker 2/4`) after the time, for the processes of `serve --workers N`."""
    label = "" if process_label is None else f"[{process_label}] "
    logging.basicConfig(level=level, format=LOG_FORMAT.replace("%(name)s", label + "%(name)s", 1))
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdFilter())
