"""The closed loop: `concurrency` clients, each sending its next request when its last one ended,
from the start of the warm-up until `warmup_s + duration_s` have passed (a request still out then
is waited for, up to its timeout, and counted). The rate they achieve is the result, not an
input: what the target sustains at that many requests in flight. A concurrency sweep is phases
at rising concurrency.

Requests are numbered as they start, so the warm-up is the ones started in its first `warmup_s`;
latency is measured from each request's start (there is no schedule to be late against). A
client of a conversation holds one at a time, its turns one after another
(`loadtest.generator.conversation`). The most requests out at once is recorded: it never passes
`concurrency`.
"""

from __future__ import annotations

import asyncio
import bisect
from time import monotonic
from typing import TYPE_CHECKING, Final

from loadtest.generator.conversation import Dialogue
from loadtest.generator.questions import QuestionsExhausted
from loadtest.generator.settings import MAX_REQUESTS

if TYPE_CHECKING:
    from loadtest.generator.run import _Run

_START_DELAY_S: Final = 0.05


class _Clients:
    def __init__(self, run: _Run, start: float) -> None:
        self.run = run
        settings = run.settings
        self.warm_until = start + settings.warmup_s
        self.stop_at = self.warm_until + settings.duration_s
        self.next_index = 0
        self.next_conversation = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.exhausted = False

    async def client(self) -> None:
        run = self.run
        workload = run.workload
        conversation = run.settings.conversation
        dialogue = Dialogue()
        dialogue_id, turn = -1, 0
        while monotonic() < self.stop_at and not self.exhausted:
            index = self.next_index
            if index >= MAX_REQUESTS:
                return
            try:
                drawn = workload.draw()
            except QuestionsExhausted:
                self.exhausted = True
                run.notes.append(f"the cache mix's new questions ran out after {index} requests")
                return
            self.next_index += 1
            run.slots.room_for(index)
            if conversation is not None:
                if turn == 0:
                    dialogue = Dialogue()
                    dialogue.first = drawn
                    dialogue_id = self.next_conversation
                    self.next_conversation += 1
                elif dialogue.first is not None:
                    drawn = workload.same_conversation(drawn, dialogue.first)
                run.slots.conversation[index] = dialogue_id
                run.slots.turn[index] = turn
            run._record_draw(index, drawn)
            now = monotonic()
            run.slots.due_at[index] = now
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if conversation is not None:
                    await run._turn(dialogue, index, now, drawn)
                    turn = (turn + 1) % conversation.turns
                else:
                    assert drawn.body is not None
                    await run._send(index, now, drawn, drawn.body)
            finally:
                self.in_flight -= 1

    def measured_from(self) -> int:
        """The first request started after the warm-up (they start in order)."""
        due_at = self.run.slots.due_at
        return bisect.bisect_left(due_at, self.warm_until, 0, self.next_index)


async def run_clients(run: _Run) -> None:
    """Runs the clients to the end of the phase and records where its requests end."""
    concurrency = run.settings.concurrency
    assert concurrency is not None
    start = monotonic() + _START_DELAY_S
    await run.sleeper.sleep_until(start)
    clients = _Clients(run, start)
    try:
        await asyncio.gather(*(clients.client() for _ in range(concurrency)))
    finally:
        run.end = clients.next_index
        run.measured_from = clients.measured_from()
        run.max_in_flight = clients.max_in_flight
