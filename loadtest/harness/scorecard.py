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

One fault of the catalogue is judged on more than what the client saw: fallback accounting (a
phase with `accounting: true`), where the answers that failed over are also checked against what
the simulated cloud billed over the phase (each region's billing counters, `RegionStats.bill`,
read before and after it). Its grades:

- `pass`: every request got a whole answer, every whole answer reported its usage, and the usage
  the clients were told (summed over the whole answers, input and output tokens apart) is the
  usage the cloud billed over the phase, answer for answer: each answer accounted once, to the
  attempt that served it; and the faulted regions (which refuse every request) billed nothing;
- `partial` / `safe`: as above, the accounts agreeing, but only some (`partial`) or none
  (`safe`) of the requests got a whole answer, every other one a clear error;
- `fail`: the accounts disagree: a whole answer without its usage (dropped), a total the clients
  were told other than the one billed (a failed attempt's usage reported, attempts summed, an
  answer billed twice), a faulted region billing anything; or a request failed as `fail` says
  above.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from loadtest.generator import LoadResult
from loadtest.generator.requests import OUTCOME_STREAM_ERROR
from loadtest.generator.stats import UsageSummary

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


@dataclass(frozen=True, slots=True)
class Bill:
    """What one region of the simulated cloud billed over a phase: its billing counters
    (`billed_*` of `/control/regions/{name}/stats`) after the phase less before it."""

    answers: int
    prompt_tokens: int
    completion_tokens: int

    @classmethod
    def between(cls, before: Mapping[str, Any], after: Mapping[str, Any]) -> Bill:
        return cls(
            *(
                int(after[f"billed_{name}"]) - int(before[f"billed_{name}"])
                for name in ("answers", "prompt_tokens", "completion_tokens")
            )
        )

    def to_json_dict(self) -> dict[str, int]:
        return asdict(self)


def accounting_problems(
    usage: UsageSummary | None, bills: Mapping[str, Bill], faulted: Collection[str]
) -> list[str]:
    """Where the usage the clients were told and what the cloud billed disagree (none: they
    agree). `faulted`: the regions that refused every request of the phase."""
    if usage is None:
        return ["the run recorded no usage"]
    problems = []
    if usage.with_usage < usage.answers:
        problems.append(f"{usage.answers - usage.with_usage} whole answers reported no usage")
    billed = Bill(
        sum(bill.answers for bill in bills.values()),
        sum(bill.prompt_tokens for bill in bills.values()),
        sum(bill.completion_tokens for bill in bills.values()),
    )
    told = Bill(usage.with_usage, usage.prompt_tokens, usage.completion_tokens)
    if told != billed:
        problems.append(
            f"the clients were told of {told.answers} answers, {told.prompt_tokens} input and "
            f"{told.completion_tokens} output tokens; the cloud billed {billed.answers} answers, "
            f"{billed.prompt_tokens} input and {billed.completion_tokens} output tokens"
        )
    for region in faulted:
        bill = bills.get(region)
        if bill is not None and bill != Bill(0, 0, 0):
            problems.append(f"{region}, refusing every request, billed {bill.to_json_dict()}")
    return problems


def accounting_verdict(result: LoadResult, problems: Collection[str]) -> Verdict:
    """A fallback-accounting phase's grade (the module says what each means)."""
    return "fail" if problems else verdict(result)
