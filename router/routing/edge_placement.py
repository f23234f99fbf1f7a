"""Where an alias's edge targets (endpoints of locality `edge`: the PoP's own worker) go in a plan.

An alias served only by the edge, or only by the cloud, is routed as any other. An alias with
both keeps its edge targets out of the competition unless the tenant's policy lets the edge
answer it (`local.aliases`, and a prompt no longer than `local.max_prompt_tokens`). Then:
- `local.first` names it: the edge is tried first, the cloud after it (`local_first`);
- `local.cascade.aliases` names it and the request is not streamed: the edge answers first, and
  the forward stage keeps its answer only when confident enough, else goes on to the cloud
  (`cascade`);
- no cloud target is available (all ejected): the edge first (`offline_fallback`), the cloud
  after it in case one has come back;
- otherwise the cloud competes as usual and the edge is the last resort after it, if
  `local.offline_fallback` is on (a request whose cloud attempts all failed is answered locally);
  that last attempt comes on top of `max_attempts`.
A free edge target never simply wins on price against the cloud: the tenant chooses when it may.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from router.endpoints.registry import Target
from router.policy.model import TenantPolicy


@dataclass(frozen=True, slots=True)
class Placement:
    competing: list[Target]  # ranked by the balancer
    before: tuple[Target, ...] = ()  # tried before the ranked ones
    after: tuple[Target, ...] = ()  # tried after them
    note: str = ""  # the reason's prefix
    # The edge answers first but keeps the request only when confident (`local.cascade`).
    cascade: bool = False


def place_edge(
    eligible: Sequence[Target],
    alias: str,
    policy: TenantPolicy | None,
    estimated_input_tokens: int,
    available: Callable[[str], bool],
    streaming: bool,
) -> Placement:
    edge = [t for t in eligible if t.endpoint.settings.locality == "edge"]
    cloud = [t for t in eligible if t.endpoint.settings.locality != "edge"]
    if not edge or not cloud:
        return Placement(list(eligible))
    local = policy.local if policy is not None else None
    if local is None or alias not in local.aliases:
        return Placement(cloud)
    if local.max_prompt_tokens is not None and estimated_input_tokens > local.max_prompt_tokens:
        return Placement(cloud, note="local_skipped=prompt_too_long; ")
    if alias in local.first:
        return Placement(cloud, before=tuple(edge), note="local_first; ")
    if alias in local.cascade.aliases and not streaming:
        return Placement(cloud, before=tuple(edge), note="cascade; ", cascade=True)
    if not local.offline_fallback:
        return Placement(cloud)
    if not any(available(t.endpoint.name) for t in cloud):
        return Placement(cloud, before=tuple(edge), note="offline_fallback; ")
    return Placement(cloud, after=tuple(edge))
