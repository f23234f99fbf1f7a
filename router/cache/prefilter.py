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

from router.cache.vector_rows import Vector, VectorRows
from router.cache.verifier import Mode, verify

# How many of the statically nearest stored questions the verifier looks at (each check costs
# 60 to 140 µs on the event loop).
CANDIDATES = 4


def could_match(
    rows: VectorRows,
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
        for key, _ in rows.above(vector, cut, CANDIDATES)
        if key in questions
    )
