"""The cache stage's own state for one request, in its slot of the context (`CACHE_SLOT`).

A hit leaves the entry it was answered with (`hit`: admission settles the request with its usage
and cost, the content log shows it); a miss that may be stored leaves where and for how long
(`scope`, `ttl_s`), the question's vector when it was computed for the look-up (`vector`), or that
it is to be embedded once its answer is stored (`embed_later`); the response half leaves the
captured answer (`answer`) for the record half to store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from router.cache.exact import CachedAnswer
from router.cache.scope import CacheScope
from router.context import RequestContext, SlotKey


@dataclass(slots=True)
class CacheRequest:
    scope: CacheScope | None = None
    ttl_s: float = 0.0
    answer: bytes | None = None
    vector: Any = None
    embed_later: bool = False
    hit: CachedAnswer | None = None


CACHE_SLOT: SlotKey[CacheRequest] = SlotKey("cache")


def cache_hit(ctx: RequestContext) -> CachedAnswer | None:
    """The entry the request was answered with from the cache, or None."""
    state = ctx.slot(CACHE_SLOT)
    return None if state is None else state.hit
