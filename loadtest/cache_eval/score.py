"""Scores the semantic cache's decision on the evaluation's pairs, set by set, never pooled.

    python -m loadtest.cache_eval.score [--part test] [--store DIR] [--readme]

Needs the embedder (all-minilm-l6-v2/int8) in the model store, as loadtest/bench_cache_threshold.py
does (`--store`, else EDGE_WORKER_STORE, else the default that `make models` prepares).

Each pair is decided as the cache decides a stored question `a` against a new question `b`: a hit
when the cosine of their embeddings reaches the node's default threshold (`CacheSettings`) and
`router.cache.guards.veto(a, b)` lets it through. Per set: precision of hits (right hits / hits),
hit rate on true pairs, false hits (on the contrastive set by edit class), the cosine distribution,
and precision and hit rate over thresholds: what a tenant buys at each. `--readme` writes the
report into README.md between its markers; figures are taken on the test part only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from loadtest.cache_eval.split import PARTS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SETS = ("gptcache", "paws", "contrastive")
SET_NAMES = {
    "gptcache": "paraphrase (GPTCache)",
    "paws": "PAWS-Wiki",
    "contrastive": "contrastive (minimal edits)",
}
THRESHOLDS = (0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99)
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Counts:
    true_hits: int
    false_hits: int
    positives: int
    negatives: int

    @property
    def precision(self) -> float | None:
        """None when nothing was hit: no hit, no wrong answer, but no precision either."""
        hits = self.true_hits + self.false_hits
        return self.true_hits / hits if hits else None

    @property
    def hit_rate(self) -> float | None:
        return self.true_hits / self.positives if self.positives else None

    @property
    def false_hit_rate(self) -> float | None:
        return self.false_hits / self.negatives if self.negatives else None


def counts(labels: Sequence[int], cosines: Floats, vetoed: Bools, threshold: float) -> Counts:
    """The cache's decision on each pair: a hit at `threshold` unless the guards veto it."""
    label = np.asarray(labels)
    hit = (cosines >= threshold) & ~vetoed
    return Counts(
        int(np.sum(hit & (label == 1))),
        int(np.sum(hit & (label == 0))),
        int(np.sum(label == 1)),
        int(np.sum(label == 0)),
    )


def quantiles(values: Floats) -> str:
    if not len(values):
        return "–"
    return " / ".join(f"{q:.3f}" for q in np.quantile(values, QUANTILES))


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


@dataclass(frozen=True)
class Scored:
    """One set's pairs with what the scorer measured on them."""

    pairs: list[dict[str, Any]]
    cosines: Floats
    vetoed: Bools

    @property
    def labels(self) -> list[int]:
        return [int(p["label"]) for p in self.pairs]

    def of_edit(self, edit: str) -> Scored:
        return self.select(lambda p: p["edit"] == edit)

    def select(self, keep: Callable[[dict[str, Any]], bool]) -> Scored:
        mask = np.array([keep(p) for p in self.pairs], dtype=bool)
        return Scored(
            [p for p, m in zip(self.pairs, mask, strict=True) if m],
            self.cosines[mask],
            self.vetoed[mask],
        )


