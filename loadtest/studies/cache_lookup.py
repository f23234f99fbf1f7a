"""The semantic tier's look-up time in one partition, exact (numpy) against the HNSW graph.

    python -m loadtest.studies.cache_lookup [--store DIR] \\
        [--sizes 1000,5000,10000,20000,50000,100000]

Needs the embedder (all-minilm-l6-v2/int8) in the model store: `--store`, else EDGE_WORKER_STORE,
else the default, which `make models` prepares; without it the run stops with one line saying so.
The sentences come from loadtest/datasets/ (its README says where from).

Fills one partition of `router.cache.semantic.SemanticIndex` twice, once kept exact and once
moved to the graph from its first entry, with unit vectors from the served embedder
(all-MiniLM-L6-v2, int8 ONNX): the GPTCache origins and every PAWS-Wiki sentence, about 17,000
real sentences. Past those, each further vector is the normalised sum of two real ones picked at
random (so the fill keeps the real vectors' spread instead of uniform noise, which no cache
holds). At each size it searches with the 999 GPTCache paraphrases as questions, through
`SemanticIndex.search` at the default threshold with the guards, as the cache stage does, and
reports per look-up p50, p99 and max; the graph's insert time; and how often the graph's answer
differs from the exact search's (a hit it missed, since both apply the same threshold and guards,
so the graph can only lose hits, never make a wrong one).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_worker.embedder import Embedder
from loadtest.harness.models import EMBEDDER_MODEL, require_models
from loadtest.studies.datasets import GPTCACHE_PARAPHRASES, PAWS_WIKI_TEST
from router.cache.semantic import SemanticIndex, SemanticMatch
from router.config.model import CacheSettings

ROOT = Path(__file__).resolve().parents[2]
PARTITION = "one-partition"
THRESHOLD = CacheSettings().similarity_threshold


def _sentences() -> tuple[list[str], list[str]]:
    """(texts to store: the GPTCache origins first, then PAWS-Wiki's sentences; the questions:
    the GPTCache paraphrases of those origins)."""
    rows = json.loads(GPTCACHE_PARAPHRASES.read_text())
    with PAWS_WIKI_TEST.open(encoding="utf-8") as handle:
        paws = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    stored = list(dict.fromkeys([r["origin"] for r in rows] + [
        s for r in paws for s in (r["sentence1"], r["sentence2"])
    ]))  # fmt: skip
    return stored, [r["similar"] for r in rows]


def _embed(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    return np.concatenate([embedder.embed(texts[i : i + 64]) for i in range(0, len(texts), 64)])


def _fill(real: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` vectors: the real ones first, then normalised sums of two real ones."""
    if count <= len(real):
        return real[:count]
    left = real[rng.integers(0, len(real), count - len(real))]
    right = real[rng.integers(0, len(real), count - len(real))]
    mixed = left + right
    mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
    return np.concatenate([real, mixed.astype(np.float32)])


def _always(_key: str) -> bool:
    return True


def _lookups(
    index: SemanticIndex, questions: Sequence[str], vectors: np.ndarray
) -> tuple[list[float], list[SemanticMatch | None]]:
    times, found = [], []
    for question, vector in zip(questions, vectors, strict=True):
        start = time.perf_counter()
        found.append(index.search(PARTITION, question, vector, THRESHOLD, _always))
        times.append(time.perf_counter() - start)
    return times, found


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _row(label: str, size: int, times: Sequence[float], extra: str) -> str:
    ms = [t * 1e3 for t in times]
    return (
        f"| {label} | {size:,} | {statistics.median(ms):.3f} | {_percentile(ms, 0.99):.3f} "
        f"| {max(ms):.3f} | {extra} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path)
    parser.add_argument("--sizes", default="1000,5000,10000,20000,50000,100000")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    store = require_models("bench_cache_lookup", args.store, [EMBEDDER_MODEL])
    embedder = Embedder.open(store / EMBEDDER_MODEL.relative_dir)
    stored_texts, questions = _sentences()
    started = time.perf_counter()
    real = _embed(embedder, stored_texts)
    question_vectors = _embed(embedder, questions)
    print(f"embedded {len(real):,} stored and {len(questions)} question texts "
          f"in {time.perf_counter() - started:.0f} s")  # fmt: skip
    vectors = _fill(real, sizes[-1], np.random.default_rng(5))
    texts = stored_texts + [f"filler {i}" for i in range(len(real), sizes[-1])]

    exact = SemanticIndex(graph_min_entries=10**9)
    graph = SemanticIndex(graph_min_entries=1, build_in_background=False)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=ROOT, check=False).stdout.strip()  # fmt: skip
    print(f"\ncommit {commit}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"threshold {THRESHOLD}, {len(questions)} look-ups per row\n")  # fmt: skip
    print("| search | entries | p50 ms | p99 ms | max ms | notes |")
    print("|---|---:|---:|---:|---:|---|")
    filled = 0
    for size in sizes:
        insert_s = 0.0
        for i in range(filled, size):
            key, text = f"k{i}", texts[i]
            exact.add(PARTITION, key, text, vectors[i])
            start = time.perf_counter()
            graph.add(PARTITION, key, text, vectors[i])
            insert_s += time.perf_counter() - start
        added, filled = size - filled, size
        exact_times, exact_found = _lookups(exact, questions, question_vectors)
        graph_times, graph_found = _lookups(graph, questions, question_vectors)
        hits = sum(m is not None for m in exact_found)
        differs = sum(
            (a.exact_key if a else None) != (b.exact_key if b else None)
            for a, b in zip(exact_found, graph_found, strict=True)
        )
        print(_row("exact (numpy)", size, exact_times, f"{hits} hits"))
        print(_row("HNSW (usearch)", size, graph_times,
                   f"{differs} answers differ from exact; insert "
                   f"{insert_s / added * 1e3:.2f} ms each"))  # fmt: skip


if __name__ == "__main__":
    main()
