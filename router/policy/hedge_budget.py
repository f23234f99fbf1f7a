"""The ceiling on what hedging may add to a tenant's spend (`routing.hedging.max_extra_cost_share`).

Per tenant this keeps two sums: the spend of answered requests (at the serving endpoint's prices
and the real usage) and the extra spend of hedges (the attempt that did not answer, charged at its
estimated input cost: its output is unknown, and cancelling it early keeps that small). A hedge is
allowed only while extra / spend < the policy's share.

Both sums decay exponentially with the same time constant (`tau_s`, 5 minutes), rather than over
a sliding window: two floats and a time stamp per tenant instead of a queue of charges, and the
ratio is a time-weighted average of recent traffic in which a burst of hedges is forgotten at the
pace the spend around it is. Idle time does not change the ratio (both sums shrink alike); new
answered requests do, which is what lets a tenant that used its share up hedge again.

A tenant with no spend yet does not hedge: there is nothing to take a share of. The sums live in
this process (per PoP, like the latency estimates hedging reads), not in the policy object, so a
policy reload keeps them (style rule 3); a new share applies to them at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import exp

from router.clock import Clock

DEFAULT_TAU_S = 300.0


@dataclass(slots=True)
class _Sums:
    spend_usd: float = 0.0
    extra_usd: float = 0.0
    stamp_s: float = 0.0


class HedgeBudget:
    def __init__(self, clock: Clock, tau_s: float = DEFAULT_TAU_S) -> None:
        if tau_s <= 0.0:
            raise ValueError(f"tau_s must be positive, got {tau_s}")
        self._clock = clock
        self._tau_s = tau_s
        self._tenants: dict[str, _Sums] = {}

    def _sums(self, tenant: str) -> _Sums:
        """The tenant's sums, decayed to now."""
        now_s = self._clock.now()
        sums = self._tenants.get(tenant)
        if sums is None:
            sums = self._tenants[tenant] = _Sums(stamp_s=now_s)
            return sums
        idle_s = now_s - sums.stamp_s
        if idle_s > 0.0:
            w = exp(-idle_s / self._tau_s)
            sums.spend_usd *= w
            sums.extra_usd *= w
            sums.stamp_s = now_s
        return sums

    def allows(self, tenant: str, max_extra_share: float) -> bool:
        """Whether the tenant may start a hedge now."""
        sums = self._tenants.get(tenant)
        if sums is None or sums.spend_usd <= 0.0:
            return False
        # Both sums decay alike, so the ratio needs no decay to be read.
        return sums.extra_usd < max_extra_share * sums.spend_usd

    def record_spend(self, tenant: str, usd: float) -> None:
        """An answered request of a hedging tenant cost `usd`."""
        self._sums(tenant).spend_usd += usd

    def charge_extra(self, tenant: str, usd: float) -> None:
        """A hedge's extra cost; negative to correct an earlier charge (never below zero)."""
        sums = self._sums(tenant)
        sums.extra_usd = max(0.0, sums.extra_usd + usd)

    def as_dict(self, tenant: str) -> dict[str, float]:
        sums = self._sums(tenant) if tenant in self._tenants else _Sums()
        share = sums.extra_usd / sums.spend_usd if sums.spend_usd > 0.0 else 0.0
        return {"spend_usd": sums.spend_usd, "extra_usd": sums.extra_usd, "extra_share": share}
