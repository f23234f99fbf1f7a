"""The embedder on the real prepared all-MiniLM-L6-v2 (int8 ONNX), directly and batched."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from edge_worker.embedder import DIMENSION, BatchingEmbedder, Embedder, similar_lengths
from tests.edge_worker.prepared import EMBEDDER, model_dir


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder.open(model_dir(EMBEDDER))


def test_vectors_are_unit_length_rows_of_the_models_dimension(embedder: Embedder) -> None:
    vectors = embedder.embed(["What is the capital of France?", "bonjour", ""])
    assert vectors.shape == (3, DIMENSION) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_paraphrase_is_closer_than_an_unrelated_question(embedder: Embedder) -> None:
    question, paraphrase, unrelated = embedder.embed(
        [
            "What is the capital of France?",
            "Which city is the capital of France?",
            "How long should I boil an egg?",
        ]
    )
    assert float(question @ paraphrase) > 0.85
    assert float(question @ unrelated) < 0.3


def test_a_text_embeds_the_same_alone_and_in_a_padded_batch(embedder: Embedder) -> None:
    texts = ["short", "a much longer sentence that forces the short one to be padded " * 3]
    together = embedder.embed(texts)
    alone = np.concatenate([embedder.embed([t]) for t in texts])
    assert np.all(np.sum(together * alone, axis=1) > 0.9999)


def test_text_past_256_tokens_is_truncated_not_refused(embedder: Embedder) -> None:
    long_text = "word " * 2000
    (vector,) = embedder.embed([long_text])
    (prefix,) = embedder.embed(["word " * 300])
    assert float(vector @ prefix) > 0.9999  # both are the first 256 tokens


@pytest.mark.asyncio
async def test_concurrent_calls_share_batches_and_get_their_own_vectors(
    embedder: Embedder,
) -> None:
    batching = BatchingEmbedder(embedder, max_batch=16)
    texts = [f"question number {i} about the weather in Lisbon" for i in range(40)]
    try:
        rows = await asyncio.gather(*(batching.embed([text]) for text in texts))
    finally:
        batching.close()
    assert batching.batches < len(texts)  # 40 callers, a few model runs
    got = np.concatenate(rows)
    direct = embedder.embed(texts)
    assert np.all(np.sum(got * direct, axis=1) > 0.9999)  # each caller got its own text's vector


def test_vectors_match_sentence_transformers_reference_computation(embedder: Embedder) -> None:
    """The int8 ONNX model against the fp32 checkpoint as sentence-transformers runs it
    (data/make_reference_embeddings.py, computed once in the preparation environment)."""
    reference = json.loads(
        (Path(__file__).parent / "data" / "reference_embeddings.json").read_text()
    )
    ours = embedder.embed(reference["sentences"])
    theirs = np.array(reference["vectors"], dtype=np.float32)
    cosines = np.sum(ours * theirs, axis=1)
    texts = [i for i, sentence in enumerate(reference["sentences"]) if sentence]
    # int8 weights: 0.9991-0.9997 measured for text; the empty string ([CLS] [SEP]) 0.996.
    assert cosines[texts].min() >= 0.999, cosines
    assert cosines.min() >= 0.99, cosines


def test_waiting_texts_are_batched_with_texts_of_similar_length() -> None:
    short = [("what time is it", 1), ("hello there", 2), ("is it raining", 3)]
    long = [("word " * 120, 4), ("word " * 100, 5)]
    batches = similar_lengths([long[0], *short, long[1]], max_batch=8)
    assert [sorted(n for _, n in batch) for batch in batches] == [[1, 2, 3], [4, 5]]
    assert [len(batch) for batch in similar_lengths(short * 3, max_batch=4)] == [4, 4, 1]


@pytest.mark.asyncio
async def test_a_long_text_does_not_share_a_batch_with_short_ones(embedder: Embedder) -> None:
    batching = BatchingEmbedder(embedder, max_batch=16)
    texts = ["word " * 200, *(f"short question {i}" for i in range(6))]
    try:
        rows = await asyncio.gather(*(batching.embed([text]) for text in texts))
    finally:
        batching.close()
    direct = embedder.embed(texts)
    assert np.all(np.sum(np.concatenate(rows) * direct, axis=1) > 0.9999)
    assert batching.batches >= 2  # the long text ran apart from the short ones


@pytest.mark.asyncio
async def test_background_texts_run_one_at_a_time_after_every_waiting_text(
    embedder: Embedder,
) -> None:
    batching = BatchingEmbedder(embedder, max_batch=16)
    finished: list[str] = []

    async def embed(name: str, *, background: bool) -> None:
        await batching.embed([f"question {name}"], background=background)
        finished.append(name)

    try:
        later = [asyncio.create_task(embed(f"b{i}", background=True)) for i in range(3)]
        now = [asyncio.create_task(embed(f"f{i}", background=False)) for i in range(2)]
        await asyncio.sleep(0)
        assert (batching.waiting, batching.in_background) == (2, 3)
        await asyncio.gather(*later, *now)
    finally:
        batching.close()
    assert finished[:2] == ["f0", "f1"] and sorted(finished[2:]) == ["b0", "b1", "b2"]
    assert batching.batches == 1 + 3  # the two waiting texts together, the others alone
