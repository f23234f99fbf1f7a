"""Where a run records each request, one column per measure, indexed by request number: preallocated
for the open loop's schedule, grown in blocks for a closed loop, whose count is its result. Lists
rather than objects per request, so that recording is a store into a slot on the hot path."""

from __future__ import annotations

import math
from typing import Final

from loadtest.generator.requests import ReportedUsage

PENDING: Final = ""
_GROWTH: Final = 4096


class RequestSlots:
    __slots__ = (
        "cache",
        "conversation",
        "due_at",
        "held",
        "kind",
        "latency_s",
        "outcome",
        "output_tokens",
        "pii",
        "question",
        "send_lag_s",
        "size",
        "tenant",
        "token_times",
        "ttft_s",
        "turn",
        "usage",
    )

    def __init__(self, count: int) -> None:
        self.size = 0
        # When each request was due (time.monotonic()): its slot in the open loop (or, for a
        # held conversation turn, when its previous turn was answered), its start in a closed one.
        self.due_at: list[float] = []
        self.send_lag_s: list[float] = []
        self.latency_s: list[float] = []
        self.ttft_s: list[float] = []
        # A stream's content tokens' arrival times, and the output tokens of every answer.
        self.token_times: list[list[float] | None] = []
        self.output_tokens: list[int] = []
        # The usage each answer reported (None: it reported none, or there was no answer).
        self.usage: list[ReportedUsage | None] = []
        self.outcome: list[str] = []
        # What the workload drew: indices into its kinds and tenants, the question's kind
        # (-1: none), whether it carried PII, and a conversation's id and turn (-1: none).
        self.kind: list[int] = []
        self.tenant: list[int] = []
        self.question: list[int] = []
        self.pii: list[bool] = []
        self.conversation: list[int] = []
        self.turn: list[int] = []
        self.held: list[bool] = []
        # What the target's `x-router-cache` header said, if it said anything.
        self.cache: list[str | None] = []
        self.grow(count)

    def grow(self, count: int) -> None:
        """Room for `count` requests at least, the columns extended in place."""
        extra = count - self.size
        if extra <= 0:
            return
        for column, empty in (
            (self.due_at, math.nan),
            (self.send_lag_s, math.nan),
            (self.latency_s, math.nan),
            (self.ttft_s, math.nan),
            (self.output_tokens, 0),
            (self.outcome, PENDING),
            (self.kind, 0),
            (self.tenant, 0),
            (self.question, -1),
            (self.pii, False),
            (self.conversation, -1),
            (self.turn, -1),
            (self.held, False),
        ):
            column.extend([empty] * extra)  # type: ignore[list-item]
        self.token_times.extend([None] * extra)
        self.cache.extend([None] * extra)
        self.usage.extend([None] * extra)
        self.size = count

    def room_for(self, index: int) -> None:
        if index >= self.size:
            self.grow(index + _GROWTH)
