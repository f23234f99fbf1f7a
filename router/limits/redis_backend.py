"""The Redis limits backend: one tenant's limits and budgets shared by every router process and PoP
that points at the same Redis.

`admit`, `settle` and `release` are each one Lua script, which Redis runs atomically: two
processes admitting at once cannot both take the last request token or the last dollar of a
budget. The scripts follow
the rules in `router.limits.backend` line for line, with time passed in by the caller. Every key
expires (buckets once they would be full again, leases with the longest request, usage counters
after their retention), so a tenant that goes quiet leaves nothing behind. A tenant's keys share
one Redis Cluster hash slot (`{tenant}`), as a multi-key script requires there.

Redis may carry out a call its caller has given up on: stalled, it runs the script when it
resumes; cut off by a partition, it gets the command when the partition heals (TCP retransmits
it). So every admitted request holds a lease in the tenant's `leases` set until it settles: a
settlement runs once (a retry of one that Redis carried out late finds no lease and changes
nothing), and an admission that timed out is released once Redis answers again (`release`: what
it reserved is given back, and a tombstone key stops it from charging anything if it has not run
yet; `router.limits.fallback`). Without that, each such admission kept its estimated cost reserved
against the day's budget for good (tests/network/test_redis_partition.py found one per partition).

Connection problems raise `redis.RedisError` or `OSError`; `FallbackLimits` turns them into a
fallback to the local backend. No retries here: a slow Redis must not hold a request.
"""

from __future__ import annotations

import asyncio
import functools
import math
from typing import cast

from router.limits.backend import (
    BUDGET_EPSILON_USD,
    CONCURRENCY_RETRY_S,
    DAY_RETENTION_S,
    MONTH_RETENTION_S,
    Charge,
    Counters,
    LimitName,
    Limits,
    Outcome,
    Periods,
    Refusal,
    Verdict,
    is_day,
)
from router.redis_client import redis_client

# Shared by both scripts: a bucket's level after refilling until `now` (a new bucket is full).
_REFILL = """
local function refill(key, cap, now)
  local state = redis.call('HMGET', key, 'level', 'ts')
  local level, ts = tonumber(state[1]), tonumber(state[2])
  if level == nil or ts == nil then return cap end
  local elapsed = now - ts
  if elapsed < 0 then elapsed = 0 end
  level = level + elapsed * cap / 60
  if level > cap then level = cap end
  return level
end
local function store(key, level, cap, now)
  redis.call('HSET', key, 'level', tostring(level), 'ts', tostring(now))
  -- Keep the bucket until it would be full again (debt included), then a minute more.
  local full_in = (cap - level) * 60 / cap
  redis.call('EXPIRE', key, math.ceil(full_in) + 60)
end
"""

