"""The Redis client every shared part of the router uses (limits, the shared cache)."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def redis_client(url: str, *, timeout_s: float) -> Redis:
    """A client that never retries and sets no socket timeout: callers bound each call with
    their own `asyncio.timeout`. redis-py's `socket_timeout` wraps every send in
    `asyncio.wait_for`, a task per command, which cost 90 µs of CPU per admitted request
    (loadtest/studies/admission.py). A command cut by the timeout closes its connection (redis-py
    disconnects on any exception mid-command), so no reply is ever read by the wrong caller."""
    return Redis.from_url(
        url,
        socket_timeout=None,  # redis-py's default is 5 s, through wait_for
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
