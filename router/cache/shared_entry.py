"""A cached answer as the shared tier keeps it in Redis: one hash per entry.

Fields: `m` the metadata (orjson: partition, question, tenant, stored and expiry times, usage, the
price it was first served at and the embedder that made the vector), `b` the answer's
chat.completion JSON as stored, and `v` the question's unit vector as little-endian float32
(absent when the storing router had no semantic tier). A hash read back is checked before it is
used: every field well-formed, the vector of the right size, and the exact
key equal to the hash of its partition and question, so an entry can only ever be found under the
scope it was stored for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from router.cache.exact import CachedAnswer
from router.cache.scope import exact_key_of
from router.cache.semantic import DIMENSION, Vector, vector_bytes
from router.wire.usage import Usage

_VECTOR_DTYPE = np.dtype("<f4")


@dataclass(frozen=True, slots=True)
class SharedEntry:
    exact_key: str
    partition: str
    question: str
    vector: Vector | None
    answer: CachedAnswer
    # Which embedder made the vector (its file's sha256 prefix): a router compares only vectors
    # of its own embedder, so an entry from another build is adopted exact-only.
    embedder: str = ""


def encode(entry: SharedEntry) -> dict[str, bytes]:
    answer, usage = entry.answer, entry.answer.usage
    meta = {
        "p": entry.partition,
        "q": entry.question,
        "t": answer.tenant,
        "s": answer.stored_at_s,
        "x": answer.expires_at_s,
        "u": None if usage is None else [usage.input_tokens, usage.output_tokens, usage.counted],
        "c": answer.cost_usd,
        "e": entry.embedder,
    }
    fields = {"m": orjson.dumps(meta), "b": answer.body}
    if entry.vector is not None:
        fields["v"] = entry.vector.astype(_VECTOR_DTYPE).tobytes()
    return fields


def decode(exact_key: str, fields: dict[bytes, bytes]) -> SharedEntry | None:
    """The entry, or None when the hash is missing, malformed or not what its key says."""
    try:
        meta = orjson.loads(fields[b"m"])
        partition, question, tenant = str(meta["p"]), str(meta["q"]), str(meta["t"])
        stored_at_s, expires_at_s = float(meta["s"]), float(meta["x"])
        usage = _usage(meta["u"])
        cost_usd = float(meta["c"])
        embedder = str(meta.get("e", ""))
        body = fields[b"b"]
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError):
        return None
    if exact_key_of(partition, question) != exact_key:
        return None
    raw_vector = fields.get(b"v")
    vector: Vector | None = None
    if raw_vector is not None:
        if len(raw_vector) != DIMENSION * _VECTOR_DTYPE.itemsize:
            return None
        vector = np.frombuffer(raw_vector, dtype=_VECTOR_DTYPE).astype(np.float32)
    answer = CachedAnswer(
        body,
        usage,
        stored_at_s,
        expires_at_s,
        tenant,
        extra_bytes=0 if vector is None else vector_bytes(question),
        cost_usd=cost_usd,
    )
    return SharedEntry(exact_key, partition, question, vector, answer, embedder)


def _usage(value: Any) -> Usage | None:
    if value is None:
        return None
    input_tokens, output_tokens, counted = value
    return Usage(int(input_tokens), int(output_tokens), bool(counted))