# KEYS: requests bucket, tokens bucket, leases (zset), day counters, month counters, tombstone
# ARGV: now, tokens, cost_usd, request_id, lease_until, then per tenant's limits (cached):
#       rpm, tpm, concurrent, daily_usd, monthly_usd (0 = no limit), then per period (cached):
#       day_ends, month_ends, and the constants day_ttl_s, month_ttl_s, concurrency_retry_s
_ADMIT = (
    _REFILL
    + f"local BUDGET_EPSILON = {BUDGET_EPSILON_USD!r}\n"
    + """
local now = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[6]) == 1 then
  -- Its caller gave up on this admission and released it before it got here: charge nothing.
  return {0, 'released', '0', '0', ''}
end
local function limit(i)
  local value = tonumber(ARGV[i])
  if value ~= nil and value > 0 then return value end
  return nil
end
local function keep_periods()
  redis.call('EXPIRE', KEYS[4], ARGV[13])
  redis.call('EXPIRE', KEYS[5], ARGV[14])
end
local function refuse(name, limit_value, retry_after)
  redis.call('HINCRBY', KEYS[4], 'refused:' .. name, 1)
  redis.call('HINCRBY', KEYS[5], 'refused:' .. name, 1)
  keep_periods()
  return {0, name, tostring(limit_value), tostring(retry_after), ''}
end
local function committed(key)
  local fields = redis.call('HMGET', key, 'spend_usd', 'reserved_usd')
  return (tonumber(fields[1]) or 0) + (tonumber(fields[2]) or 0)
end

local monthly = limit(10)
if monthly and committed(KEYS[5]) + BUDGET_EPSILON >= monthly then
  return refuse('monthly_budget_usd', monthly, math.max(1, tonumber(ARGV[12]) - now))
end
local daily = limit(9)
if daily and committed(KEYS[4]) + BUDGET_EPSILON >= daily then
  return refuse('daily_budget_usd', daily, math.max(1, tonumber(ARGV[11]) - now))
end
local concurrent = limit(8)
-- Every admitted request holds a lease until it settles or is released (or it ends: its process
-- died); the concurrency limit counts them.
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if concurrent then
  if redis.call('ZCARD', KEYS[3]) >= concurrent then
    return refuse('concurrent_requests', concurrent, tonumber(ARGV[15]))
  end
end
local rpm = limit(6)
local requests_level = nil
if rpm then
  requests_level = refill(KEYS[1], rpm, now)
  if requests_level < 1 then
    return refuse('requests_per_minute', rpm, (1 - requests_level) * 60 / rpm)
  end
end
local tpm = limit(7)
local tokens = tonumber(ARGV[2])
local tokens_level = nil
if tpm then
  tokens_level = refill(KEYS[2], tpm, now)
  local need = math.min(tokens, tpm)
  if tokens_level < need then
    return refuse('tokens_per_minute', tpm, (need - tokens_level) * 60 / tpm)
  end
end

if rpm then
  requests_level = requests_level - 1
  store(KEYS[1], requests_level, rpm, now)
end
if tpm then
  tokens_level = tokens_level - tokens
  store(KEYS[2], tokens_level, tpm, now)
end
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
local keep = math.ceil(tonumber(ARGV[5]) - now) + 60
if redis.call('TTL', KEYS[3]) < keep then redis.call('EXPIRE', KEYS[3], keep) end
local cost = tonumber(ARGV[3])
if cost > 0 then
  redis.call('HINCRBYFLOAT', KEYS[4], 'reserved_usd', ARGV[3])
  redis.call('HINCRBYFLOAT', KEYS[5], 'reserved_usd', ARGV[3])
end
keep_periods()
local used, day_usd, month_usd = nil, '', ''
if daily or monthly then
  day_usd, month_usd = committed(KEYS[4]), committed(KEYS[5])
  if daily then used = day_usd / daily end
  if monthly then used = math.max(used or 0, month_usd / monthly) end
end
return {1, '', tostring(requests_level or ''), tostring(tokens_level or ''), tostring(used or ''),
        tostring(day_usd), tostring(month_usd)}
"""
)

# KEYS: tokens bucket, leases, day counters, month counters
# ARGV: now, tpm (0 = none), token_delta, request_id, reserved_usd, day_ttl_s, month_ttl_s,
#       model, endpoint ('' when none answered), input_tokens, output_tokens, cost_usd,
#       cache_hits, saved_usd, admitted (1: the request was admitted here and holds a lease)
_SETTLE = (
    _REFILL
    + """
if redis.call('ZREM', KEYS[2], ARGV[4]) == 0 and ARGV[15] == '1' then
  -- Its lease is gone: settled already (a retry of a settlement Redis carried out after its
  -- caller gave up), or released.
  return 0
end
local now = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local delta = tonumber(ARGV[3])
if tpm > 0 and delta ~= 0 then
  local level = refill(KEYS[1], tpm, now) - delta
  if level > tpm then level = tpm end
  store(KEYS[1], level, tpm, now)
end
local reserved = tonumber(ARGV[5])
local groups = {'', 'model:' .. ARGV[8] .. ':'}
if ARGV[9] ~= '' then groups[3] = 'endpoint:' .. ARGV[9] .. ':' end
for _, key in ipairs({KEYS[3], KEYS[4]}) do
  if reserved > 0 then
    local left = tonumber(redis.call('HINCRBYFLOAT', key, 'reserved_usd', -reserved))
    if left < 1e-12 then redis.call('HSET', key, 'reserved_usd', '0') end
  end
  for _, group in ipairs(groups) do
    redis.call('HINCRBY', key, group .. 'requests', 1)
    redis.call('HINCRBY', key, group .. 'input_tokens', ARGV[10])
    redis.call('HINCRBY', key, group .. 'output_tokens', ARGV[11])
    redis.call('HINCRBYFLOAT', key, group .. 'spend_usd', ARGV[12])
    if ARGV[13] ~= '0' then
      redis.call('HINCRBY', key, group .. 'cache_hits', ARGV[13])
      redis.call('HINCRBYFLOAT', key, group .. 'saved_usd', ARGV[14])
    end
  end
end
redis.call('EXPIRE', KEYS[3], ARGV[6])
redis.call('EXPIRE', KEYS[4], ARGV[7])
return 1
"""
)

