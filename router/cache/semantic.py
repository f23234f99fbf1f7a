"""The semantic tier: the last user message compared by meaning, inside its partition only.

Each partition (a cache scope without its last message, `router.cache.scope`) keeps the unit
vectors of the questions stored under it and the exact keys of their answers; a search is one
matrix-vector product over the partition (exact cosine similarity, numpy), so no entry of
another partition, and so of another tenant, can ever be compared. The answers themselves stay in
the exact tier, which bounds memory and expires entries: a vector whose answer has gone is
dropped when a search meets it. The index is bounded by the number of vectors it holds (the
oldest partition entries go first).

A hit needs a similarity at or above the threshold and no veto from the guards
(`router.cache.guards`): docs/cache.md has the measurement behind both.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from router.cache.guards import veto

Vector = npt.NDArray[np.float32]
DIMENSION = 384


class _Partition:
    """The vectors of one partition in a buffer that doubles as it fills (adding is amortised
    O(1)), with the exact keys and questions row by row."""

    __slots__ = ("_buffer", "key_set", "keys", "questions")

    def __init__(self) -> None:
        self._buffer = np.zeros((8, DIMENSION), dtype=np.float32)
        self.keys: list[str] = []
        self.key_set: set[str] = set()
        self.questions: list[str] = []

    @property
    def vectors(self) -> npt.NDArray[np.float32]:
        return self._buffer[: len(self.keys)]

    def append(self, key: str, question: str, vector: Vector) -> None:
        if len(self.keys) == len(self._buffer):
            grown = np.zeros((2 * len(self._buffer), DIMENSION), dtype=np.float32)
            grown[: len(self.keys)] = self._buffer
            self._buffer = grown
        self._buffer[len(self.keys)] = vector.reshape(DIMENSION)
        self.keys.append(key)
        self.key_set.add(key)
        self.questions.append(question)

    def drop(self, rows: Sequence[int]) -> None:
        doomed = set(rows)
        keep = [i for i in range(len(self.keys)) if i not in doomed]
        kept = self._buffer[keep]
        self._buffer = np.zeros((max(8, len(self._buffer)), DIMENSION), dtype=np.float32)
        self._buffer[: len(keep)] = kept
        self.keys = [self.keys[i] for i in keep]
        self.key_set = set(self.keys)
        self.questions = [self.questions[i] for i in keep]


@dataclass(frozen=True, slots=True)
class SemanticMatch:
    exact_key: str
    similarity: float
    question: str


class SemanticIndex:
    def __init__(self, *, max_vectors: int) -> None:
        self._max_vectors = max_vectors
        self._partitions: OrderedDict[str, _Partition] = OrderedDict()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, partition: str, exact_key: str, question: str, vector: Vector) -> None:
        part = self._partitions.get(partition)
        if part is None:
            part = self._partitions[partition] = _Partition()
        if exact_key in part.key_set:
            return
        part.append(exact_key, question, vector)
        self._partitions.move_to_end(partition)
        self._count += 1
        while self._count > self._max_vectors:
            self._evict_oldest()

    def search(
        self,
        partition: str,
        question: str,
        vector: Vector,
        threshold: float,
        alive: Callable[[str], bool],
    ) -> SemanticMatch | None:
        """The most similar stored question of the partition that passes the threshold and the
        guards, and whose answer is still in the exact tier (`alive`)."""
        part = self._partitions.get(partition)
        if part is None or not part.keys:
            return None
        similarities = part.vectors @ vector.reshape(DIMENSION)
        above = np.flatnonzero(similarities >= threshold)
        dead: list[int] = []
        found: SemanticMatch | None = None
        for row in above[np.argsort(-similarities[above])]:
            key = part.keys[row]
            if not alive(key):  # its answer expired or was evicted from the exact tier
                dead.append(int(row))
            elif veto(part.questions[row], question) is None:
                found = SemanticMatch(key, float(similarities[row]), part.questions[row])
                break
        if dead:
            part.drop(dead)
            self._count -= len(dead)
        return found

    def purge(self, partitions: set[str] | None = None) -> None:
        for name in list(self._partitions) if partitions is None else partitions:
            part = self._partitions.pop(name, None)
            if part is not None:
                self._count -= len(part.keys)

    def _evict_oldest(self) -> None:
        name, part = next(iter(self._partitions.items()))
        part.drop([0])
        self._count -= 1
        if not part.keys:
            del self._partitions[name]
