"""The exact tier: a repeat of a whole request, found by its exact key in microseconds.

A bounded in-memory map (cachetools' TLRU): each entry lives until its own expiry (the tenant's
`cache.ttl_s` when it was stored), the least recently used goes first when the map is full, and
the bound is in bytes as well as entries, so a few huge answers cannot take the memory of many
small ones. Keys are exact keys (`router.cache.scope`), which include the tenant: one map serves
every tenant without any of them reaching another's entries.

Whatever removes an entry (expiry, eviction, a purge) calls `on_remove` with its key, so the
semantic tier's index drops the vector that pointed at it and stays bounded with this map.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import Cache, TLRUCache

from router.wire.usage import Usage


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A complete, successful answer as stored: its chat.completion JSON and its usage."""

    body: bytes
    usage: Usage | None
    stored_at_s: float
    expires_at_s: float
    tenant: str
    # Memory the entry holds elsewhere: its vector and question in the semantic index.
    extra_bytes: int = 0
    cost_usd: float = 0.0  # what the answer cost when it was served (the serving endpoint's price)

    @property
    def size_bytes(self) -> int:
        return len(self.body) + self.extra_bytes + 256  # plus the entry's own keeping


class _TLRUWithRemoval(TLRUCache[str, CachedAnswer]):
    """cachetools' TLRU, calling `on_remove(key)` for every entry that leaves it: expired,
    evicted (by entries or bytes) or deleted. A replaced entry keeps its key and is not removed."""

    def __init__(
        self,
        on_remove: Callable[[str], None],
        maxsize: float,
        timer: Callable[[], float],
    ) -> None:
        super().__init__(
            maxsize=maxsize,
            ttu=lambda _key, answer, _now: answer.expires_at_s,
            timer=timer,
            getsizeof=lambda answer: answer.size_bytes,
        )
        self._on_remove = on_remove

    def expire(self, time: float | None = None) -> list[tuple[str, CachedAnswer]]:
        expired = list(super().expire(time))
        for key, _answer in expired:
            self._on_remove(key)
        return expired

    def __delitem__(self, key: str) -> None:
        present = Cache.__contains__(self, key)  # stored, expired or not
        try:
            super().__delitem__(key)  # KeyError when missing, or present but expired
        finally:
            if present:
                self._on_remove(key)


class ExactCache:
    def __init__(
        self,
        *,
        max_entries: int,
        max_bytes: int,
        clock: Callable[[], float] = time.time,
        on_remove: Callable[[str], None] = lambda _key: None,
    ) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._entries = _TLRUWithRemoval(on_remove, max_bytes, clock)

    def get(self, exact_key: str) -> CachedAnswer | None:
        return self._entries.get(exact_key)

    def put(self, exact_key: str, answer: CachedAnswer) -> bool:
        """Store an answer; False when it is larger than the whole cache (not worth evicting
        everything for), or already expired."""
        if answer.size_bytes > self._entries.maxsize:
            return False
        while len(self._entries) >= self._max_entries and exact_key not in self._entries:
            self._entries.popitem()  # the least recently used
        self._entries[exact_key] = answer
        return exact_key in self._entries

    def purge(self, tenant: str | None = None) -> int:
        """Remove every entry (of one tenant); how many went."""
        doomed = [k for k, a in self._entries.items() if tenant is None or a.tenant == tenant]
        for key in doomed:
            self._entries.pop(key, None)
        return len(doomed)

    def remove(self, exact_key: str, tenant: str | None = None) -> bool:
        """Remove one live entry (only if it is `tenant`'s, when given); whether it went."""
        answer = self._entries.get(exact_key)
        if answer is None or (tenant is not None and answer.tenant != tenant):
            return False
        self._entries.pop(exact_key, None)
        return True

    def answers(self) -> list[CachedAnswer]:
        """A snapshot of the live answers (what the cache holds, for inspection)."""
        return list(self._entries.values())

    def __contains__(self, exact_key: str) -> bool:
        """Whether the entry is there (and unexpired), without touching its recency."""
        return exact_key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return int(self._entries.currsize)