# An admission whose caller timed out or lost the connection may still run later (Redis was
# stalled, or a partition delivered it on healing): released, what it holds is given back, and a
# tombstone stops one that has not run yet from charging anything.
# KEYS: leases, day counters, month counters, tombstone
# ARGV: request_id, reserved_usd, tombstone_ttl_s
_RELEASE = """
redis.call('SET', KEYS[4], '1', 'EX', ARGV[3])
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
local reserved = tonumber(ARGV[2])
if reserved > 0 then
  for _, key in ipairs({KEYS[2], KEYS[3]}) do
    local left = tonumber(redis.call('HINCRBYFLOAT', key, 'reserved_usd', -reserved))
    if left < 1e-12 then redis.call('HSET', key, 'reserved_usd', '0') end
  end
end
return 1
"""


def _float_or_none(raw: bytes | str) -> float | None:
    text = raw.decode() if isinstance(raw, bytes) else raw
    return float(text) if text else None


class RedisLimits:
    name = "redis"

    def __init__(self, url: str, *, key_prefix: str, timeout_s: float) -> None:
        self._redis = redis_client(url, timeout_s=timeout_s)  # one asyncio.timeout per call
        self._timeout_s = timeout_s
        self._prefix = key_prefix
        self._admit = self._redis.register_script(_ADMIT)
        self._settle = self._redis.register_script(_SETTLE)
        self._release = self._redis.register_script(_RELEASE)

    async def admit(self, charge: Charge, limits: Limits) -> Verdict:
        periods = charge.periods
        keys = (
            *_keys(self._prefix, charge.tenant, periods.day, periods.month),
            _tombstone(self._prefix, charge),
        )
        args = (
            repr(charge.wall_s),
            charge.tokens,
            repr(charge.cost_usd),
            charge.request_id,
            repr(charge.wall_s + charge.lease_s),
            *_limit_args(limits),
            *_period_args(periods.day_ends_s, periods.month_ends_s),
        )
        async with asyncio.timeout(self._timeout_s):
            admitted, limit, first, second, used, *committed = await self._admit(
                keys=keys, args=args
            )
        if int(admitted) == 1:
            day_usd, month_usd = (_float_or_none(value) for value in committed)
            return Verdict(
                None,
                _float_or_none(first),
                _float_or_none(second),
                _float_or_none(used),
                None if day_usd is None or month_usd is None else (day_usd, month_usd),
            )
        name = cast(LimitName, limit.decode())
        return Verdict(Refusal(name, float(first), float(second)))

    async def settle(self, charge: Charge, limits: Limits, outcome: Outcome, wall_s: float) -> None:
        periods = charge.periods
        keys = _keys(self._prefix, charge.tenant, periods.day, periods.month)
        tpm, leases, day, month = keys[1:]
        args = (
            repr(wall_s),
            limits.tokens_per_minute or 0,
            outcome.tokens - charge.tokens,
            charge.request_id,
            repr(charge.cost_usd),
            DAY_RETENTION_S,
            MONTH_RETENTION_S,
            outcome.model,
            outcome.endpoint,
            outcome.input_tokens,
            outcome.output_tokens,
            repr(outcome.cost_usd),
            outcome.cache_hits,
            repr(outcome.saved_usd),
            1 if limits.any else 0,  # admission admits only under some limit
        )
        async with asyncio.timeout(self._timeout_s):
            await self._settle(keys=(tpm, leases, day, month), args=args)

    async def ping(self) -> None:
        async with asyncio.timeout(self._timeout_s):
            await self._redis.ping()

    async def release(self, charge: Charge) -> bool:
        """Give back what an admission whose answer never came holds, if it ran; stop it from
        running later. Whether it had run."""
        periods = charge.periods
        keys = (
            *_keys(self._prefix, charge.tenant, periods.day, periods.month)[2:],
            _tombstone(self._prefix, charge),
        )
        # As long as the admission could still arrive: its lease, and a minute more.
        args = (charge.request_id, repr(charge.cost_usd), math.ceil(charge.lease_s) + 60)
        async with asyncio.timeout(self._timeout_s):
            ran = await self._release(keys=keys, args=args)
        return int(ran) == 1

    async def counters(self, tenant: str, periods: Periods) -> tuple[Counters, Counters]:
        day_key, month_key = _keys(self._prefix, tenant, periods.day, periods.month)[3:]
        async with asyncio.timeout(self._timeout_s), self._redis.pipeline(False) as pipe:
            pipe.hgetall(day_key)
            pipe.hgetall(month_key)
            day, month = await pipe.execute()
        return _decoded(day), _decoded(month)

    async def in_flight(self, tenant: str, wall_s: float) -> int:
        leases = _keys(self._prefix, tenant, "", "")[2]
        async with asyncio.timeout(self._timeout_s):
            count = await self._redis.zcount(leases, f"({wall_s!r}", "+inf")
        return int(count)

    async def add_usage(self, tenant: str, period: str, counters: Counters, wall_s: float) -> None:
        """One transaction (MULTI/EXEC): all of the counters are added, or none."""
        day_key, month_key = _keys(self._prefix, tenant, period, period)[3:]
        key, retention_s = (
            (day_key, DAY_RETENTION_S) if is_day(period) else (month_key, MONTH_RETENTION_S)
        )
        async with asyncio.timeout(self._timeout_s), self._redis.pipeline(True) as pipe:
            for name, value in counters.items():
                pipe.hincrbyfloat(key, name, value)
            pipe.expire(key, retention_s)
            await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()


