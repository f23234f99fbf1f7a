"""Keyed unit vectors in one dense matrix, searched by one matrix-vector product (numpy).

The buffer doubles as it fills; a removal moves the last row into the freed one, so adding and
removing are O(1) and the rows stay dense for the product. The semantic tier's exact search
(`router.cache.semantic`) and the prefilter's static vectors (`router.cache.prefilter`) keep
their partitions in it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


class VectorRows:
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
        """Forget the key's vector (nothing when it has none)."""
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

    def above(
        self, vector: Vector, threshold: float, count: int | None = None
    ) -> list[tuple[str, float]]:
        """Keys with similarity >= threshold (at most `count`), most similar first."""
        similarities = self._buffer[: len(self._keys)] @ vector
        rows = np.flatnonzero(similarities >= threshold)
        if count is not None and len(rows) > count:
            rows = rows[np.argpartition(-similarities[rows], count - 1)[:count]]
        return [
            (self._keys[row], float(similarities[row]))
            for row in rows[np.argsort(-similarities[rows])]
        ]

    def snapshot(self) -> tuple[list[str], npt.NDArray[np.float32]]:
        """Copies of the keys and vectors, for building a graph elsewhere."""
        return list(self._keys), self._buffer[: len(self._keys)].copy()
