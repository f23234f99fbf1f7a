"""`map_texts`: every string rewritten, structure kept, nothing copied when nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

from router.privacy.json_texts import MAX_DEPTH, NestedTooDeeply, map_texts


def test_every_string_is_rewritten_except_under_skipped_keys_and_key_order_is_kept() -> None:
    value = {"b": ["x", {"c": "x", "role": "x"}, 3, None], "a": "x"}
    mapped = map_texts(value, str.upper, skipped_keys={"role"})
    assert mapped == {"b": ["X", {"c": "X", "role": "x"}, 3, None], "a": "X"}
    assert list(mapped) == ["b", "a"]
    assert value == {"b": ["x", {"c": "x", "role": "x"}, 3, None], "a": "x"}  # not mutated


def test_an_unchanged_value_is_returned_itself() -> None:
    value = {"a": ["1", {"b": "2"}]}
    assert map_texts(value, str.upper) is value


def test_first_keys_are_visited_first() -> None:
    seen: list[str] = []
    map_texts({"z": "late", "m": "early"}, lambda t: seen.append(t) or t, first_keys=("m",))
    assert seen == ["early", "late"]


def test_nesting_beyond_the_limit_is_refused_not_walked() -> None:
    deep: Any = "x"
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(NestedTooDeeply):
        map_texts(deep, str.upper)
    shallow: Any = "x"
    for _ in range(MAX_DEPTH - 1):
        shallow = [shallow]
    assert map_texts(shallow, str.upper) is not shallow