# Arguments that repeat from request to request are rendered once.


@functools.lru_cache(maxsize=4096)
def _keys(prefix: str, tenant: str, day: str, month: str) -> tuple[str, str, str, str, str]:
    """A tenant's keys: buckets, leases, and the counters of a day and a month."""
    base = f"{prefix}:{{{tenant}}}:"
    return (base + "rpm", base + "tpm", base + "leases", f"{base}d:{day}", f"{base}m:{month}")


def _tombstone(prefix: str, charge: Charge) -> str:
    """The key that says an admission was released (in its tenant's slot)."""
    return f"{prefix}:{{{charge.tenant}}}:released:{charge.request_id}"


@functools.lru_cache(maxsize=1024)
def _limit_args(limits: Limits) -> tuple[int | str, ...]:
    return (
        limits.requests_per_minute or 0,
        limits.tokens_per_minute or 0,
        limits.concurrent_requests or 0,
        repr(limits.daily_budget_usd or 0.0),
        repr(limits.monthly_budget_usd or 0.0),
    )


@functools.lru_cache(maxsize=16)
def _period_args(day_ends_s: float, month_ends_s: float) -> tuple[int | str, ...]:
    return (
        repr(day_ends_s),
        repr(month_ends_s),
        DAY_RETENTION_S,
        MONTH_RETENTION_S,
        repr(CONCURRENCY_RETRY_S),
    )


def _decoded(raw: dict[bytes, bytes]) -> Counters:
    counters: Counters = {}
    for key, value in raw.items():
        number = float(value)
        if math.isfinite(number):
            counters[key.decode()] = number
    return counters
