"""Multi-turn conversations: which request is which turn of which conversation, and what each
conversation has said so far.

Turn k of a conversation sends every earlier turn's user message and the target's actual answer
to it (its text, as the target sent it, JSON or streamed), then a new user message; all its turns
go as its first did (the same kind and tenant). A turn that failed leaves no trace: the next one
is sent without it.

**Open loop.** The schedule's slots are dealt to conversations so that they interleave: with
`think_s` of think time at `rate` requests a second, `width = round(rate * think_s)`
conversations (one at least) run side by side, slot i being turn (i // width) % turns of
conversation (i // (width * turns)) * width + i % width; a conversation's turns are thus
`width` slots, about `think_s`, apart. A turn is due when both its slot has come and its
conversation's previous turn has been answered. When the answer comes after the slot the turn
is held and sent as the answer arrives, and its latency is measured from then, not from its slot:
the wait was the previous turn's latency, already counted there; how many turns were held is
reported (`held`), so that a schedule the target could not keep is visible, not hidden.

**Closed loop.** Each client holds one conversation at a time, its turns one after another, and
starts a new one after the last turn.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

from loadtest.generator.apis import Message
from loadtest.generator.settings import Conversation
from loadtest.generator.workload import Drawn

# The answer kept for a later turn is cut to this many characters.
MAX_ANSWER_CHARS: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class TurnSlots:
    """Which conversation and turn each slot of the open loop's schedule is."""

    turns: int
    width: int

    @classmethod
    def of(cls, conversation: Conversation, rate_per_s: float) -> TurnSlots:
        return cls(conversation.turns, max(1, round(rate_per_s * conversation.think_s)))

    def turn_of(self, index: int) -> tuple[int, int]:
        """(conversation, turn) of slot `index`."""
        block, within = divmod(index, self.width * self.turns)
        turn, lane = divmod(within, self.width)
        return block * self.width + lane, turn


@dataclass(slots=True)
class Held:
    index: int
    slot_due: float
    drawn: Drawn


class Dialogue:
    """One conversation: its first turn's draw, what was said, and, in the open loop, whether a
    turn is in flight and the turns whose slot came while it was."""

    __slots__ = ("first", "history", "in_flight", "waiting")

    def __init__(self) -> None:
        self.first: Drawn | None = None
        self.history: list[Message] = []
        self.in_flight = False
        self.waiting: deque[Held] = deque()

    def answered(self, user_text: str, answer: str | None) -> None:
        """A turn ended: with the target's answer, or None when it failed."""
        if answer is not None:
            self.history.append({"role": "user", "content": user_text})
            self.history.append({"role": "assistant", "content": answer[:MAX_ANSWER_CHARS]})
