"""The verdict on a phase run under a provider fault, with Failover Bench's four grades:

- `pass`: every request got a whole, correct answer (the gateway retried or failed over);
- `partial`: some did, and every other one got a clear error (an HTTP error status, or an error
  event that ends its stream);
- `safe`: none did, but every one got a clear error: the client knows to retry;
- `fail`: at least one request hung (no answer within its timeout), lost its connection, or got
  a broken answer as if it were one: a stream cut without `[DONE]` or an error, a stream without
  content, an answer the generator could not read.

The same grades judge a phase under one of the router's own disruptions (a region lost, Redis
lost, a reload storm, ...: `loadtest.harness.disruptions`), with one more way to fail: a request
refused for want of its tenant's policy during a reload storm.

Counts only: the verdict is what the client saw, whatever the timing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from loadtest.generator import LoadResult
from loadtest.generator.requests import OUTCOME_STREAM_ERROR

Verdict = Literal["pass", "partial", "safe", "fail"]


def clear_error(kind: str) -> bool:
    """An error the client can read as one: an HTTP error status or an error event."""
    return kind.startswith("http_") or kind == OUTCOME_STREAM_ERROR


def unexpected_errors(
    errors_by_kind: Mapping[str, int], disruption: str | None = None
) -> dict[str, int]:
    """The errors that fail a phase: those that are no clear error and, under a policy reload
    storm (`disruption` is the phase's kind), a key refused (401): its tenant's policy was not
    loaded while its file was being rewritten, when the last good one should have served."""
    return {
        kind: count
        for kind, count in errors_by_kind.items()
        if not clear_error(kind) or (disruption == "reload_storm" and kind == "http_401")
    }


def verdict(result: LoadResult, disruption: str | None = None) -> Verdict:
    if result.errors == 0 and result.ok > 0:
        return "pass"
    if unexpected_errors(result.errors_by_kind, disruption):
        return "fail"
    return "partial" if result.ok > 0 else "safe"
