"""The semantic tier's prefilter: most misses decided without the transformer.

Each partition keeps, beside its embeddings, the static vectors of its stored questions
(`edge_worker.static_embedding`: a table read, no model run, about 50 µs a question). A new
question can be a semantic hit only if some stored question is near it statically (cosine at or
above the cut) and passes the verifier; when none of its `CANDIDATES` nearest does, the request
is a miss at once, and its embedding, needed only to store its answer, is computed after the
answer is sent. Otherwise the question is embedded and searched as before.

The prefilter never serves anything: a question it lets through is still decided by the full
check, so it can cost hits, never precision. The cut (`cache.prefilter_cut`) keeps 99% of the
pairs the full check serves on the evaluation's tune part; its test-part figures are in
docs/cache.md ("The miss path").
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from router.cache.verifier import Mode, verify

Vector = npt.NDArray[np.float32]
# How many of the statically nearest stored questions the verifier looks at (each check costs
# 60 to 140 µs on the event loop).
CANDIDATES = 4


class StaticRows:
    """A partition's static vectors, in a buffer that doubles as it fills; a removal moves the
    last row into the freed one (adding and removing are O(1))."""

    __slots__ = ("_buffer", "_keys", "_row_of")

    def __init__(self, dimension: int) -> None:
        self._buffer = np.zeros((8, dimension), dtype=np.float32)
        self._keys: list[str] = []
        self._row_of: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str, vector: Vector) -> None:
        count = len(self._keys)
        if count == len(self._buffer):
            grown = np.zeros((2 * count, self._buffer.shape[1]), dtype=np.float32)
            grown[:count] = self._buffer
            self._buffer = grown
        self._buffer[count] = vector
        self._keys.append(key)
        self._row_of[key] = count

    def remove(self, key: str) -> None:
        row = self._row_of.pop(key, None)
        if row is None:
            return
        last = len(self._keys) - 1
        if row != last:
            moved = self._keys[last]
            self._buffer[row] = self._buffer[last]
            self._keys[row] = moved
            self._row_of[moved] = row
        self._keys.pop()

    def nearest(self, vector: Vector, cut: float, count: int) -> list[str]:
        """Up to `count` keys whose static cosine reaches `cut`, nearest first."""
        similarities = self._buffer[: len(self._keys)] @ vector
        above = np.flatnonzero(similarities >= cut)
        if len(above) > count:
            above = above[np.argpartition(-similarities[above], count - 1)[:count]]
        return [self._keys[row] for row in above[np.argsort(-similarities[above])]]


def could_match(
    rows: StaticRows,
    questions: Mapping[str, str],
    question: str,
    vector: Vector,
    cut: float,
    mode: Mode,
) -> bool:
    """Whether any of the statically nearest stored questions passes the verifier (`questions`:
    the partition's stored question of each key)."""
    return any(
        verify(questions[key], question, mode).accepted
        for key in rows.nearest(vector, cut, CANDIDATES)
        if key in questions
    )
