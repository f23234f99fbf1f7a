"""The semantic index: search stays inside its partition, respects the threshold and the guards,
forgets answers the exact tier no longer has, and is bounded."""

from __future__ import annotations

import numpy as np

from router.cache.semantic import SemanticIndex


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(384, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


def test_a_search_sees_only_its_own_partition() -> None:
    index = SemanticIndex(max_vectors=10)
    index.add("tenant-a", "k1", "What is the capital of France?", unit(1, 0))
    assert index.search("tenant-b", "What is the capital of France?", unit(1, 0), 0.5,
                        lambda k: True) is None  # fmt: skip
    match = index.search("tenant-a", "Which city is France's capital?", unit(1, 0.1), 0.9,
                         lambda k: True)  # fmt: skip
    assert match is not None and match.exact_key == "k1" and match.similarity > 0.99


def test_below_the_threshold_or_vetoed_is_no_match() -> None:
    index = SemanticIndex(max_vectors=10)
    index.add("p", "k1", "What is the capital of France?", unit(1, 0))
    assert index.search("p", "Something else", unit(1, 1), 0.9, lambda k: True) is None
    assert index.search("p", "What is the capital of Germany?", unit(1, 0), 0.5,
                        lambda k: True) is None  # fmt: skip


def test_the_best_unvetoed_entry_wins() -> None:
    index = SemanticIndex(max_vectors=10)
    index.add("p", "germany", "What is the capital of Germany?", unit(1, 0))
    index.add("p", "france", "What is the capital of France?", unit(1, 0.2))
    match = index.search("p", "Which is the capital of France?", unit(1, 0), 0.9, lambda k: True)
    assert match is not None and match.exact_key == "france"  # the closer one is vetoed


def test_entries_whose_answer_is_gone_are_dropped() -> None:
    index = SemanticIndex(max_vectors=10)
    index.add("p", "gone", "What is the capital of France?", unit(1, 0))
    assert index.search("p", "What is the capital of France?", unit(1, 0), 0.9,
                        lambda k: False) is None  # fmt: skip
    assert len(index) == 0


def test_the_index_is_bounded_oldest_first() -> None:
    index = SemanticIndex(max_vectors=3)
    for i in range(5):
        index.add("p", f"k{i}", f"question {i}", unit(1, i))
    assert len(index) == 3
    match = index.search("p", "question 0", unit(1, 0), 0.999, lambda k: True)
    assert match is None or match.exact_key != "k0"
