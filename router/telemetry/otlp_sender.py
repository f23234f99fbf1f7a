"""Encoded OTLP export requests sent over HTTP, as the OTLP/HTTP exporter specification says: a
`POST` of `application/x-protobuf`, optionally gzipped, retried with exponential back-off (or
the collector's `Retry-After`) on 429, 502, 503, 504 and on connection errors, within a timeout
per batch; anything else is a failed batch, logged and dropped.

Runs in the exporter process (`router.telemetry.span_export`), where blocking is harmless. The
SDK's `OTLPSpanExporter` does the same but takes only the SDK's span objects, whose encoding was
most of the cost this process exists to cut (`router.telemetry.otlp_encoding`); its HTTP client is
not public API. Headers come from `OTEL_EXPORTER_OTLP_TRACES_HEADERS` (or
`OTEL_EXPORTER_OTLP_HEADERS`) as for the SDK's exporters (`key=value` pairs, comma separated,
values percent-encoded): they often hold a vendor's key, so they stay in the environment.
"""

from __future__ import annotations

import email.utils
import gzip
import logging
import random
import time
from collections.abc import Mapping
from urllib.parse import unquote

import requests

log = logging.getLogger("edge_router.span_export")

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
_MAX_ATTEMPTS = 6
_MAX_RETRY_AFTER_S = 60.0


def headers_from(environ: Mapping[str, str]) -> dict[str, str]:
    """The export requests' extra headers, from the environment the SDK's exporters read."""
    raw = environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or environ.get(
        "OTEL_EXPORTER_OTLP_HEADERS", ""
    )
    headers: dict[str, str] = {}
    for number, pair in enumerate(raw.split(","), start=1):
        name, equals, value = pair.partition("=")
        if equals and name.strip():
            headers[unquote(name.strip())] = unquote(value.strip())
        elif pair.strip():  # never its text in the log: a malformed pair may be a vendor's key
            log.warning("OTLP header pair %d is not name=value; left out", number)
    return headers


class OtlpHttpSender:
    def __init__(
        self,
        endpoint: str,
        timeout_s: float,
        gzip_body: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._timeout_s = timeout_s
        self._gzip = gzip_body
        self._headers = {**(headers or {}), "Content-Type": "application/x-protobuf"}
        if gzip_body:
            self._headers["Content-Encoding"] = "gzip"
        self._session = requests.Session()
        self._jitter = random.Random()

    def send(self, body: bytes) -> bool:
        """Whether the collector took the batch (after the retries the timeout leaves room for)."""
        data = gzip.compress(body, compresslevel=5) if self._gzip else body
        deadline = time.monotonic() + self._timeout_s
        for attempt in range(_MAX_ATTEMPTS):
            left_s = deadline - time.monotonic()
            failure, wait_s = self._post(data, left_s)
            if failure is None:
                return True
            if wait_s is None:
                log.error("OTLP export failed: %s; batch dropped", failure)
                return False
            backoff_s = wait_s if wait_s > 0 else 2**attempt * self._jitter.uniform(0.8, 1.2)
            if backoff_s >= deadline - time.monotonic() or attempt + 1 == _MAX_ATTEMPTS:
                log.error("OTLP export failed: %s; out of retries, batch dropped", failure)
                return False
            time.sleep(backoff_s)
        return False  # not reached: the last attempt returns above

    def _post(self, data: bytes, timeout_s: float) -> tuple[str | None, float | None]:
        """(None, None) on success; else what failed and how long to wait before a retry (0:
        the usual back-off; None: no retry)."""
        try:
            response = self._session.post(
                self._endpoint, data=data, headers=self._headers, timeout=max(timeout_s, 0.001)
            )
        except (requests.ConnectionError, requests.Timeout) as error:
            return f"{type(error).__name__}", 0.0
        except requests.RequestException as error:
            return f"{type(error).__name__}", None
        status = response.status_code
        if 200 <= status < 300:
            return None, None
        failure = f"HTTP {status} from {self._endpoint}"
        if status not in RETRYABLE_STATUSES:
            return failure, None
        return failure, _retry_after_s(response.headers.get("Retry-After"))

    def close(self) -> None:
        self._session.close()


def _retry_after_s(header: str | None) -> float:
    """Seconds from a `Retry-After` (delay or HTTP date), bounded; 0 when absent or unreadable."""
    if not header:
        return 0.0
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return 0.0
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)
