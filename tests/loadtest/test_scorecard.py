"""The scorecard's grades (`loadtest.harness.scorecard`) on made-up results: what a fallback-
accounting phase is graded when the usage the clients were told and what the cloud billed agree,
and when they do not."""

from __future__ import annotations

from loadtest.generator.stats import LoadResult, UsageSummary
from loadtest.harness.scorecard import Bill, accounting_problems, accounting_verdict, verdict

NOTHING = Bill(0, 0, 0)
# Ten answers of eu-west: 9 input and 8 output tokens each.
SERVED = Bill(10, 90, 80)


def result(ok: int, errors_by_kind: dict[str, int], usage: UsageSummary) -> LoadResult:
    errors = sum(errors_by_kind.values())
    return LoadResult(
        url="http://127.0.0.1:8080/v1/chat/completions",
        kind="chat-json",
        offered_rate_per_s=10.0,
        duration_s=1.0,
        warmup_s=0.0,
        timer="asyncio",
        requests=ok + errors,
        ok=ok,
        errors=errors,
        errors_by_kind=errors_by_kind,
        sent_rate_per_s=10.0,
        ok_rate_per_s=float(ok),
        latency=None,
        ttft=None,
        send_lag=None,
        latency_from_send=None,
        ttft_from_send=None,
        tpot=None,
        itl=None,
        output_tokens_per_s=0.0,
        goodput_per_s=float(ok),
        slo={},
        usage=usage,
    )


def graded(usage: UsageSummary, served: Bill = SERVED, errors: dict[str, int] | None = None) -> str:
    bills = {"us-east": NOTHING, "eu-west": served, "ap-south": NOTHING}
    problems = accounting_problems(usage, bills, ("us-east", "ap-south"))
    return accounting_verdict(result(usage.answers, errors or {}, usage), problems)


def test_answers_told_the_usage_the_cloud_billed_pass() -> None:
    assert graded(UsageSummary(10, 10, 90, 80)) == "pass"


def test_a_wrong_total_fails_whatever_the_clients_saw() -> None:
    # A failed attempt's usage reported as well: more than billed.
    told_more = UsageSummary(10, 10, 90 + 9, 80)
    assert graded(told_more) == "fail"
    problems = accounting_problems(told_more, {"eu-west": SERVED}, ())
    assert problems == [
        "the clients were told of 10 answers, 99 input and 80 output tokens; the cloud billed "
        "10 answers, 90 input and 80 output tokens"
    ]
    # Attempts summed, or an answer billed twice (a hedge): the cloud billed more than told.
    assert graded(UsageSummary(10, 10, 90, 80), served=Bill(11, 99, 88)) == "fail"
    # Usage dropped from one answer.
    assert graded(UsageSummary(10, 9, 81, 72)) == "fail"
    # As the plain verdict, every request got a whole answer: a pass.
    assert verdict(result(10, {}, told_more)) == "pass"


def test_a_faulted_region_that_bills_fails_the_phase() -> None:
    bills = {"us-east": Bill(1, 9, 8), "eu-west": SERVED}
    usage = UsageSummary(11, 11, 99, 88)
    problems = accounting_problems(usage, bills, ("us-east", "ap-south"))
    assert problems == [
        "us-east, refusing every request, billed "
        "{'answers': 1, 'prompt_tokens': 9, 'completion_tokens': 8}"
    ]
    assert accounting_verdict(result(11, {}, usage), problems) == "fail"


def test_agreeing_accounts_keep_the_plain_grades_for_clear_errors_and_hangs() -> None:
    usage = UsageSummary(10, 10, 90, 80)
    assert graded(usage, errors={"http_503": 3}) == "partial"
    assert graded(UsageSummary(0, 0, 0, 0), served=NOTHING, errors={"http_503": 5}) == "safe"
    assert graded(usage, errors={"TimeoutError": 1}) == "fail"
