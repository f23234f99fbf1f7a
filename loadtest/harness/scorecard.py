"""The verdict on a phase run under a provider fault, with Failover Bench's four grades:

- `pass`: every request got a whole, correct answer (the gateway retried or failed over);
- `partial`: some did, and every other one got a clear error (an HTTP error status, or an error
  event that ends its stream);
- `safe`: none did, but every one got a clear error: the client knows to retry;
- `fail`: at least one request hung (no answer within its timeout), lost its connection, or got
  a broken answer as if it were one: a stream cut without `[DONE]` or an error, a stream without
  content, an answer the generator could not read.

Counts only: the verdict is what the client saw, whatever the timing.
"""

from __future__ import annotations

from typing import Literal

from loadtest.generator import LoadResult
from loadtest.generator.requests import OUTCOME_STREAM_ERROR

Verdict = Literal["pass", "partial", "safe", "fail"]


def clear_error(kind: str) -> bool:
    """An error the client can read as one: an HTTP error status or an error event."""
    return kind.startswith("http_") or kind == OUTCOME_STREAM_ERROR


def verdict(result: LoadResult) -> Verdict:
    if result.errors == 0 and result.ok > 0:
        return "pass"
    if not all(clear_error(kind) for kind in result.errors_by_kind):
        return "fail"
    return "partial" if result.ok > 0 else "safe"
