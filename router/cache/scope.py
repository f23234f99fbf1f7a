"""What a cached answer may be served for: its scope (a hard partition) and its exact key.

A request's **scope** is everything that may change the answer except the last user message: the
tenant, the public alias, every request field the endpoint sees (sampling parameters, stop, seed,
response format, tools and tool choice, and any other field, because an unknown field may matter),
and the whole conversation before the last user message (system prompt and earlier turns). It is
hashed exactly, from a canonical serialisation: keys sorted, integral floats written as integers
(`1.0` and `1` are the same temperature), no whitespace. Only the last user message is compared by
meaning, and only inside its scope; the **exact key** adds that message in its normal form
(`router.cache.normal_form`: Unicode form, whitespace, the case of plain words and trailing
`?.!…` folded), so the same question typed differently is an exact hit.

Fields that cannot change the answer are left out, so that the same question asked as a stream and
as JSON, or for another end user of the same tenant, shares its scope: `stream`,
`stream_options`, `user`, `metadata`, `store`, `service_tier`.

A request that is never served from the cache (`n` > 1, a temperature above the tenant's
`cache.max_temperature`, or tools or functions offered to the model without the tenant's
`cache.tools`) has no scope.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from router.cache.normal_form import normal_question

# Request fields that cannot change the answer's content.
_NOT_IN_SCOPE = frozenset({"stream", "stream_options", "user", "metadata", "store", "service_tier"})
_DEFAULT_TEMPERATURE = 1.0  # OpenAI's, when a request does not say


@dataclass(frozen=True, slots=True)
class CacheScope:
    partition: str  # hex sha256 of the scope
    last_user_message: str  # compared by meaning inside the partition ("" when there is none)
    exact_key: str  # hex sha256 of partition + last user message


def scope_of(
    tenant: str,
    alias: str,
    body: dict[str, Any],
    max_temperature: float,
    values_digest: str | None = None,
    *,
    tools_allowed: bool = False,
    betas: str | None = None,
) -> CacheScope | None:
    """The request's cache scope, or None when it must never be served from the cache.

    `values_digest` binds the scope to the PII values of a request whose model saw them (its
    body is the redacted one): its answer may depend on them. A request that offers the model
    tools or functions is cached only when `tools_allowed` (the tenant's `cache.tools`): its
    answer may be a call whose result the model has not seen yet. `betas`: a Messages request's
    `anthropic-beta`, which an endpoint it is passed through to reads, and which may change the
    answer (a longer context, another output limit).
    """
    n = body.get("n", 1)
    if n != 1:
        return None
    if not tools_allowed and (body.get("tools") or body.get("functions")):
        return None
    temperature = body.get("temperature", _DEFAULT_TEMPERATURE)
    if not isinstance(temperature, int | float) or temperature > max_temperature:
        return None
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    last = messages[-1]
    earlier, question = messages, ""
    if (
        isinstance(last, dict)
        and last.get("role") == "user"
        and isinstance(last.get("content"), str)
    ):
        earlier, question = messages[:-1], last["content"]
    fields = {k: v for k, v in body.items() if k not in _NOT_IN_SCOPE and k != "messages"}
    scope = {"tenant": tenant, "alias": alias, "fields": fields, "earlier": earlier}
    if values_digest is not None:
        scope["values"] = values_digest
    if betas:
        scope["betas"] = betas
    partition = hashlib.sha256(canonical_json(scope)).hexdigest()
    return CacheScope(partition, question, exact_key_of(partition, question))


def exact_key_of(partition: str, question: str) -> str:
    """The exact key of a question inside its partition (hex sha256 of its normal form)."""
    key = f"{partition}\0{normal_question(question)}"
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def canonical_json(value: Any) -> bytes:
    """A deterministic serialisation: sorted keys, integral floats as integers."""
    return orjson.dumps(_normalised(value), option=orjson.OPT_SORT_KEYS)


def _normalised(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value
