"""The shared tier: answers cached at one router served by every router on the same Redis.

Node config `cache.shared` (docs/cache.md). Keys, under the `redis.key_prefix`:
- `<prefix>:cache:e:<exact key>`, a hash per entry (`router.cache.shared_entry`), expiring with
  the entry;
- `<prefix>:cache:index`, every entry's exact key scored by its expiry, for the warm-up;
- `<prefix>:cache:t:<tenant>`, the same for one tenant, for a purge;
- `<prefix>:cache:stream`, announcements: an entry stored (`k`), a tenant purged (`purge`) or
  one entry forgotten (`forget`, a reported wrong hit), with the announcing process (`o`),
  trimmed to about `stream_max_len`.

`publish` never waits: the entry goes to a bounded queue that one task writes in pipelines, and
the announcement follows the entry, so a reader always finds what it is told of. Another task
follows the stream and hands each new entry (`on_entry`), purge (`on_purge`) or forgotten entry
(`on_forget`) to the local tiers. A router starting up (and one whose Redis came back) first notes
the stream's tip, then warms from the index, newest expiry first, then follows from that tip, so
nothing announced in between is missed.

The shared tier never fails a request: Redis errors are counted, logged once on the way down and
once on the way back, and the local tiers keep serving. Writes made while Redis is away are
dropped, not replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import cast

import orjson
from cachetools import TTLCache
from redis.exceptions import RedisError

from router.cache.shared_entry import SharedEntry, decode, encode
from router.config.model import SharedCacheSettings
from router.redis_client import redis_client

log = logging.getLogger("edge_router.cache")

_OUTBOX = 1024  # entries waiting to be written; beyond it they are dropped (and counted)
_WRITE_BATCH = 64
_READ_BATCH = 256
_BLOCK_MS = 1_000  # how long one stream read waits for news
_WARM_BATCH = 256
# Entries forgotten lately (a reported wrong hit), so that a copy stored before the report and
# still waiting in the outbox is not written back after it. The outbox drains in milliseconds;
# a minute of memory is ample, and bounded.
_FORGOTTEN_MAX = 4096
_FORGOTTEN_TTL_S = 60.0

_Message = tuple[bytes, dict[bytes, bytes]]  # a stream message: its id and fields


class SharedCache:
    def __init__(
        self,
        url: str,
        settings: SharedCacheSettings,
        *,
        wall: Callable[[], float],
        on_entry: Callable[[SharedEntry], None],
        on_purge: Callable[[str | None], object],
        warm_limit: int,
        on_forget: Callable[[str], object] = lambda _key: None,
    ) -> None:
        redis = settings.redis
        self._timeout_s = redis.timeout_ms / 1000.0
        self._retry_interval_s = redis.retry_interval_s
        self._redis = redis_client(url, timeout_s=self._timeout_s)  # one asyncio.timeout per call
        prefix = f"{redis.key_prefix}:cache"
        self._entry_prefix = f"{prefix}:e:"
        self._index = f"{prefix}:index"
        self._tenant_prefix = f"{prefix}:t:"
        self._stream = f"{prefix}:stream"
        self._stream_max_len = settings.stream_max_len
        self._warm_timeout_s = settings.warm_timeout_s
        self._warm_limit = warm_limit
        self._wall = wall
        self._on_entry = on_entry
        self._on_purge = on_purge
        self._on_forget = on_forget
        # exact key -> when it was forgotten (wall clock)
        self._forgotten: TTLCache[str, float] = TTLCache(_FORGOTTEN_MAX, _FORGOTTEN_TTL_S, wall)
        self._origin = uuid.uuid4().hex.encode()
        self._outbox: asyncio.Queue[SharedEntry] = asyncio.Queue(_OUTBOX)
        self._tasks: list[asyncio.Task[None]] = []
        self._cursor: bytes | None = None  # the last stream id applied; None: warm up again
        self.degraded = False
        self.published = 0
        self.received = 0
        self.warmed = 0
        self.dropped = 0

    async def start(self) -> None:
        """Warm up (bounded by `warm_timeout_s`), then write and follow in the background."""
        try:
            async with asyncio.timeout(self._warm_timeout_s):
                await self._catch_up()
        except (RedisError, OSError, TimeoutError) as error:
            self._down(error)
        self._tasks = [
            asyncio.create_task(self._write(), name="cache-shared-write"),
            asyncio.create_task(self._follow(), name="cache-shared-follow"),
        ]

    def publish(self, entry: SharedEntry) -> None:
        try:
            self._outbox.put_nowait(entry)
        except asyncio.QueueFull:
            self.dropped += 1

    async def purge(self, tenant: str | None) -> int:
        """Delete a tenant's entries (every entry, without one) from Redis and tell the other
        routers; how many went. Raises on a Redis error: the caller reports it."""
        async with asyncio.timeout(self._timeout_s * 4):
            owner = self._index if tenant is None else self._tenant_prefix + tenant
            keys = cast(list[bytes], await self._redis.zrange(owner, 0, -1))
            pipe = self._redis.pipeline(transaction=False)
            for key in keys:
                pipe.delete(self._entry_prefix + key.decode())
            if keys:
                pipe.zrem(self._index, *keys)
            pipe.delete(owner)
            if tenant is None:
                async for name in self._redis.scan_iter(match=self._tenant_prefix + "*"):
                    pipe.delete(name)
            pipe.xadd(
                self._stream,
                {"purge": tenant or "", "o": self._origin},
                maxlen=self._stream_max_len,
                approximate=True,
            )
            await pipe.execute()
        return len(keys)

    async def forget(self, exact_key: str, tenant: str | None) -> bool:
        """Delete one entry from Redis (only if it is `tenant`'s, when given) and tell the other
        routers; whether it was there. Raises on a Redis error: the caller reports it."""
        entry_key = self._entry_prefix + exact_key
        self._forgotten[exact_key] = self._wall()  # a copy in the outbox stays unwritten
        async with asyncio.timeout(self._timeout_s * 2):
            meta = cast(bytes | None, await self._redis.hget(entry_key, "m"))
            owner = _tenant_of(meta)
            if owner is None or (tenant is not None and owner != tenant):
                return False
            pipe = self._redis.pipeline(transaction=False)
            pipe.delete(entry_key)
            pipe.zrem(self._index, exact_key)
            pipe.zrem(self._tenant_prefix + owner, exact_key)
            pipe.xadd(
                self._stream,
                {"forget": exact_key, "o": self._origin},
                maxlen=self._stream_max_len,
                approximate=True,
            )
            await pipe.execute()
        return True

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._redis.aclose()

    async def _write(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while len(batch) < _WRITE_BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                async with asyncio.timeout(self._timeout_s):
                    await self._write_batch(batch)
                self.published += len(batch)
                self._up()
            except (RedisError, OSError, TimeoutError) as error:
                self.dropped += len(batch)
                self._down(error)

    async def _write_batch(self, batch: Sequence[SharedEntry]) -> None:
        now_s = self._wall()
        pipe = self._redis.pipeline(transaction=False)
        for entry in batch:
            forgotten_at_s = self._forgotten.get(entry.exact_key)
            if forgotten_at_s is not None and entry.answer.stored_at_s <= forgotten_at_s:
                continue  # reported wrong while it waited here
            key, expires = entry.exact_key, entry.answer.expires_at_s
            entry_key = self._entry_prefix + key
            tenant_key = self._tenant_prefix + entry.answer.tenant
            pipe.hset(entry_key, mapping=encode(entry))  # type: ignore[arg-type]
            pipe.pexpireat(entry_key, int(expires * 1000))
            for owner in (self._index, tenant_key):
                pipe.zadd(owner, {key: expires})
                pipe.zremrangebyscore(owner, "-inf", now_s)
            pipe.pexpireat(tenant_key, int(expires * 1000), gt=True)
            pipe.xadd(
                self._stream,
                {"k": key, "o": self._origin},
                maxlen=self._stream_max_len,
                approximate=True,
            )
        await pipe.execute()

    async def _follow(self) -> None:
        while True:
            try:
                if self._cursor is None:
                    async with asyncio.timeout(self._warm_timeout_s):
                        await self._catch_up()
                async with asyncio.timeout(_BLOCK_MS / 1000.0 + self._timeout_s):
                    replies = cast(
                        list[tuple[bytes, list[_Message]]],
                        await self._redis.xread(
                            {self._stream: self._cursor or b"$"},
                            count=_READ_BATCH,
                            block=_BLOCK_MS,
                        ),
                    )
                for _stream, messages in replies:
                    await self._apply(messages)
                self._up()
            except (RedisError, OSError, TimeoutError) as error:
                self._cursor = None  # after a gap, warm up again rather than trust the cursor
                self._down(error)
                await asyncio.sleep(self._retry_interval_s)

    async def _catch_up(self) -> None:
        """Note the stream's tip, then load the live entries (newest expiry first)."""
        newest = cast(list[_Message], await self._redis.xrevrange(self._stream, count=1))
        tip = newest[0][0] if newest else b"0-0"
        keys = cast(
            list[bytes],
            await self._redis.zrevrangebyscore(
                self._index, "+inf", self._wall(), start=0, num=self._warm_limit
            ),
        )
        for start in range(0, len(keys), _WARM_BATCH):
            self.warmed += await self._load([k.decode() for k in keys[start : start + _WARM_BATCH]])
        self._cursor = tip
        self._up()

    async def _apply(self, messages: Sequence[_Message]) -> None:
        announced: list[str] = []
        for message_id, fields in messages:
            self._cursor = message_id
            if fields.get(b"o") == self._origin:
                continue  # this router's own
            if b"purge" in fields:
                self._on_purge(fields[b"purge"].decode() or None)
            elif b"forget" in fields:
                key = fields[b"forget"].decode()
                self._forgotten[key] = self._wall()
                self._on_forget(key)
            elif b"k" in fields:
                announced.append(fields[b"k"].decode())
        self.received += await self._load(announced)

    async def _load(self, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(self._entry_prefix + key)
        loaded = 0
        now_s = self._wall()
        for key, fields in zip(keys, await pipe.execute(), strict=True):
            entry = decode(key, fields) if fields else None
            if entry is not None and entry.answer.expires_at_s > now_s:
                self._on_entry(entry)
                loaded += 1
        return loaded

    def _down(self, error: BaseException) -> None:
        if not self.degraded:
            self.degraded = True
            log.error("shared cache: Redis unreachable (%s); serving from local tiers only",
                      type(error).__name__)  # fmt: skip

    def _up(self) -> None:
        if self.degraded:
            self.degraded = False
            log.warning("shared cache: Redis reachable again")


def _tenant_of(meta: bytes | None) -> str | None:
    """The tenant of a stored entry's metadata (`router.cache.shared_entry`), None if unreadable."""
    if meta is None:
        return None
    try:
        tenant = orjson.loads(meta)["t"]
    except (KeyError, TypeError, orjson.JSONDecodeError):
        return None
    return tenant if isinstance(tenant, str) else None
