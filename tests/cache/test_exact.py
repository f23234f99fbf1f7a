"""The exact tier: bounded by entries and bytes, entries expire on their own TTL, LRU goes first."""

from __future__ import annotations

from router.cache.exact import CachedAnswer, ExactCache
from tests.fake_clock import FakeClock


def answer(clock: FakeClock, ttl_s: float, tenant: str = "acme", size: int = 100) -> CachedAnswer:
    now = clock.wall()
    return CachedAnswer(b"x" * size, None, now, now + ttl_s, tenant)


def test_an_entry_is_served_until_its_own_ttl_ends() -> None:
    clock = FakeClock()
    cache = ExactCache(max_entries=10, max_bytes=100_000, clock=clock.wall)
    cache.put("short", answer(clock, 10))
    cache.put("long", answer(clock, 100))
    clock.advance(11)
    assert cache.get("short") is None
    assert cache.get("long") is not None


def test_the_least_recently_used_goes_first_when_entries_are_full() -> None:
    clock = FakeClock()
    cache = ExactCache(max_entries=2, max_bytes=100_000, clock=clock.wall)
    cache.put("a", answer(clock, 100))
    cache.put("b", answer(clock, 100))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", answer(clock, 100))
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None


def test_bytes_are_bounded_too() -> None:
    clock = FakeClock()
    cache = ExactCache(max_entries=100, max_bytes=3000, clock=clock.wall)
    for key in "abcde":
        cache.put(key, answer(clock, 100, size=1000))
    assert cache.size_bytes <= 3000 and len(cache) == 2
    cache.put("huge", answer(clock, 100, size=10_000))  # larger than the cache: not stored
    assert cache.get("huge") is None and len(cache) == 2


def test_a_purge_removes_one_tenants_entries_only() -> None:
    clock = FakeClock()
    cache = ExactCache(max_entries=10, max_bytes=100_000, clock=clock.wall)
    cache.put("a1", answer(clock, 100, "a"))
    cache.put("a2", answer(clock, 100, "a"))
    cache.put("b1", answer(clock, 100, "b"))
    assert cache.purge("a") == 2
    assert cache.get("a1") is None and cache.get("b1") is not None
