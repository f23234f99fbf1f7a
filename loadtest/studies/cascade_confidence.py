"""Which confidence statistic tells a good local answer from a bad one, for the cascade.

    python -m loadtest.studies.cascade_confidence [--store DIR]

Needs the served generator (smollm2-135m-instruct/int4-kquant-mixed) in the model store: `--store`,
else EDGE_WORKER_STORE, else the default, which `make models` prepares; without it the run stops
with one line saying so.

The served generator answers a fixed set of short factual questions greedily, with per-token
log-probabilities. Each answer is labelled right or wrong by keyword. For each statistic of the
answer's token log-probabilities (mean, minimum, 10th and 25th percentiles, the mean over the
first 8 tokens) it reports how well it separates right from wrong answers: the ROC AUC (the
chance that a right answer scores above a wrong one), and, for thresholds that keep 90% / 80% of
the right answers local, the share of wrong answers still kept. Prints Markdown for
docs/edge-worker.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from edge_worker.generator import Generator, Sampling
from loadtest.harness.models import generator_model, require_models
from loadtest.studies.generator_precision import PROMPTS as FACTS

# More questions with short, checkable answers, to have enough of both labels.
MORE: tuple[tuple[str, str], ...] = (
    ("What is 2 plus 2?", "4|four"),
    ("What is 12 times 12?", "144"),
    ("What is 17 times 23?", "391"),
    ("What is the capital of Australia?", "canberra"),
    ("What is the capital of Canada?", "ottawa"),
    ("What is the capital of Brazil?", "brasília|brasilia"),
    ("What is the capital of Kenya?", "nairobi"),
    ("What is the capital of Portugal?", "lisbon"),
    ("Who painted the Mona Lisa?", "leonardo|da vinci"),
    ("Who developed the theory of relativity?", "einstein"),
    ("What is the smallest prime number?", "2|two"),
    ("How many sides does a hexagon have?", "six|6"),
    ("What is the currency of Japan?", "yen"),
    ("What is the hardest natural substance?", "diamond"),
    ("In which year did World War II end?", "1945"),
    ("What is the chemical symbol for gold?", "au"),
    ("What is the largest mammal?", "blue whale"),
    ("How many minutes are in an hour?", "60|sixty"),
    ("What is the capital of Egypt?", "cairo"),
    ("Which element has the atomic number 1?", "hydrogen"),
    ("What is the longest river in South America?", "amazon"),
    ("Who was the first person to walk on the Moon?", "armstrong"),
    ("What is 100 divided by 4?", "25"),
    ("What is the capital of Norway?", "oslo"),
)
SERVED_GENERATOR = generator_model("int4-kquant-mixed")

Statistic = Callable[[Sequence[float]], float]
STATISTICS: dict[str, Statistic] = {
    "mean": lambda lp: float(np.mean(lp)),
    "minimum": lambda lp: float(np.min(lp)),
    "10th percentile": lambda lp: float(np.percentile(lp, 10)),
    "25th percentile": lambda lp: float(np.percentile(lp, 25)),
    "mean of first 8": lambda lp: float(np.mean(lp[:8])),
}


def _auc(right: list[float], wrong: list[float]) -> float:
    pairs = [(r > w) + 0.5 * (r == w) for r in right for w in wrong]
    return float(np.mean(pairs)) if pairs else float("nan")


def _wrong_kept(right: list[float], wrong: list[float], keep_right: float) -> tuple[float, float]:
    threshold = float(np.quantile(right, 1.0 - keep_right))
    return threshold, float(np.mean([w >= threshold for w in wrong])) if wrong else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path)
    args = parser.parse_args()
    store = require_models("bench_cascade_confidence", args.store, [SERVED_GENERATOR])
    generator = Generator.open(store / SERVED_GENERATOR.relative_dir)
    labelled: list[tuple[bool, list[float]]] = []
    for question, words in (*FACTS, *MORE):
        ids = generator.prompt_ids([{"role": "user", "content": question}])
        pieces = list(generator.tokens(ids, Sampling(max_tokens=48, logprobs=True)))
        text = "".join(p.text for p in pieces).lower()
        right = any(word in text for word in words.split("|"))
        labelled.append((right, [p.logprob for p in pieces if p.logprob is not None]))
    n_right = sum(r for r, _ in labelled)
    print(f"{len(labelled)} answers: {n_right} right, {len(labelled) - n_right} wrong\n")
    print(
        "| statistic | AUC | threshold keeping 90% of right | wrong kept | "
        "threshold keeping 80% of right | wrong kept |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, statistic in STATISTICS.items():
        right = [statistic(lp) for r, lp in labelled if r and lp]
        wrong = [statistic(lp) for r, lp in labelled if not r and lp]
        t90, w90 = _wrong_kept(right, wrong, 0.9)
        t80, w80 = _wrong_kept(right, wrong, 0.8)
        print(
            f"| {name} | {_auc(right, wrong):.2f} | {t90:.2f} | {w90:.0%} | {t80:.2f} | {w80:.0%} |"
        )


if __name__ == "__main__":
    main()
