"""The exact tier: a repeat of a whole request, found by its exact key in microseconds.

A bounded in-memory map (cachetools' TLRU): each entry lives until its own expiry (the tenant's
`cache.ttl_s` when it was stored), the least recently used goes first when the map is full, and
the bound is in bytes as well as entries, so a few huge answers cannot take the memory of many
small ones. Keys are exact keys (`router.cache.scope`), which include the tenant: one map serves
every tenant without any of them reaching another's entries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TLRUCache

from router.wire.usage import Usage


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A complete, successful answer as stored: its chat.completion JSON and its usage."""

    body: bytes
    usage: Usage | None
    stored_at_s: float
    expires_at_s: float
    tenant: str

    @property
    def size_bytes(self) -> int:
        return len(self.body) + 256  # the body plus the entry's own keeping


class ExactCache:
    def __init__(
        self, *, max_entries: int, max_bytes: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._entries: TLRUCache[str, CachedAnswer] = TLRUCache(
            maxsize=max_bytes,
            ttu=lambda _key, answer, _now: answer.expires_at_s,
            timer=clock,
            getsizeof=lambda answer: answer.size_bytes,
        )

    def get(self, exact_key: str) -> CachedAnswer | None:
        return self._entries.get(exact_key)

    def put(self, exact_key: str, answer: CachedAnswer) -> None:
        if answer.size_bytes > self._entries.maxsize:
            return  # larger than the whole cache: not worth evicting everything for
        while len(self._entries) >= self._max_entries and exact_key not in self._entries:
            self._entries.popitem()  # the least recently used
        self._entries[exact_key] = answer

    def purge(self, tenant: str | None = None) -> int:
        """Remove every entry (of one tenant); how many went."""
        doomed = [k for k, a in self._entries.items() if tenant is None or a.tenant == tenant]
        for key in doomed:
            self._entries.pop(key, None)
        return len(doomed)

    def __contains__(self, exact_key: str) -> bool:
        """Whether the entry is there (and unexpired), without touching its recency."""
        return exact_key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return int(self._entries.currsize)
