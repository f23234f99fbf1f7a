"""Which build of the generator to serve: quality against the fp32 reference, and speed.

    python -m loadtest.studies.generator_precision [--store DIR] [--builds int4-kquant-mixed,int4]

Needs the generator (smollm2-135m-instruct) in the model store at fp32 and at every build of
`--builds`: `--store`, else EDGE_WORKER_STORE, else the default. `make models` prepares only the
served build (int4-kquant-mixed); fp32, the reference (519 MB, never served), is built on request:
`edge-worker prepare --precision int4-kquant-mixed,fp32`. Without a build the run stops with one
line saying how to prepare it.

Every build answers a fixed set of short prompts greedily (the same 24 for every build, below)
with at most 48 new tokens. Quality is agreement with the fp32 build's answers: the share of
prompts answered with exactly the same text, and the share of answer tokens that match fp32's
token for token up to the first difference (both from greedy decoding, so any difference comes
from the weights). Facts the prompts ask for are also checked by keyword. Speed is time to first
token and decode tokens/s over a 128-token answer, median of 5. Prints a Markdown table for
docs/edge-worker.md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import time
from pathlib import Path

from edge_worker.generator import Generator, Sampling
from edge_worker.model_store import DEFAULT_GENERATOR_PRECISIONS, problems, resolve_store
from loadtest.harness.models import generator_model, require_models

# (prompt, words a right answer contains one of, `|`-separated)
PROMPTS: tuple[tuple[str, str], ...] = (
    ("What is the capital of France?", "paris"),
    ("What is the capital of Japan?", "tokyo"),
    ("What is the capital of Italy?", "rome"),
    ("What is the capital of Germany?", "berlin"),
    ("What is the capital of Spain?", "madrid"),
    ("What is the largest planet in the solar system?", "jupiter"),
    ("Which planet is known as the Red Planet?", "mars"),
    ("What gas do plants take in from the air?", "carbon dioxide"),
    ("What is the chemical symbol for water?", "h2o"),
    ("How many days are there in a week?", "seven|7"),
    ("What is the boiling point of water in Celsius?", "100"),
    ("Who wrote Romeo and Juliet?", "shakespeare"),
    ("What is the opposite of hot?", "cold"),
    ("What colour is the sky on a clear day?", "blue"),
    ("How many legs does a spider have?", "eight|8"),
    ("What is the largest ocean on Earth?", "pacific"),
    ("What language is mainly spoken in Brazil?", "portuguese"),
    ("What is the freezing point of water in Celsius?", "0 degrees|0°|zero"),
    ("Which animal is known as the king of the jungle?", "lion"),
    ("What is the tallest mountain in the world?", "everest"),
    ("What do bees make?", "honey"),
    ("What is the main ingredient of guacamole?", "avocado"),
    ("How many continents are there?", "seven|7"),
    ("What is the square root of 81?", "9|nine"),
)
MAX_NEW_TOKENS = 48
REFERENCE_BUILD = "fp32"


def _answers(generator: Generator) -> list[list[int]]:
    answers = []
    for prompt, _ in PROMPTS:
        ids = generator.prompt_ids([{"role": "user", "content": prompt}])
        answers.append([p.token_id for p in generator.tokens(ids, Sampling(MAX_NEW_TOKENS))])
    return answers


def _speed(generator: Generator) -> tuple[float, float]:
    """Median time to first token (ms) and decode tokens/s over 128 tokens, of 5 runs."""
    ids = generator.prompt_ids([{"role": "user", "content": "Tell me a story about the sea."}])
    ttfts, rates = [], []
    for _ in range(5):
        started = time.perf_counter()
        first: float | None = None
        count = 0
        for _piece in generator.tokens(ids, Sampling(max_tokens=128)):
            count += 1
            if first is None:
                first = time.perf_counter() - started
        total = time.perf_counter() - started
        assert first is not None
        ttfts.append(first * 1000)
        rates.append((count - 1) / (total - first) if count > 1 else 0.0)
    return statistics.median(ttfts), statistics.median(rates)


def _prefix_match(ours: list[int], reference: list[int]) -> int:
    matched = 0
    for a, b in zip(ours, reference, strict=False):
        if a != b:
            break
        matched += 1
    return matched


def require_reference(store: Path | None, builds: list[str]) -> None:
    """Stops with one line when the fp32 reference is missing: unlike the other builds, no
    default preparation makes it, so the line says that and the command that adds it."""
    resolved = resolve_store(store, os.environ)
    if not problems(resolved, generator_model(REFERENCE_BUILD)):
        return
    precisions = ",".join(dict.fromkeys([*DEFAULT_GENERATOR_PRECISIONS, REFERENCE_BUILD, *builds]))
    store_option = "" if store is None else f" --store {shlex.quote(str(store))}"
    raise SystemExit(
        f"bench_generator_precision compares against the fp32 build, which is built only on "
        f"request (519 MB, never served) and is not in {resolved}: build it with "
        f"`edge-worker prepare{store_option} --precision {precisions}` "
        "(.venv/bin/edge-worker in a checkout)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path)
    parser.add_argument("--builds", default="int4-kquant-mixed,int4")
    args = parser.parse_args()
    builds = [b for b in args.builds.split(",") if b]
    require_reference(args.store, builds)
    models = {build: generator_model(build) for build in [REFERENCE_BUILD, *builds]}
    store = require_models("bench_generator_precision", args.store, list(models.values()))
    reference_generator = Generator.open(store / models[REFERENCE_BUILD].relative_dir)
    reference = _answers(reference_generator)
    rows = [(REFERENCE_BUILD, reference_generator, reference)]
    for build in builds:
        generator = Generator.open(store / models[build].relative_dir)
        rows.append((build, generator, _answers(generator)))
    print(
        "| build | same answer as fp32 | answer tokens matching fp32 | facts right "
        "| TTFT ms | decode tokens/s |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    reference_tokens = sum(len(r) for r in reference)
    for build, generator, answers in rows:
        same = sum(a == r for a, r in zip(answers, reference, strict=True))
        matched = sum(_prefix_match(a, r) for a, r in zip(answers, reference, strict=True))
        right = 0
        for (_, keyword), tokens in zip(PROMPTS, answers, strict=True):
            text = generator.decode(tokens).lower()
            right += any(word in text for word in keyword.split("|"))
        ttft_ms, rate = _speed(generator)
        print(
            f"| {build} | {same}/{len(PROMPTS)} | {matched / reference_tokens:.0%} "
            f"| {right}/{len(PROMPTS)} | {ttft_ms:.0f} | {rate:.0f} |"
        )


if __name__ == "__main__":
    main()
