"""The affinity table shared through Redis, when the limits backend is Redis: a conversation
that one router process (or PoP) served is held there by the others too.

A held turn reads its conversation's endpoint from Redis within the limits backend's timeout;
when Redis does not answer in time, or has nothing, this process's own table answers. What each
process learns goes to its own table at once and to Redis behind the requests: the keys written
since the last flush (at most `MAX_PENDING`; more are left to the local table) are set with the
TTL in one pipeline every `FLUSH_INTERVAL_S`. Keys are `<prefix>:affinity:<hash>`; nothing of a
conversation's text is in them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from router.routing.affinity import AffinityTable

log = logging.getLogger("edge_router.affinity")

FLUSH_INTERVAL_S: Final = 0.1
MAX_PENDING: Final = 10_000


class SharedAffinity:
    def __init__(
        self, local: AffinityTable, redis: Redis, *, key_prefix: str, ttl_s: float, timeout_s: float
    ) -> None:
        self._local = local
        self._redis = redis
        self._prefix = f"{key_prefix}:affinity:"
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._timeout_s = timeout_s
        self._pending: dict[str, str] = {}
        self.unreachable = 0  # reads and flushes Redis did not answer in time (or refused)

    async def lookup(self, key: str) -> str | None:
        try:
            async with asyncio.timeout(self._timeout_s):
                shared = await self._redis.get(self._prefix + key)
        except (RedisError, OSError, TimeoutError):
            self.unreachable += 1
            return self._local.endpoint_of(key)
        if isinstance(shared, bytes):
            return shared.decode("utf-8", "replace")
        return self._local.endpoint_of(key)

    def remember(self, key: str, endpoint: str) -> None:
        self._local.remember(key, endpoint)
        if key in self._pending or len(self._pending) < MAX_PENDING:
            self._pending[key] = endpoint

    async def run(self) -> None:
        """Flush what was learned, every interval, until cancelled."""
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            async with asyncio.timeout(self._timeout_s):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for key, endpoint in pending.items():
                        pipe.set(self._prefix + key, endpoint, px=self._ttl_ms)
                    await pipe.execute()
        except (RedisError, OSError, TimeoutError):
            self.unreachable += 1
            log.warning(
                "affinity: %d conversations not shared (Redis did not answer)", len(pending)
            )

    async def close(self) -> None:
        await self._redis.aclose()
