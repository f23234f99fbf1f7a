"""A static embedding distilled from the embedder: a vector per WordPiece token, read, not run.

The semantic cache's prefilter (`router.cache.prefilter`) uses it to decide most misses without
the transformer. The table is distilled at preparation time, as model2vec does: each token of
the vocabulary is passed alone through all-MiniLM-L6-v2 (`[CLS] token [SEP]`, mean-pooled),
the three main principal components, which every token shares, are removed, and each row is
weighted as SIF does (Arora et al., 2017: a / (a + p(token)), so that frequent tokens weigh
little), with p(token) from Zipf's law, since BERT's vocabulary is ordered by frequency from id
1996. A sentence's static vector is the normalised sum of its tokens' rows: one tokenisation
and a gather, about 100 µs for a question,
about 25 µs once its words were met before (`edge_worker.word_pieces`).

On the evaluation's test part (`python -m loadtest.studies.cache_eval.prefilter`), 98.5% of the
GPTCache pairs the full check serves (cosine at 0.80 and the guards) pass the cut, while 90% of
other questions about the same library and every PAWS-Wiki sentence are decided without the
transformer (docs/cache.md, "The miss path"). The distilled rows without the components removed let
through 1.9 times as many same-domain misses (0.240 against 0.128, the verifier checking the
candidates) on GPTCache rows set apart for tuning.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from edge_worker.word_pieces import WordPieces

STATIC_FILE = "static.npy"
CLS_ID, SEP_ID = 101, 102
REMOVED_COMPONENTS = 3
FIRST_WORD_ID = 1996
SIF_A = 1e-4
DISTIL_BATCH = 1024
MAX_TOKENS = 256
# The characters a static vector is taken from: far more than MAX_TOKENS tokens of any language
# (English averages about 4 characters a token), so truncating here changes nothing but time.
MAX_CHARS = 4096

Table = npt.NDArray[np.float16]
Vectors = npt.NDArray[np.float32]
# One run of the transformer: token ids (rows of [CLS] token [SEP]) -> last hidden states.
RunModel = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float32]]


def distil(run_model: RunModel, vocab_size: int) -> Table:
    """The weighted, component-removed table of every token's pooled output."""
    pooled = []
    for start in range(0, vocab_size, DISTIL_BATCH):
        ids = np.arange(start, min(start + DISTIL_BATCH, vocab_size), dtype=np.int64)
        batch = np.stack([np.full_like(ids, CLS_ID), ids, np.full_like(ids, SEP_ID)], axis=1)
        pooled.append(run_model(batch).mean(axis=1))
    rows = np.concatenate(pooled)
    centred = rows - rows.mean(axis=0)
    _, _, components = np.linalg.svd(centred[::3], full_matrices=False)
    main = components[:REMOVED_COMPONENTS]
    flattened = centred - (centred @ main.T) @ main
    table: Table = (flattened * sif_weights(vocab_size)[:, None]).astype(np.float16)
    return table


def sif_weights(vocab_size: int) -> npt.NDArray[np.float32]:
    """a / (a + p(token)), with p from Zipf's law over BERT's frequency-ordered ids (rank 1 at
    id 1996, "the"; the special and single-character tokens before it count as rank 1)."""
    rank = np.maximum(np.arange(vocab_size, dtype=np.float64) - FIRST_WORD_ID + 1, 1)
    probability = 1 / (rank * np.log(vocab_size))
    weights: npt.NDArray[np.float32] = (SIF_A / (SIF_A + probability)).astype(np.float32)
    return weights


def write_table(directory: Path, run_model: RunModel) -> None:
    """Distil the table for the tokenizer in `directory` and save it beside the model."""
    vocabulary = json.loads((directory / "tokenizer.json").read_text(encoding="utf-8"))
    size = len(vocabulary["model"]["vocab"])
    np.save(directory / STATIC_FILE, distil(run_model, size))


class StaticEmbedder:
    """Static vectors for texts: the table's rows of their tokens, summed and normalised."""

    def __init__(self, table_path: Path, tokenizer_path: Path) -> None:
        # Kept in float32: summing float16 rows cost 60 µs a question (each row converted),
        # float32 rows 10 µs, for 23 MB more memory (47 MB in all).
        self._table: npt.NDArray[np.float32] = np.load(table_path).astype(np.float32)
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.no_padding()
        tokenizer.no_truncation()  # WordPieces keeps the first MAX_TOKENS
        self._pieces = WordPieces(tokenizer, MAX_TOKENS)

    @property
    def dimension(self) -> int:
        return int(self._table.shape[1])

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors, one row per text (zeros for a text without tokens)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            # Only the first MAX_CHARS are read: the work is bounded whatever the text's size
            # (it runs on the event loop); words met before are not tokenised again.
            ids = self._pieces.ids(text[:MAX_CHARS])
            if ids:
                summed = self._table[ids].sum(axis=0)
                out[row] = summed / max(float(np.linalg.norm(summed)), 1e-9)
        return out
