"""Load generator for OpenAI- and Anthropic-compatible endpoints: the command line, and the public
names of the generator for code that imports it.

In the open loop, request i is scheduled at t0 + i / rate (or at the i-th arrival of a seeded
Poisson process at that mean rate) whatever happened to the requests before it, and its latency is
measured from that *scheduled* time. A slow target, or a generator that falls behind, therefore
shows up as latency rather than as a quietly lower offered rate (no coordinated omission). How late
the generator itself was in starting each request is reported as `send_lag`, so an overloaded
generator is visible next to the numbers it produced. A closed loop (`concurrency`) has N clients
each sending when its last request ended: its achieved rate is its result.

The parts: `settings` (what a run is asked to do), `schedule` and `arrivals` (when each request is
due), `timer` (waking up on time), `workload` (what each request is: its kind, tenant and body,
with `distributions`, `questions`, `pii` and `conversation`), `apis`, `requests` and
`stream_readers` (the three APIs' bodies and how answers are judged), `run` and `closed_loop`
(sending, recording, draining), `slots` and `summary` (the records and the result) and `stats`.
`python -m loadtest.generator` is one run's command line.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
from collections.abc import Sequence

import orjson

from loadtest.generator.arrivals import PoissonPlan, schedule_for
from loadtest.generator.distributions import Choice, LogNormal, Uniform
from loadtest.generator.load import run_load, run_load_detailed
from loadtest.generator.requests import (
    OUTCOME_NO_CONTENT,
    OUTCOME_OK,
    OUTCOME_TRUNCATED,
    OUTCOME_UNFINISHED,
    StreamTokenClock,
    completion_tokens_in,
    request_body,
)
from loadtest.generator.run import open_session
from loadtest.generator.schedule import LoadPlan, request_count
from loadtest.generator.settings import (
    ARRIVALS,
    REQUEST_KINDS,
    CacheMix,
    Conversation,
    LoadSettings,
    RequestKind,
    Tenant,
)
from loadtest.generator.stats import LatencySummary, LoadResult, percentile
from loadtest.generator.timer import LoopSleeper, Sleeper, TimerFdSleeper, open_sleeper

__all__ = [
    "ARRIVALS",
    "OUTCOME_NO_CONTENT",
    "OUTCOME_OK",
    "OUTCOME_TRUNCATED",
    "OUTCOME_UNFINISHED",
    "REQUEST_KINDS",
    "CacheMix",
    "Choice",
    "Conversation",
    "LatencySummary",
    "LoadPlan",
    "LoadResult",
    "LoadSettings",
    "LogNormal",
    "LoopSleeper",
    "PoissonPlan",
    "RequestKind",
    "Sleeper",
    "StreamTokenClock",
    "Tenant",
    "TimerFdSleeper",
    "Uniform",
    "completion_tokens_in",
    "main",
    "open_session",
    "open_sleeper",
    "percentile",
    "request_body",
    "request_count",
    "run_load",
    "run_load_detailed",
    "schedule_for",
]


def _parse_args(argv: Sequence[str] | None) -> LoadSettings:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.generator",
        description="Load generator for an OpenAI- or Anthropic-compatible endpoint (chat, "
        "Responses or Messages); prints the result as JSON.",
    )
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--kind", choices=REQUEST_KINDS, default="chat-json")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument(
        "--concurrency", type=int, help="closed loop: N clients instead of a rate (--rate unused)"
    )
    parser.add_argument("--arrival", choices=ARRIVALS, default="fixed", help="open-loop arrivals")
    parser.add_argument("--seed", type=int, default=0, help="seeds every random draw")
    parser.add_argument("--prompt-bytes", type=int, default=0, help="the user message's size")
    parser.add_argument("--stream-share", type=float, help="share of requests streamed (0..1)")
    parser.add_argument("--pii-share", type=float, default=0.0, help="share of prompts with PII")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds excluded from stats")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--api-key", default="sk-loadtest")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, s")
    parser.add_argument(
        "--drain-timeout", type=float, default=5.0, help="wait for stragglers at the end, s"
    )
    parser.add_argument("--connections", type=int, default=1000, help="connection pool limit")
    parser.add_argument("--slo-ttft-ms", type=float, help="goodput: time to first token, ms")
    parser.add_argument("--slo-tpot-ms", type=float, help="goodput: time per output token, ms")
    parser.add_argument("--slo-latency-ms", type=float, help="goodput: end-to-end latency, ms")
    args = parser.parse_args(argv)
    try:
        return LoadSettings(
            base_url=args.url,
            kind=args.kind,
            rate_per_s=args.rate,
            duration_s=args.duration,
            warmup_s=args.warmup,
            model=args.model,
            api_key=args.api_key,
            max_tokens=args.max_tokens,
            request_timeout_s=args.timeout,
            drain_timeout_s=args.drain_timeout,
            max_connections=args.connections,
            concurrency=args.concurrency,
            arrival=args.arrival,
            seed=args.seed,
            prompt_bytes=args.prompt_bytes,
            stream_share=args.stream_share,
            pii_share=args.pii_share,
            ttft_slo_ms=args.slo_ttft_ms,
            tpot_slo_ms=args.slo_tpot_ms,
            latency_slo_ms=args.slo_latency_ms,
        )
    except ValueError as exc:
        parser.error(str(exc))


def _raise_open_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: Sequence[str] | None = None) -> int:
    import uvloop

    settings = _parse_args(argv)
    _raise_open_file_limit()
    # Objects alive at start never need scanning again; keeps collector pauses out of the numbers.
    gc.freeze()
    result = uvloop.run(run_load(settings))
    sys.stdout.buffer.write(orjson.dumps(result.to_json_dict(), option=orjson.OPT_INDENT_2))
    sys.stdout.buffer.write(b"\n")
    return 0
