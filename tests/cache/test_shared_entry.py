"""An entry as the shared tier writes it to Redis reads back the same, and a hash that is
malformed, truncated or filed under another key is refused."""

from __future__ import annotations

import numpy as np
import orjson

from router.cache.exact import CachedAnswer
from router.cache.scope import exact_key_of
from router.cache.shared_entry import SharedEntry, decode, encode
from router.wire.usage import Usage


def _entry(vector: bool = True) -> SharedEntry:
    question = "What is the capital of France?"
    unit = np.full(384, 1 / np.sqrt(384), dtype=np.float32)
    answer = CachedAnswer(b'{"id":"x"}', Usage(12, 7), 100.0, 700.0, "acme")
    key = exact_key_of("partition-1", question)
    return SharedEntry(key, "partition-1", question, unit if vector else None, answer, "abc123")


def _as_read(fields: dict[str, bytes]) -> dict[bytes, bytes]:
    return {name.encode(): value for name, value in fields.items()}


def test_an_entry_reads_back_as_written() -> None:
    for with_vector in (True, False):
        entry = _entry(with_vector)
        read = decode(entry.exact_key, _as_read(encode(entry)))
        assert read is not None
        assert (read.partition, read.question) == (entry.partition, entry.question)
        assert read.answer.body == entry.answer.body
        assert read.answer.usage == entry.answer.usage
        assert read.answer.tenant == "acme" and read.embedder == "abc123"
        assert (read.answer.stored_at_s, read.answer.expires_at_s) == (100.0, 700.0)
        if entry.vector is None:
            assert read.vector is None and read.answer.extra_bytes == 0
        else:
            assert read.vector is not None
            np.testing.assert_array_equal(read.vector, entry.vector)
            assert read.answer.extra_bytes > 384 * 4


def test_a_hash_that_is_not_what_its_key_says_is_refused() -> None:
    entry = _entry()
    fields = _as_read(encode(entry))
    assert decode(exact_key_of("another-partition", entry.question), fields) is None
    assert decode(entry.exact_key, {**fields, b"v": fields[b"v"][:-4]}) is None
    assert decode(entry.exact_key, {**fields, b"m": b"{not json"}) is None
    assert decode(entry.exact_key, {k: v for k, v in fields.items() if k != b"b"}) is None
    assert decode(entry.exact_key, {}) is None


def test_a_hash_written_before_entries_named_their_embedder_names_none() -> None:
    entry = _entry()
    fields = _as_read(encode(entry))
    meta = orjson.loads(fields[b"m"])
    del meta["e"]
    read = decode(entry.exact_key, {**fields, b"m": orjson.dumps(meta)})
    assert read is not None and read.embedder == "" and read.vector is not None
