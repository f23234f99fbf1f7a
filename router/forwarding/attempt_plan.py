"""Which target the forward stage tries next: the fail-over rules in one place.

The route stage's plan in order (the pick, then the fail-over order), at most `ctx.max_attempts`
attempts (a hedge counts as one), none started after the request's deadline, and never the same
endpoint twice in a row.
"""

from __future__ import annotations

from router.clock import Clock
from router.context import RequestContext
from router.endpoints.registry import Target


class AttemptPlan:
    __slots__ = (
        "_clock",
        "_deadline_s",
        "_index",
        "_max_attempts",
        "_previous",
        "_targets",
        "attempts",
    )

    def __init__(self, ctx: RequestContext, clock: Clock) -> None:
        self._targets = ctx.plan
        self._max_attempts = ctx.max_attempts
        self._deadline_s = ctx.deadline_s
        self._clock = clock
        self._index = 0
        self._previous = ""
        self.attempts = 0

    def next(self) -> tuple[Target, float] | None:
        """The next target to try and the seconds left for it, or None when nothing may start."""
        index = self.peek()
        return None if index is None else self.take(index)

    def peek(self) -> int | None:
        """Where the next target to try is in the plan, without taking it."""
        if self.attempts >= self._max_attempts:
            return None
        targets, previous = self._targets, self._previous
        for index in range(self._index, len(targets)):
            if targets[index].endpoint.name != previous:
                return index
        return None

    def target_at(self, index: int) -> Target:
        return self._targets[index]

    def take(self, index: int) -> tuple[Target, float] | None:
        """Start the target at `index` (from `peek`): it and the seconds left, or None when the
        deadline has passed."""
        remaining_s = self._deadline_s - self._clock.now()
        if remaining_s <= 0:
            return None
        target = self._targets[index]
        self._index = index + 1
        self.attempts += 1
        self._previous = target.endpoint.name
        return target, remaining_s
