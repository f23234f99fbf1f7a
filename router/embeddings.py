"""The edge worker's embedder, loaded into the router process (for the semantic cache).

When the node config asks for it (`edge_worker.embed_in_router`), the prepared all-MiniLM-L6-v2
is opened at start-up (integrity-checked, off the event loop) and served to the router's own
code through `BatchingEmbedder`: one worker thread, concurrent calls batched, the loop never
blocked. The model store is the worker's (`edge_worker.store`, or its default).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Sequence
from pathlib import Path

from edge_worker import manifest
from edge_worker.embedder import BatchingEmbedder, Embedder, Vectors, lower_priority
from edge_worker.model_store import resolve_store
from edge_worker.static_embedding import STATIC_FILE, StaticEmbedder

EMBEDDER_DIR = Path("all-minilm-l6-v2") / "int8"
# The niceness of the embedder's threads in the router (the event loop stays at 0): CFS gives a
# thread at 10 about a tenth of the CPU share of one at 0 when both want the core.
EMBEDDER_NICENESS = 10
ID_DIGITS = 12


class RouterEmbedder:
    def __init__(self, store: str | None) -> None:
        self._store = Path(store) if store is not None else None
        self._batching: BatchingEmbedder | None = None
        self._static: StaticEmbedder | None = None
        # What made the vectors (the sha256 prefixes of the model and of the static table, from
        # the manifest), named in shared entries so that no router compares another's vectors.
        self.model_id = ""
        self.static_id = ""

    async def start(self) -> None:
        directory = resolve_store(self._store, os.environ) / EMBEDDER_DIR
        # No spinning: the router's event loop shares the cores with the embedder's threads; and
        # no more threads than the cores this process may run on (two threads on one core took
        # twice as long, loadtest/studies/cache_hits.py pinned).
        threads = max(1, min(2, len(os.sched_getaffinity(0))))
        opening = functools.partial(_open_below_the_loop, directory, threads)
        embedder = await asyncio.to_thread(opening)
        digests = {f.path: f.sha256[:ID_DIGITS] for f in manifest.load(directory).files}
        self.model_id, self.static_id = digests["model.onnx"], digests[STATIC_FILE]
        # The static table was checked with the model's other files (its manifest lists it).
        tokenizer = directory / "tokenizer.json"
        self._static = await asyncio.to_thread(StaticEmbedder, directory / STATIC_FILE, tokenizer)
        self._batching = BatchingEmbedder(embedder, niceness=EMBEDDER_NICENESS)

    async def embed(self, texts: Sequence[str], *, background: bool = False) -> Vectors:
        """`background`: texts that may wait (`BatchingEmbedder.embed`)."""
        if self._batching is None:
            raise RuntimeError("the embedder is not loaded (the app has not started)")
        return await self._batching.embed(texts, background=background)

    def static_vector(self, text: str) -> Vectors:
        """The text's static vector (`edge_worker.static_embedding`), on the caller's thread:
        about 100 µs, no model run."""
        if self._static is None:
            raise RuntimeError("the embedder is not loaded (the app has not started)")
        vector: Vectors = self._static.embed([text])[0]
        return vector

    @property
    def waiting(self) -> int:
        """Texts waiting for the model (not yet in a running batch)."""
        return 0 if self._batching is None else self._batching.waiting

    @property
    def in_background(self) -> int:
        """Background texts not yet run."""
        return 0 if self._batching is None else self._batching.in_background

    @property
    def loaded(self) -> bool:
        return self._batching is not None

    @property
    def batches(self) -> int:
        return 0 if self._batching is None else self._batching.batches

    async def close(self) -> None:
        if self._batching is not None:
            await asyncio.to_thread(self._batching.close)


def _threads() -> set[int]:
    """The native ids of this process's threads (Linux)."""
    return {int(task) for task in os.listdir("/proc/self/task")}


def _open_below_the_loop(directory: Path, threads: int) -> Embedder:
    """The embedder, its onnxruntime threads (intra-op, started with the session) run below the
    event loop's priority, as its batching thread does: on a busy core the loop wins, the
    embedder gets what is left, and a look-up that cannot wait answers "miss". The threads are
    told apart as those that appear while the session opens, in this thread (so not this one)."""
    before = _threads()
    embedder = Embedder.open(directory, threads=threads, spin=False)
    for thread_id in _threads() - before:
        lower_priority(thread_id, EMBEDDER_NICENESS)
    return embedder
