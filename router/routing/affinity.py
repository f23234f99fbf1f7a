"""Conversations that stay where their prompt cache is.

A provider caches the prefix of a prompt it has just served for a few minutes, and serves the
next turn of the same conversation cheaper and sooner from it; balancing each turn anew throws
that away (a load-balanced gateway measured 39% cache hits instead of 100% direct, and twice the
cost: issue 18). So a conversation is kept on the endpoint that served its last turn, for
`routing.affinity.ttl_s` after it, unless that endpoint cannot take it now (not in the plan:
ejected, or not eligible for the request's tags) or misses the request's latency SLO where the
pick does not.

A conversation is named by the client (the session header) or by its stable prefix: the tenant,
the alias, the system and developer messages and the first user message, which every later turn
repeats unchanged. Only a continuation (a request that carries an earlier answer: an assistant or
tool message) is held to its endpoint by its prefix; a first turn is routed freely and recorded,
so that many users asking the same first question are still balanced.

The table is in this process, bounded in size and time (`cachetools.TTLCache`); with the limits
backend on Redis it is shared through Redis as well (`router.routing.shared_affinity`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from cachetools import TTLCache

from router.clock import Clock
from router.config.model import AffinitySettings

_CONTINUATION_ROLES = frozenset(("assistant", "tool", "function"))
_PREFIX_ROLES = frozenset(("system", "developer"))
# A client's session name longer than this is hashed all the same, never kept whole.
_MAX_SESSION_CHARS = 256


def conversation_key(
    tenant: str,
    alias: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    session_header: str,
) -> tuple[str, bool] | None:
    """The conversation's key and whether the request must be held to it (a named session, or a
    continuation); None when the request is no conversation (no `messages`)."""
    session = headers.get(session_header)
    if session:
        return _digest(tenant, alias, b"session", session[:_MAX_SESSION_CHARS].encode()), True
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    prefix, continuation = _stable_prefix(messages)
    if prefix is None:
        return None
    try:
        material = orjson.dumps(prefix)
    except orjson.JSONEncodeError:  # nested deeper than orjson writes (it reads deeper): no key
        return None
    return _digest(tenant, alias, b"prefix", material), continuation


def _stable_prefix(messages: Sequence[object]) -> tuple[list[object] | None, bool]:
    """The system and developer messages up to and with the first user message, and whether a
    later message is an earlier turn's answer."""
    prefix: list[object] = []
    first_user_at = None
    for at, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if first_user_at is None:
            if role in _PREFIX_ROLES or role == "user":
                prefix.append(message)
            if role == "user":
                first_user_at = at
        elif role in _CONTINUATION_ROLES:
            return prefix, True
    return (prefix if first_user_at is not None else None), False


def response_key(tenant: str, response_id: str) -> str:
    """The key of a response's producer: the tenant's own, so that no tenant can learn where
    another's responses went."""
    return _digest(tenant, "", b"response", response_id.encode("utf-8", "surrogatepass"))


def _digest(tenant: str, alias: str, kind: bytes, material: bytes) -> str:
    named = hashlib.blake2b(digest_size=16)
    for part in (tenant.encode(), alias.encode(), kind, material):
        named.update(len(part).to_bytes(8, "big"))
        named.update(part)
    return named.hexdigest()


class AffinityTable:
    """Which endpoint served each recent conversation: bounded in count and in time."""

    def __init__(self, max_entries: int, ttl_s: float, clock: Clock) -> None:
        self._endpoints: TTLCache[str, str] = TTLCache(
            maxsize=max_entries, ttl=ttl_s, timer=clock.now
        )

    @classmethod
    def of_conversations(cls, settings: AffinitySettings, clock: Clock) -> AffinityTable:
        return cls(settings.max_conversations, settings.ttl_s, clock)

    @classmethod
    def of_responses(cls, settings: AffinitySettings, clock: Clock) -> AffinityTable:
        """Which endpoint produced each response (`router.stages.affinity`'s producers)."""
        return cls(settings.max_responses, settings.responses_ttl_s, clock)

    def endpoint_of(self, key: str) -> str | None:
        return self._endpoints.get(key)

    async def lookup(self, key: str) -> str | None:
        """`endpoint_of`, as the shared table's is looked up (`router.routing.shared_affinity`)."""
        return self._endpoints.get(key)

    def remember(self, key: str, endpoint: str) -> None:
        self._endpoints[key] = endpoint

    def __len__(self) -> int:
        return len(self._endpoints)
