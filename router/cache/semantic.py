"""The semantic tier: the last user message compared by meaning, inside its partition only.

Each partition (a cache scope without its last message, `router.cache.scope`) keeps the unit
vectors of the questions stored under it, with the exact keys of their answers; a search looks at
that partition alone, so no entry of another partition, and so of another tenant, can ever be
compared. The answers stay in the exact tier, which bounds memory and expires entries; the tier
tells the index whenever an entry goes (`remove`), so the index holds exactly the live answers'
vectors and is bounded with them.

A small partition is searched exactly, one matrix-vector product (numpy). Past
`graph_min_entries` vectors it moves to an HNSW graph (usearch), whose search time grows with the
logarithm of its size rather than linearly; the crossover, and what the graph's approximate
search costs in missed hits, are measured in `loadtest/studies/cache_lookup.py` (docs/cache.md).

A hit needs a similarity at or above the threshold and the verifier's agreement
(`router.cache.verifier`: the guards, or content-token agreement): docs/cache.md has the
measurement behind both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
from usearch.index import Index

from router.cache.prefilter import could_match
from router.cache.vector_rows import VectorRows
from router.cache.verifier import Mode, Verdict, verify

log = logging.getLogger("edge_router.cache")

Vector = npt.NDArray[np.float32]
DIMENSION = 384
# How many nearest neighbours a graph search returns; those above the threshold are then
# checked in order against the verifier and the exact tier.
GRAPH_CANDIDATES = 16
# How many candidates above the threshold a search checks against the verifier, most similar
# first (each check is 60 to 110 µs on the event loop): a miss in a partition of near questions
# costs this many checks at most, however many stored questions are near.
VERIFIED_CANDIDATES = 8


def vector_bytes(question: str) -> int:
    """The memory an entry takes in the index: its vector and its static vector (the
    prefilter's), its question and their keeping."""
    return 2 * DIMENSION * 4 + len(question) + 128


class _Partition(Protocol):
    questions: dict[str, str]  # exact key -> the stored question

    def add(self, key: str, vector: Vector) -> None: ...

    def remove(self, key: str) -> None: ...

    def nearest(self, vector: Vector, threshold: float) -> Iterator[tuple[str, float]]:
        """Stored keys with similarity >= threshold, most similar first."""
        ...


class _FlatPartition:
    """The vectors searched exactly (`VectorRows`), with the stored questions."""

    __slots__ = ("_rows", "questions")

    def __init__(self) -> None:
        self._rows = VectorRows(DIMENSION)
        self.questions: dict[str, str] = {}

    def add(self, key: str, vector: Vector) -> None:
        self._rows.add(key, vector.reshape(DIMENSION))

    def remove(self, key: str) -> None:
        self._rows.remove(key)

    def nearest(self, vector: Vector, threshold: float) -> Iterator[tuple[str, float]]:
        yield from self._rows.above(vector.reshape(DIMENSION), threshold)

    def snapshot(self) -> tuple[list[str], npt.NDArray[np.float32]]:
        """Copies of the keys and vectors, for building a graph elsewhere."""
        return self._rows.snapshot()


class _GraphPartition:
    """An HNSW graph (usearch, inner product over unit vectors: cosine similarity)."""

    __slots__ = ("_graph", "_key_of", "_label_of", "_next_label", "questions")

    def __init__(self, keys: list[str], vectors: npt.NDArray[np.float32]) -> None:
        """A graph of these vectors, added in one batch (usearch releases the GIL meanwhile,
        so this can run in a thread while the event loop goes on)."""
        self._graph = Index(ndim=DIMENSION, metric="ip", dtype="f32")
        if keys:
            self._graph.add(np.arange(len(keys)), vectors, threads=1)
        self._label_of = {key: label for label, key in enumerate(keys)}
        self._key_of = dict(enumerate(keys))
        self._next_label = len(keys)
        self.questions: dict[str, str] = {}  # the flat partition's, given at the swap

    def add(self, key: str, vector: Vector) -> None:
        label = self._next_label
        self._next_label += 1
        self._graph.add(label, vector.reshape(DIMENSION))
        self._label_of[key] = label
        self._key_of[label] = key

    def remove(self, key: str) -> None:
        label = self._label_of.pop(key)
        del self._key_of[label]
        self._graph.remove(label)

    def nearest(self, vector: Vector, threshold: float) -> Iterator[tuple[str, float]]:
        found = self._graph.search(vector.reshape(DIMENSION), GRAPH_CANDIDATES)
        for label, distance in zip(found.keys, found.distances, strict=True):
            similarity = 1.0 - float(distance)  # usearch's inner-product distance is 1 - dot
            if similarity < threshold:
                break
            key = self._key_of.get(int(label))
            if key is not None:
                yield key, similarity


@dataclass(frozen=True, slots=True)
class SemanticMatch:
    exact_key: str
    similarity: float
    question: str
    verdict: Verdict


@dataclass(slots=True)
class _GraphBuild:
    """A graph being built in a thread from a snapshot, and what changed since the snapshot."""

    future: Future[_GraphPartition]
    changes: list[tuple[str, Vector | None]] = field(default_factory=list)  # (key, None: removed)


class SemanticIndex:
    def __init__(
        self,
        *,
        graph_min_entries: int,
        build_in_background: bool = True,
        verifier: Mode = "guards",
        static: Callable[[str], Vector] | None = None,
        prefilter_cut: float = 1.0,
    ) -> None:
        """`build_in_background`: a partition's graph is built in a thread (a 20,000-entry
        partition takes seconds) while exact search serves it; off, at once (for tests).
        `verifier`: the second check a candidate above the threshold must pass. `static`: a
        question's static vector, for the prefilter (`router.cache.prefilter`) with its cut;
        without it every question of a non-empty partition needs its embedding."""
        self._graph_min_entries = graph_min_entries
        self._verifier: Mode = verifier
        self._static = static
        self._prefilter_cut = prefilter_cut
        self._static_rows: dict[str, VectorRows] = {}
        self._partitions: dict[str, _Partition] = {}
        self._partition_of: dict[str, str] = {}  # exact key -> its partition
        self._background = build_in_background
        self._builds: dict[str, _GraphBuild] = {}
        self._builder: ThreadPoolExecutor | None = None
        # The verifier's decisions on the candidates it checked, by reason (`agree`, or the guard
        # or check that refused: a fixed set), for the metrics.
        self.verifier_decisions: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._partition_of)

    @property
    def verifier(self) -> Mode:
        return self._verifier

    def __contains__(self, exact_key: str) -> bool:
        return exact_key in self._partition_of

    def has_partition(self, partition: str) -> bool:
        """Whether the partition holds any vector (a search could find something)."""
        return partition in self._partitions

    def add(
        self,
        partition: str,
        exact_key: str,
        question: str,
        vector: Vector,
        static: Vector | None = None,
    ) -> None:
        """`static`: the question's static vector when the caller has it (else computed)."""
        if exact_key in self._partition_of:
            return  # the same question stored again: its vector is already there
        part = self._current(partition)
        if part is None:
            part = self._partitions[partition] = _FlatPartition()
        elif (
            isinstance(part, _FlatPartition)
            and len(part.questions) >= self._graph_min_entries
            and partition not in self._builds
        ):
            part = self._start_graph(partition, part)
        part.add(exact_key, vector)
        part.questions[exact_key] = question
        self._partition_of[exact_key] = partition
        if self._static is not None:
            static = self._static(question) if static is None else static
            rows = self._static_rows.get(partition)
            if rows is None:
                rows = self._static_rows[partition] = VectorRows(len(static))
            rows.add(exact_key, static)
        build = self._builds.get(partition)
        if build is not None:
            build.changes.append((exact_key, vector))

    def remove(self, exact_key: str) -> None:
        """Forget an answer's vector (its entry left the exact tier)."""
        partition = self._partition_of.pop(exact_key, None)
        if partition is None:
            return
        part = self._current(partition)
        assert part is not None
        part.remove(exact_key)
        del part.questions[exact_key]
        rows = self._static_rows.get(partition)
        if rows is not None:
            rows.remove(exact_key)
            if not len(rows):
                del self._static_rows[partition]
        build = self._builds.get(partition)
        if build is not None:
            build.changes.append((exact_key, None))
        if not part.questions:
            del self._partitions[partition]
            self._builds.pop(partition, None)  # its graph, if one is being built, is not needed

    def needs_embedding(self, partition: str, question: str, verifier: Mode | None = None) -> bool:
        """Whether the question could be a hit in this partition, so that its embedding is worth
        waiting for: the prefilter's answer, or True without one."""
        part = self._current(partition)
        if part is None:
            return False
        rows = self._static_rows.get(partition)
        if self._static is None or rows is None:
            return True
        return could_match(
            rows,
            part.questions,
            question,
            self._static(question),
            self._prefilter_cut,
            verifier or self._verifier,
        )

    def search(
        self,
        partition: str,
        question: str,
        vector: Vector,
        threshold: float,
        alive: Callable[[str], bool],
        *,
        verifier: Mode | None = None,
    ) -> SemanticMatch | None:
        """The most similar stored question of the partition that passes the threshold and the
        verifier (`verifier`, else the index's own; the first VERIFIED_CANDIDATES live ones are
        checked), and whose answer is still live in the exact tier (`alive`: not yet expired)."""
        part = self._current(partition)
        if part is None:
            return None
        checked = 0
        for key, similarity in part.nearest(vector, threshold):
            stored = part.questions[key]
            if not alive(key):
                continue
            if checked == VERIFIED_CANDIDATES:
                break
            checked += 1
            verdict = verify(stored, question, verifier or self._verifier)
            decisions = self.verifier_decisions
            decisions[verdict.reason] = decisions.get(verdict.reason, 0) + 1
            if verdict.accepted:
                return SemanticMatch(key, similarity, stored, verdict)
        return None

    def graph_partitions(self) -> int:
        return sum(isinstance(p, _GraphPartition) for p in self._partitions.values())

    def finish_graphs(self) -> None:
        """Wait for the graphs being built and put them in service (tests, shutdown)."""
        for partition, build in list(self._builds.items()):
            wait([build.future])
            self._current(partition)

    def _start_graph(self, partition: str, flat: _FlatPartition) -> _Partition:
        keys, vectors = flat.snapshot()
        if not self._background:
            graph = _GraphPartition(keys, vectors)
            graph.questions = flat.questions
            self._partitions[partition] = graph
            return graph
        if self._builder is None:
            self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cache-graph")
        self._builds[partition] = _GraphBuild(self._builder.submit(_GraphPartition, keys, vectors))
        return flat  # serves, exactly, until the graph is ready

    def _current(self, partition: str) -> _Partition | None:
        """The partition's index; a graph whose build has ended replaces the exact search here,
        once the changes made meanwhile are applied to it."""
        build = self._builds.get(partition)
        if build is not None and build.future.done():
            del self._builds[partition]
            flat = self._partitions.get(partition)
            try:
                graph = build.future.result()
            except Exception:  # keep exact search; the partition stays correct, only slower
                log.exception("cache: building a partition's HNSW graph failed")
                return flat
            if flat is not None:
                for key, vector in build.changes:
                    if vector is None:
                        graph.remove(key)
                    else:
                        graph.add(key, vector)
                graph.questions = flat.questions
                self._partitions[partition] = graph
        return self._partitions.get(partition)
