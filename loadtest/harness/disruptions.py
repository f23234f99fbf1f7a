"""The router's own disruptions, applied to the stack the suite started (`loadtest.harness.stack`,
or `loadtest.harness.network_stack` over the network test bed) during a phase: what surrounds the
router breaks `at_s` seconds into the phase and is restored `for_s` later, or at the phase's end.

    disruption: {kind: region_loss, regions: [us-east], at_s: 2.0, for_s: 5.0}

- `region_loss`: the `regions` go down (their ports refuse connections, open ones are reset);
  undone, they listen again;
- `brownout`: the `regions`' TTFT becomes `ttft_ms` (4 s by default) while their TCP stays
  healthy; undone, it is what it was;
- `redis_loss`: the Redis server is stopped with SIGSTOP (`mode: stop`, a partition: connections
  are accepted and never answered) or killed with SIGKILL (`mode: kill`: connections refused);
  undone, SIGCONT, or a new server on the same port (empty: the counts start over);
- `reload_storm`: the demo tenant's policy file rewritten `writes_per_s` times a second, valid
  and invalid versions in turn, each by write-and-rename: as an editor saves (`style: editor`, a
  temporary file renamed over it) or as Kubernetes updates a ConfigMap volume (`style:
  kubernetes`, a new directory and the `..data` symlink renamed over the old one); undone, the
  original file is back and the router is waited for to load it;
- `worker_crash`: the router's edge worker killed with SIGKILL; the router restarts it itself,
  which the undoing waits for (no `for_s`);
- over the network test bed only, `partition` (a link cut, both ways) and `link` (its delay,
  jitter or loss changed): `loadtest.harness.links`.

The schema is `loadtest.harness.disruption_spec`; this module owns the schedule; what each kind
does is in
`loadtest.harness.disruption_actions` and, for the storm, `loadtest.harness.reload_storm`. What
each did and what came of it goes in the phase's record (`disruption`: when it was applied
and undone, and its evidence: where the traffic went, whether Redis answers again and the router
said it was serving on local limits, how many policy versions were written and loaded, when the
worker was back, which link was cut or shaped and the shape it was given back).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp

from loadtest.harness.disruption_actions import Action, Brownout, RedisLoss, RegionLoss, WorkerCrash
from loadtest.harness.disruption_spec import Disruption
from loadtest.harness.links import LinkChange, Partition
from loadtest.harness.reload_storm import ReloadStorm
from loadtest.harness.started_stack import StartedStack


@dataclass(slots=True)
class DisruptionRecord:
    """When the disruption was applied and undone, as measured (seconds from the phase's start,
    when the generator was started: its first request is due 50 ms later; None: it was not),
    and what was seen of it. In the phase's record as `at_s` and `until_s` (the window the HTML
    report shades), each only when it happened."""

    kind: str
    applied_s: float | None = None
    undone_s: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        times = {"at_s": self.applied_s, "until_s": self.undone_s}
        return {
            "kind": self.kind,
            **{name: round(value, 3) for name, value in times.items() if value is not None},
            "evidence": self.evidence,
        }


@asynccontextmanager
async def disrupted(stack: StartedStack, disruption: Disruption) -> AsyncIterator[DisruptionRecord]:
    """The block (a phase's load) with the disruption applied on schedule and undone, whatever
    happened, by the block's end at the latest; then its evidence collected."""
    record = DisruptionRecord(disruption.kind)
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        action = _ACTIONS[disruption.kind](stack, disruption, http, record.evidence)
        await action.prepare()
        schedule = asyncio.create_task(_on_schedule(action, disruption, started, record))
        try:
            yield record
        finally:
            if not schedule.done():
                schedule.cancel()
            failure = await asyncio.gather(schedule, return_exceptions=True)
            try:
                if action.applied and record.undone_s is None:
                    await action.undo()
                    record.undone_s = time.monotonic() - started
                await action.finish()
            finally:
                action.stop_watching()
        if isinstance(failure[0], Exception):
            raise failure[0]


async def _on_schedule(
    action: Action, disruption: Disruption, started: float, record: DisruptionRecord
) -> None:
    await asyncio.sleep(max(0.0, started + disruption.at_s - time.monotonic()))
    record.applied_s = time.monotonic() - started
    await action.apply()
    if disruption.for_s is None:
        return
    await asyncio.sleep(max(0.0, started + disruption.at_s + disruption.for_s - time.monotonic()))
    await action.undo()
    record.undone_s = time.monotonic() - started


_ACTIONS: Final[dict[str, type[Action]]] = {
    "region_loss": RegionLoss,
    "brownout": Brownout,
    "redis_loss": RedisLoss,
    "reload_storm": ReloadStorm,
    "worker_crash": WorkerCrash,
    "partition": Partition,
    "link": LinkChange,
}