def labelled_report(name: str, s: Scored, threshold: float) -> list[str]:
    """A set with true pairs and negatives: the decision at the default, then the curve."""
    label = np.array(s.labels)
    at = counts(s.labels, s.cosines, s.vetoed, threshold)
    lines = [
        f"#### {name}: {len(s.pairs)} pairs ({at.positives} true, {at.negatives} negative)",
        "",
        f"At the default ({threshold:.2f}, guards on): precision **{_share(at.precision)}**, "
        f"hit rate {_share(at.hit_rate)}, {at.false_hits} false hits "
        f"({_share(at.false_hit_rate)} of negatives); the guards veto "
        f"{float(np.mean(s.vetoed[label == 1])):.1%} of true pairs and "
        f"{float(np.mean(s.vetoed[label == 0])):.1%} of negatives.",
        "",
        f"Cosine, quantiles {' / '.join(f'p{round(q * 100)}' for q in QUANTILES)}: "
        f"true pairs {quantiles(s.cosines[label == 1])}; "
        f"negatives {quantiles(s.cosines[label == 0])}.",
        "",
        "| threshold | precision | hit rate | false hits | precision, cosine only "
        "| hit rate, cosine only |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    no_veto = np.zeros_like(s.vetoed)
    for t in THRESHOLDS:
        guarded = counts(s.labels, s.cosines, s.vetoed, t)
        bare = counts(s.labels, s.cosines, no_veto, t)
        lines.append(
            f"| {t:.2f} | {_share(guarded.precision)} | {_share(guarded.hit_rate)} "
            f"| {guarded.false_hits} | {_share(bare.precision)} | {_share(bare.hit_rate)} |"
        )
    return [*lines, ""]


def contrastive_report(name: str, s: Scored, threshold: float) -> list[str]:
    """Negatives only, by edit class: how often the cache would serve the wrong answer."""
    classes = sorted({p["edit"] for p in s.pairs})
    at = counts(s.labels, s.cosines, s.vetoed, threshold)
    lines = [
        f"#### {name}: {len(s.pairs)} pairs, all negative",
        "",
        f"At the default ({threshold:.2f}, guards on): **{at.false_hits} false hits** "
        f"({_share(at.false_hit_rate)} of pairs). Each would be a wrong answer served; precision "
        "on real traffic depends on how many true rewordings sit beside them, which is why this "
        "set is reported as false hits, not pooled with the paraphrase sets.",
        "",
        "| edit class | pairs | false hits | false-hit rate | cosine ≥ threshold | vetoed by "
        "guards | cosine p5 / p25 / p50 / p75 / p95 |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for edit in classes:
        part = s.of_edit(edit)
        c = counts(part.labels, part.cosines, part.vetoed, threshold)
        lines.append(
            f"| {edit} | {len(part.pairs)} | {c.false_hits} | {_share(c.false_hit_rate)} "
            f"| {float(np.mean(part.cosines >= threshold)):.3f} "
            f"| {float(np.mean(part.vetoed)):.3f} | {quantiles(part.cosines)} |"
        )
    lines.append(
        f"| **all** | {len(s.pairs)} | {at.false_hits} | {_share(at.false_hit_rate)} "
        f"| {float(np.mean(s.cosines >= threshold)):.3f} | {float(np.mean(s.vetoed)):.3f} "
        f"| {quantiles(s.cosines)} |"
    )
    lines += ["", "False-hit rate by threshold, guards on:", ""]
    lines.append("| threshold | " + " | ".join(classes) + " | all |")
    lines.append("|---:|" + "---:|" * (len(classes) + 1))
    for t in THRESHOLDS:
        row = []
        for edit in [*classes, None]:
            part = s if edit is None else s.of_edit(edit)
            row.append(_share(counts(part.labels, part.cosines, part.vetoed, t).false_hit_rate))
        lines.append(f"| {t:.2f} | " + " | ".join(row) + " |")
    return [*lines, ""]


def report(scored: dict[str, Scored], threshold: float) -> str:
    lines: list[str] = []
    for name in SETS:
        if name not in scored:
            continue
        make = contrastive_report if name == "contrastive" else labelled_report
        lines += make(SET_NAMES[name], scored[name], threshold)
    return "\n".join(lines).rstrip()


def load_pairs(part: str, data_dir: Path = HERE / "data") -> dict[str, list[dict[str, Any]]]:
    by_set: dict[str, list[dict[str, Any]]] = {name: [] for name in SETS}
    with (data_dir / f"{part}.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            pair = json.loads(line)
            by_set[pair["set"]].append(pair)
    return by_set


def _embed_cosines(
    embed: Callable[[Sequence[str]], npt.NDArray[np.float32]], pairs: list[dict[str, Any]]
) -> Floats:
    """Each distinct sentence embedded once (batches of 64); cosines of unit vectors."""
    texts = sorted({p[k] for p in pairs for k in ("a", "b")})
    index = {t: i for i, t in enumerate(texts)}
    vectors = np.concatenate([embed(texts[i : i + 64]) for i in range(0, len(texts), 64)])
    a = vectors[[index[p["a"]] for p in pairs]]
    b = vectors[[index[p["b"]] for p in pairs]]
    cosines: Floats = np.sum(a * b, axis=1).astype(np.float64)
    return cosines


def _guards_version() -> str:
    path = ROOT / "router" / "cache" / "guards.py"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def main() -> None:
    from edge_worker.embedder import Embedder
    from loadtest.bench_models import EMBEDDER_MODEL, require_models
    from loadtest.doc_section import write_section
    from router.cache.guards import veto
    from router.config.model import CacheSettings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=PARTS, default="test")
    parser.add_argument("--store", type=Path)
    parser.add_argument("--threshold", type=float, help="default: the node's default threshold")
    parser.add_argument("--readme", action="store_true", help="write the report into README.md")
    parser.add_argument("--cosines", type=Path, help="also write {pair id: cosine} as JSON here")
    args = parser.parse_args()
    threshold = args.threshold or CacheSettings().similarity_threshold
    store = require_models("cache_eval.score", args.store, [EMBEDDER_MODEL])
    embedder = Embedder.open(store / EMBEDDER_MODEL.relative_dir)
    started = time.perf_counter()
    scored: dict[str, Scored] = {}
    for name, pairs in load_pairs(args.part).items():
        cosines = _embed_cosines(embedder.embed, pairs)
        vetoed = np.array([veto(p["a"], p["b"]) is not None for p in pairs], dtype=bool)
        scored[name] = Scored(pairs, cosines, vetoed)
    took_s = time.perf_counter() - started
    header = (
        f"Part `{args.part}`; threshold {threshold:.2f} (`CacheSettings` default); guards "
        f"`router/cache/guards.py` sha256 `{_guards_version()}`; embedder all-MiniLM-L6-v2 int8; "
        f"{sum(len(s.pairs) for s in scored.values())} pairs embedded and decided in "
        f"{took_s:.0f} s.\n\n"
    )
    text = header + report(scored, threshold)
    print(text)
    if args.cosines:
        args.cosines.write_text(
            json.dumps({p["id"]: round(float(c), 5) for s in scored.values()
                        for p, c in zip(s.pairs, s.cosines, strict=True)})
        )  # fmt: skip
    if args.readme:
        if args.part != "test":
            raise SystemExit("README.md reports the test part only")
        write_section(HERE / "README.md", "cache_eval_score", text)


if __name__ == "__main__":
    main()
