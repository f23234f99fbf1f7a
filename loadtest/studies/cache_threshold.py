"""The semantic cache's threshold, measured: precision and hit rate over the similarity threshold.

    python -m loadtest.studies.cache_threshold [--store DIR] [--png docs/cache-threshold.png]

Needs the embedder (all-minilm-l6-v2/int8) in the model store: `--store`, else EDGE_WORKER_STORE,
else the default, which `make models` prepares; without it the run stops with one line saying so.

Embeds question pairs with the served embedder (all-MiniLM-L6-v2, int8 ONNX) and, for every
threshold from 0.70 to 0.99, counts a pair as a hit when its cosine similarity reaches the
threshold and, with guards, when `router.cache.guards.veto` lets it through. On each set:
- **paraphrase (GPTCache)**: `loadtest/datasets/gptcache_paraphrases.json`, 999 positive pairs,
  and 999 negatives made by pairing each origin with another row's paraphrase;
- **PAWS-Wiki**: `loadtest/datasets/paws_wiki_test.tsv`, 8,000 adversarial pairs (3,536
  positive), where negatives reuse the same words in another order;
- **near-miss** (`loadtest/studies/cache_near_misses.py`): 85 negatives differing in one entity,
  number, date, language or negation, with 25 positives phrased in the same style.

Precision is hits that are right / all hits; hit rate (recall) is positives hit / positives.
Prints a Markdown report, writes it into docs/cache.md between its markers, and writes the
curves as a PNG. The default threshold is the lowest one
at which precision, with guards, is at least 0.99 on the near-miss set and on the paraphrase set
(each: pooled, the paraphrase set's thousand right hits would hide the near-miss set's errors).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_worker.embedder import Embedder
from loadtest.harness.doc_section import write_section
from loadtest.harness.models import EMBEDDER_MODEL, require_models
from loadtest.studies.cache_near_misses import NEAR_MISSES, PARAPHRASES
from loadtest.studies.datasets import GPTCACHE_PARAPHRASES, PAWS_WIKI_TEST
from router.cache.guards import veto

ROOT = Path(__file__).resolve().parents[2]
THRESHOLDS = np.round(np.arange(0.70, 0.995, 0.01), 2)
TARGET_PRECISION = 0.99


@dataclass
class PairSet:
    name: str
    pairs: list[tuple[str, str]]
    labels: np.ndarray  # 1 = same meaning
    cosines: np.ndarray | None = None
    vetoed: np.ndarray | None = None


def _gptcache() -> PairSet:
    rows = json.loads(GPTCACHE_PARAPHRASES.read_text())
    positives = [(r["origin"], r["similar"]) for r in rows]
    shift = len(rows) // 2  # a far row's paraphrase: another topic, as a stranger's question
    negatives = [
        (rows[i]["origin"], rows[(i + shift) % len(rows)]["similar"]) for i in range(len(rows))
    ]
    return PairSet(
        "paraphrase (GPTCache)",
        positives + negatives,
        np.array([1] * len(positives) + [0] * len(negatives)),
    )


def _paws() -> PairSet:
    with PAWS_WIKI_TEST.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return PairSet(
        "PAWS-Wiki",
        [(r["sentence1"], r["sentence2"]) for r in rows],
        np.array([int(r["label"]) for r in rows]),
    )


def _near_misses() -> PairSet:
    negatives = [pair for group in NEAR_MISSES.values() for pair in group]
    return PairSet(
        "near-miss",
        list(PARAPHRASES) + negatives,
        np.array([1] * len(PARAPHRASES) + [0] * len(negatives)),
    )


def _embed_pairs(embedder: Embedder, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    cosines = []
    for start in range(0, len(pairs), 64):
        chunk = pairs[start : start + 64]
        left = embedder.embed([a for a, _ in chunk])
        right = embedder.embed([b for _, b in chunk])
        cosines.extend(np.sum(left * right, axis=1).tolist())
    return np.array(cosines)


def _rates(s: PairSet, threshold: float, guarded: bool) -> tuple[int, int, int]:
    """(true hits, false hits, positives) at `threshold`."""
    assert s.cosines is not None and s.vetoed is not None
    hit = s.cosines >= threshold
    if guarded:
        hit &= ~s.vetoed
    return (
        int(np.sum(hit & (s.labels == 1))),
        int(np.sum(hit & (s.labels == 0))),
        int(np.sum(s.labels == 1)),
    )


def _precision(tp: int, fp: int) -> float:
    return tp / (tp + fp) if tp + fp else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path)
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "cache-threshold.png")
    parser.add_argument(
        "--doc",
        default=str(ROOT / "docs" / "cache.md"),
        help="the page whose measured section is rewritten; empty: none",
    )
    args = parser.parse_args()
    store = require_models("bench_cache_threshold", args.store, [EMBEDDER_MODEL])
    embedder = Embedder.open(store / EMBEDDER_MODEL.relative_dir)
    sets = [_near_misses(), _gptcache(), _paws()]
    for s in sets:
        s.cosines = _embed_pairs(embedder, s.pairs)
        s.vetoed = np.array([veto(a, b) is not None for a, b in s.pairs])

    def combined(threshold: float, guarded: bool) -> float:
        """The lower of the near-miss and paraphrase precisions: pooled, the paraphrase set's
        thousand right hits would hide the near-miss set's wrong ones."""
        return min(_precision(*_rates(s, threshold, guarded)[:2]) for s in sets[:2])

    default = next(
        (float(t) for t in THRESHOLDS if combined(float(t), True) >= TARGET_PRECISION), None
    )
    unguarded = next(
        (float(t) for t in THRESHOLDS if combined(float(t), False) >= TARGET_PRECISION), None
    )
    report: list[str] = [
        f"Default threshold (guards on): {default}; without guards: "
        f"{unguarded if unguarded is not None else f'no threshold reaches {TARGET_PRECISION}'}.",
        "",
    ]
    say = report.append
    say("| set | threshold | guards | precision | hit rate | false hits |")
    say("|---|---:|---|---:|---:|---:|")
    for s in sets:
        shown = {t for t in (default, unguarded, 0.80, 0.85, 0.90, 0.95) if t is not None}
        for threshold in sorted(shown):
            for guarded in (False, True):
                tp, fp, positives = _rates(s, threshold, guarded)
                say(
                    f"| {s.name} | {threshold:.2f} | {'on' if guarded else 'off'} "
                    f"| {_precision(tp, fp):.3f} | {tp / positives:.3f} | {fp} |"
                )
    vetoed_right = {
        s.name: float(np.mean(s.vetoed[s.labels == 1])) for s in sets if s.vetoed is not None
    }
    say("\nShare of true paraphrases the guards veto (recall they cost, at any threshold):")
    for name, share in vetoed_right.items():
        say(f"- {name}: {share:.1%}")
    near = sets[0]
    assert near.cosines is not None
    say("\nNear-miss negatives by group: median cosine, share vetoed by the guards")
    offset = len(PARAPHRASES)
    for group, pairs in NEAR_MISSES.items():
        block = slice(offset, offset + len(pairs))
        offset += len(pairs)
        assert near.vetoed is not None
        say(
            f"- {group}: {float(np.median(near.cosines[block])):.3f}, "
            f"{float(np.mean(near.vetoed[block])):.0%} vetoed"
        )
    _plot(sets, args.png, default)
    text = "\n".join(report)
    print(text)
    if args.doc:
        write_section(Path(args.doc), "bench_cache_threshold", text)


def _plot(sets: list[PairSet], png: Path, default: float | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for s, colour in zip(sets, ("tab:red", "tab:blue", "tab:green"), strict=True):
        for guarded, style in ((False, ":"), (True, "-")):
            rates = [_rates(s, float(t), guarded) for t in THRESHOLDS]
            label = f"{s.name}, guards {'on' if guarded else 'off'}"
            left.plot(THRESHOLDS, [_precision(tp, fp) for tp, fp, _ in rates], style,
                      color=colour, label=label)  # fmt: skip
            right.plot(THRESHOLDS, [tp / n for tp, _, n in rates], style, color=colour,
                       label=label)  # fmt: skip
    for axis, title in ((left, "precision"), (right, "hit rate (recall)")):
        axis.set_xlabel("cosine similarity threshold")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        if default is not None:
            axis.axvline(default, color="black", linewidth=0.8)
    left.axhline(TARGET_PRECISION, color="grey", linewidth=0.8)
    right.legend(fontsize=7, loc="lower left")
    figure.suptitle("Semantic cache: all-MiniLM-L6-v2 (int8 ONNX), precision and hit rate")
    figure.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png, dpi=110)


if __name__ == "__main__":
    main()
