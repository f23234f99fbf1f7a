"""The prefilter decides misses without the transformer, and never serves anything itself."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.cache import semantic
from router.cache.prefilter import CANDIDATES, could_match
from router.cache.semantic import VERIFIED_CANDIDATES, SemanticIndex
from router.cache.vector_rows import VectorRows
from router.cache.verifier import Mode, Verdict, verify


def _unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def _full(static: np.ndarray) -> np.ndarray:
    """An embedding for the index (384 dimensions); its value does not matter here."""
    return np.pad(static, (0, 384 - len(static)))


# Two directions far apart: questions about cities along one, about dates along the other.
CITY, DATE = _unit(1, 0, 0), _unit(0, 1, 0)
STATIC = {
    "What is the capital of France?": CITY,
    "Tell me the capital city of France.": _unit(1, 0.1, 0),
    "What is the capital of Spain?": _unit(1, 0.05, 0),
    "What year did the war end?": DATE,
}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 30)), max_size=80))
def test_rows_hold_exactly_the_keys_added_and_not_removed(
    operations: list[tuple[bool, int]],
) -> None:
    rows, live = VectorRows(3), set()
    for adding, number in operations:
        key = f"k{number}"
        if adding and key not in live:
            rows.add(key, _unit(1, number, 0))
            live.add(key)
        elif not adding:
            rows.remove(key)
            live.discard(key)
    assert len(rows) == len(live)
    assert {key for key, _ in rows.above(_unit(1, 1, 0), -1.0)} == live


def test_nearest_returns_at_most_count_above_the_cut_nearest_first() -> None:
    rows = VectorRows(3)
    for number in range(10):
        rows.add(f"k{number}", _unit(1, number, 0))
    found = [key for key, _ in rows.above(_unit(1, 0, 0), 0.1, CANDIDATES)]
    assert found == ["k0", "k1", "k2", "k3"][:CANDIDATES]
    assert rows.above(_unit(0, 0, 1), 0.1, CANDIDATES) == []


def test_could_match_needs_a_near_question_that_the_verifier_accepts() -> None:
    rows = VectorRows(3)
    stored = {"a": "What is the capital of France?"}
    rows.add("a", STATIC[stored["a"]])
    reworded = "Tell me the capital city of France."
    assert could_match(rows, stored, reworded, STATIC[reworded], 0.8, "guards")
    # Near, but another country: the guards refuse it, so no embedding is needed.
    other = "What is the capital of Spain?"
    assert not could_match(rows, stored, other, STATIC[other], 0.8, "guards")
    # Far: nothing to verify.
    far = "What year did the war end?"
    assert not could_match(rows, stored, far, STATIC[far], 0.8, "guards")


def test_the_index_asks_for_an_embedding_only_when_the_prefilter_lets_a_question_through() -> None:
    index = SemanticIndex(
        graph_min_entries=100, static=STATIC.__getitem__, prefilter_cut=0.8, verifier="guards"
    )
    assert not index.needs_embedding("p", "What is the capital of France?")  # empty partition
    index.add("p", "a", "What is the capital of France?", _full(CITY))
    assert index.needs_embedding("p", "Tell me the capital city of France.")
    assert not index.needs_embedding("p", "What year did the war end?")
    assert not index.needs_embedding("p", "What is the capital of Spain?")
    # The verifier is the caller's: content agreement refuses the rewording the guards accept.
    assert not index.needs_embedding("p", "Tell me the capital city of France.", "content")
    index.remove("a")
    assert not index.needs_embedding("p", "Tell me the capital city of France.")


def test_without_a_static_embedding_every_question_of_a_non_empty_partition_is_embedded() -> None:
    index = SemanticIndex(graph_min_entries=100)
    index.add("p", "a", "What is the capital of France?", _full(CITY))
    assert index.needs_embedding("p", "What year did the war end?")
    assert not index.needs_embedding("other partition", "What year did the war end?")


def test_a_search_checks_a_bounded_number_of_candidates_however_many_are_near(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = SemanticIndex(graph_min_entries=1000)
    for number in range(50):  # all at cosine 1, all another number: the guards refuse each
        index.add("p", f"k{number}", f"What is {number} plus {number}?", _full(CITY))
    checked: list[str] = []

    def counting(stored: str, question: str, mode: Mode = "guards") -> Verdict:
        checked.append(stored)
        return verify(stored, question, mode)

    monkeypatch.setattr(semantic, "verify", counting)
    assert index.search("p", "What is 99 plus 99?", _full(CITY), 0.9, lambda key: True) is None
    assert len(checked) == VERIFIED_CANDIDATES
