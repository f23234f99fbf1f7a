"""The check at the end of `edge-worker prepare`: the prepared models run on the serving stack
(onnxruntime-genai, onnxruntime, tokenizers; no torch) and answer sensibly.

The generator answers "What is the capital of France?" greedily through its own chat template
and must mention Paris; the embedder embeds two sentences into unit vectors of its dimension.
The timings it reports (load, time to first token, decode speed) are single runs, indicative
only: the benchmark in docs/benchmarks.md is where speed is measured.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime_genai as og

from edge_worker.embedder import Embedder

QUESTION = "What is the capital of France?"
EXPECTED_WORD = "Paris"
# A prompt with a long answer, to time decoding over more than the few tokens of the question's.
DECODE_PROMPT = "Write a short story about a lighthouse keeper."
DECODE_TOKENS = 128
SENTENCES = ("The cat sits on the mat.", "A kitten is resting on a rug.")


class SmokeFailure(Exception):
    """A prepared model that loads but does not behave."""


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    new_tokens: int
    ttft_ms: float
    tokens_per_s: float


@dataclass(frozen=True)
class GeneratorReport:
    load_s: float
    answer: Generation
    decode: Generation


@dataclass(frozen=True)
class EmbedderReport:
    load_s: float
    embed_ms: float
    dimension: int
    cosine: float


def _generate(model: og.Model, tokenizer: og.Tokenizer, prompt: str, max_new: int) -> Generation:
    messages = json.dumps([{"role": "user", "content": prompt}])
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
    ids = tokenizer.encode(text)
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + max_new, do_sample=False)
    generator = og.Generator(model, params)
    start = time.perf_counter()
    generator.append_tokens(ids)
    generator.generate_next_token()
    first = time.perf_counter()
    tokens = [int(generator.get_next_tokens()[0])]
    while not generator.is_done():
        generator.generate_next_token()
        tokens.append(int(generator.get_next_tokens()[0]))
    end = time.perf_counter()
    rest = len(tokens) - 1
    return Generation(
        text=tokenizer.decode(tokens),
        prompt_tokens=len(ids),
        new_tokens=len(tokens),
        ttft_ms=(first - start) * 1000,
        tokens_per_s=rest / (end - first) if rest and end > first else 0.0,
    )


def check_generator(directory: Path) -> GeneratorReport:
    start = time.perf_counter()
    model = og.Model(str(directory))
    tokenizer = og.Tokenizer(model)
    load_s = time.perf_counter() - start
    answer = _generate(model, tokenizer, QUESTION, max_new=48)
    if EXPECTED_WORD.lower() not in answer.text.lower():
        raise SmokeFailure(
            f"{directory}: asked {QUESTION!r}, answered {answer.text!r} (no {EXPECTED_WORD})"
        )
    decode = _generate(model, tokenizer, DECODE_PROMPT, max_new=DECODE_TOKENS)
    return GeneratorReport(load_s=load_s, answer=answer, decode=decode)


def check_embedder(directory: Path, dimension: int) -> EmbedderReport:
    start = time.perf_counter()
    embedder = Embedder(directory / "model.onnx", directory / "tokenizer.json")
    load_s = time.perf_counter() - start
    embedder.embed(["warm-up"])
    start = time.perf_counter()
    vectors = embedder.embed(list(SENTENCES))
    embed_ms = (time.perf_counter() - start) * 1000
    if vectors.shape != (len(SENTENCES), dimension):
        raise SmokeFailure(f"{directory}: vectors of shape {vectors.shape}, want (2, {dimension})")
    norms = np.linalg.norm(vectors, axis=1)
    if not np.allclose(norms, 1.0, atol=1e-4):
        raise SmokeFailure(f"{directory}: vectors are not unit length (norms {norms.tolist()})")
    return EmbedderReport(
        load_s=load_s,
        embed_ms=embed_ms,
        dimension=int(vectors.shape[1]),
        cosine=float(vectors[0] @ vectors[1]),
    )
