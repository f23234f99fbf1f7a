"""The semantic index: search stays inside its partition, respects the threshold and the guards,
skips answers the exact tier no longer has, forgets the ones it removes, and answers the same
once a partition has moved to an HNSW graph."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from router.cache.exact import CachedAnswer, ExactCache
from router.cache.semantic import SemanticIndex

EXACT, GRAPH = 1_000, 1  # graph_min_entries: stay exact, or move to the graph at once


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(384, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


def always(_key: str) -> bool:
    return True


@pytest.fixture(params=[EXACT, GRAPH], ids=["exact", "graph"])
def index(request: pytest.FixtureRequest) -> SemanticIndex:
    return SemanticIndex(graph_min_entries=request.param, build_in_background=False)


def test_a_search_sees_only_its_own_partition(index: SemanticIndex) -> None:
    index.add("tenant-a", "k1", "What is the capital of France?", unit(1, 0))
    index.add("tenant-a", "k2", "How tall is Mont Blanc?", unit(0, 1))
    assert index.search("tenant-b", "What is the capital of France?", unit(1, 0), 0.5,
                        always) is None  # fmt: skip
    match = index.search("tenant-a", "Which city is France's capital?", unit(1, 0.1), 0.9,
                         always)  # fmt: skip
    assert match is not None and match.exact_key == "k1" and match.similarity > 0.99


def test_below_the_threshold_or_vetoed_is_no_match(index: SemanticIndex) -> None:
    index.add("p", "k1", "What is the capital of France?", unit(1, 0))
    index.add("p", "k2", "How tall is Mont Blanc?", unit(0, 1))
    assert index.search("p", "Something else", unit(1, 1), 0.9, always) is None
    assert index.search("p", "What is the capital of Germany?", unit(1, 0), 0.5,
                        always) is None  # fmt: skip


def test_the_best_unvetoed_entry_wins(index: SemanticIndex) -> None:
    index.add("p", "germany", "What is the capital of Germany?", unit(1, 0))
    index.add("p", "france", "What is the capital of France?", unit(1, 0.2))
    match = index.search("p", "Which is the capital of France?", unit(1, 0), 0.9, always)
    assert match is not None and match.exact_key == "france"  # the closer one is vetoed


def test_an_answer_no_longer_live_is_skipped(index: SemanticIndex) -> None:
    index.add("p", "expired", "What is the capital of France?", unit(1, 0))
    index.add("p", "live", "Which city is the capital of France?", unit(1, 0.3))
    match = index.search("p", "What is the capital of France?", unit(1, 0), 0.9,
                         lambda key: key != "expired")  # fmt: skip
    assert match is not None and match.exact_key == "live"


def test_a_removed_entry_is_never_found_and_its_partition_goes(index: SemanticIndex) -> None:
    for i in range(6):
        index.add("p", f"k{i}", f"question number {i}", unit(1, i))
    for i in range(6):
        index.remove(f"k{i}")
        assert f"k{i}" not in index
        match = index.search("p", f"question number {i}", unit(1, i), 0.5, always)
        assert match is None or match.exact_key != f"k{i}"
    assert len(index) == 0
    assert index.graph_partitions() == 0
    index.remove("never-stored")  # a no-op


def test_a_large_partition_moves_to_the_graph_and_finds_the_same_entries() -> None:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((300, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact, graph = SemanticIndex(graph_min_entries=10**6), SemanticIndex(graph_min_entries=100)
    for i, vector in enumerate(vectors):
        for index in (exact, graph):
            index.add("p", f"k{i}", "the same question", vector)
    graph.finish_graphs()
    assert (exact.graph_partitions(), graph.graph_partitions()) == (0, 1)
    for i in range(0, 300, 7):
        query = vectors[i] + 0.01 * rng.standard_normal(384).astype(np.float32)
        query /= np.linalg.norm(query)
        found = [ix.search("p", "the same question", query, 0.8, always) for ix in (exact, graph)]
        assert found[0] is not None and found[0].exact_key == f"k{i}"
        assert found[1] is not None and found[1].exact_key == f"k{i}"
        assert found[1].similarity == pytest.approx(found[0].similarity, abs=1e-4)


def answer(size: int = 10, expires_at_s: float = 100.0) -> CachedAnswer:
    return CachedAnswer(b"x" * size, None, 0.0, expires_at_s, "t")


def test_the_exact_tier_reports_every_entry_that_leaves() -> None:
    now = [0.0]
    removed: list[str] = []
    cache = ExactCache(max_entries=2, max_bytes=10_000, clock=lambda: now[0],
                       on_remove=removed.append)  # fmt: skip
    cache.put("a", answer())
    cache.put("b", answer())
    cache.put("a", answer())  # replaced, not removed
    assert removed == []
    cache.put("c", answer())  # over max_entries: the least recently used goes
    assert removed == ["b"]
    cache.put("big", answer(size=9_700))  # over max_bytes
    assert set(removed) >= {"a", "c"}
    now[0] = 200.0  # every entry past its expiry
    cache.put("d", answer(expires_at_s=300.0))
    assert "big" in removed
    assert cache.purge() == 1
    assert removed[-1] == "d"
    assert not cache.put("e", answer(expires_at_s=100.0))  # already expired: not stored


def test_the_hnsw_library_and_onnxruntime_load_together_in_either_order() -> None:
    # usearch 2.26.2+ crashed the interpreter when onnxruntime was imported after it.
    for first, second in (("usearch.index", "onnxruntime"), ("onnxruntime", "usearch.index")):
        loaded = subprocess.run(
            [sys.executable, "-c", f"import {first}; import {second}; print('ok')"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert (loaded.returncode, loaded.stdout.strip()) == (0, "ok"), (first, loaded.stderr)


def test_a_graph_built_in_the_background_takes_the_changes_made_meanwhile() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((400, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = SemanticIndex(graph_min_entries=200)
    for i in range(300):  # the 201st add starts the build; the next 99 come after its snapshot
        index.add("p", f"k{i}", "the same question", vectors[i])
    for i in range(0, 300, 3):  # removed while (or after) it was built
        index.remove(f"k{i}")
    index.finish_graphs()
    assert index.graph_partitions() == 1
    assert len(index) == 200
    for i in range(300):
        match = index.search("p", "the same question", vectors[i], 0.99, always)
        if i % 3 == 0:
            assert match is None or match.exact_key != f"k{i}"
        else:
            assert match is not None and match.exact_key == f"k{i}"
