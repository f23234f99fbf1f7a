"""The static embedding: distilled from the transformer's outputs, then read without it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge_worker.static_embedding import (
    REMOVED_COMPONENTS,
    STATIC_FILE,
    StaticEmbedder,
    distil,
    sif_weights,
)
from tests.edge_worker.prepared import EMBEDDER, model_dir


def _fake_model(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    """Hidden states that depend on the token in the middle: a shared offset plus noise."""
    rng = np.random.default_rng(0)
    shared = np.linspace(1, 2, 16, dtype=np.float32)
    per_token = rng.standard_normal((ids.shape[0], 16)).astype(np.float32)
    noise = per_token * (ids[:, 1:2] % 7 + 1)
    return np.repeat((shared + noise)[:, None, :], ids.shape[1], axis=1)


def test_distilled_rows_carry_no_part_of_the_components_every_token_shares() -> None:
    table = distil(_fake_model, 3000).astype(np.float32)
    assert table.shape == (3000, 16) and np.isfinite(table).all()
    unweighted = table / sif_weights(3000)[:, None]
    centred = unweighted - unweighted.mean(axis=0)
    # What is left varies along fewer directions: the removed ones are (nearly) empty.
    singular = np.linalg.svd(centred, compute_uv=False)
    assert singular[-REMOVED_COMPONENTS:].max() < 1e-2 * singular[0]


def test_frequent_tokens_weigh_less_than_rare_ones() -> None:
    weights = sif_weights(30522)
    the, capital, rare = weights[1996], weights[3007], weights[29000]
    assert the < capital < rare <= 1


def test_a_rewording_is_statically_nearer_than_another_question_and_word_order_is_ignored() -> None:
    directory = model_dir(EMBEDDER)
    static = StaticEmbedder(directory / STATIC_FILE, directory / "tokenizer.json")
    vectors = static.embed(
        [
            "What is the capital of France?",
            "Tell me the capital of France.",
            "How do I load a dataset from a CSV file?",
            "France of capital the is what?",
            "",
        ]
    )
    assert np.allclose(np.linalg.norm(vectors[:4], axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    assert vectors[0] @ vectors[3] > 0.999  # a bag of tokens: the guards judge the order
    assert not vectors[4].any()
