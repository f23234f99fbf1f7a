"""Scores the semantic cache's decision on the evaluation's pairs, set by set, never pooled.

    python -m loadtest.studies.cache_eval.score [--part test] [--store DIR] [--readme]
    python -m loadtest.studies.cache_eval.score --verifier content [--cosines-from FILE]
    python -m loadtest.studies.cache_eval.score --compare [--cosines-from FILE] [--docs]

Needs the embedder (all-minilm-l6-v2/int8) in the model store, as
loadtest/studies/cache_threshold.py does (`--store`, else EDGE_WORKER_STORE, else the default that
`make models` prepares).

Each pair is decided as the cache decides a stored question `a` against a new question `b`: a hit
when the cosine of their embeddings reaches the node's default threshold (`CacheSettings`) and
`router.cache.guards.veto(a, b)` lets it through. Per set: precision of hits (right hits / hits),
hit rate on true pairs, false hits (on the contrastive set by edit class), the cosine distribution,
and precision and hit rate over thresholds: what a tenant buys at each. `--readme` writes the
report into README.md between its markers; figures are taken on the test part only.

`--verifier` scores with another second check of `router.cache.verifier` instead of the guards
("content": content-token agreement in order; "content-bag" and "content-direction": the same
words with no order check or only around direction-bearing words). `--compare` decides every pair
with each candidate at the default threshold and prints one table a set (precision, hit rate,
false hits by edit class, µs per check); `--docs` writes it into docs/cache.md. `--cosines-from`
reads the cosines a `--cosines` run wrote, so neither needs the embedder.
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

from loadtest.studies.cache_eval.split import PARTS

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


def _refusers(check: str) -> str:
    return "the guards veto" if check == "guards" else f"the `{check}` check refuses"


def labelled_report(name: str, s: Scored, threshold: float, check: str = "guards") -> list[str]:
    """A set with true pairs and negatives: the decision at the default, then the curve."""
    label = np.array(s.labels)
    at = counts(s.labels, s.cosines, s.vetoed, threshold)
    lines = [
        f"#### {name}: {len(s.pairs)} pairs ({at.positives} true, {at.negatives} negative)",
        "",
        f"At the default ({threshold:.2f}, {check} on): precision **{_share(at.precision)}**, "
        f"hit rate {_share(at.hit_rate)}, {at.false_hits} false hits "
        f"({_share(at.false_hit_rate)} of negatives); {_refusers(check)} "
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


def contrastive_report(name: str, s: Scored, threshold: float, check: str = "guards") -> list[str]:
    """Negatives only, by edit class: how often the cache would serve the wrong answer."""
    classes = sorted({p["edit"] for p in s.pairs})
    at = counts(s.labels, s.cosines, s.vetoed, threshold)
    lines = [
        f"#### {name}: {len(s.pairs)} pairs, all negative",
        "",
        f"At the default ({threshold:.2f}, {check} on): **{at.false_hits} false hits** "
        f"({_share(at.false_hit_rate)} of pairs). Each would be a wrong answer served; precision "
        "on real traffic depends on how many true rewordings sit beside them, which is why this "
        "set is reported as false hits, not pooled with the paraphrase sets.",
        "",
        "| edit class | pairs | false hits | false-hit rate | cosine ≥ threshold | refused by "
        f"{check} | cosine p5 / p25 / p50 / p75 / p95 |",
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
    lines += ["", f"False-hit rate by threshold, {check} on:", ""]
    lines.append("| threshold | " + " | ".join(classes) + " | all |")
    lines.append("|---:|" + "---:|" * (len(classes) + 1))
    for t in THRESHOLDS:
        row = []
        for edit in [*classes, None]:
            part = s if edit is None else s.of_edit(edit)
            row.append(_share(counts(part.labels, part.cosines, part.vetoed, t).false_hit_rate))
        lines.append(f"| {t:.2f} | " + " | ".join(row) + " |")
    return [*lines, ""]


def report(scored: dict[str, Scored], threshold: float, check: str = "guards") -> str:
    lines: list[str] = []
    for name in SETS:
        if name not in scored:
            continue
        make = contrastive_report if name == "contrastive" else labelled_report
        lines += make(SET_NAMES[name], scored[name], threshold, check)
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


def cosine_source(
    bench: str, store: Path | None, cosines_from: Path | None
) -> Callable[[list[dict[str, Any]]], Floats]:
    """The cosines of pairs: read from a `--cosines` file, else embedded with the served
    embedder from the model store (which must hold it)."""
    if cosines_from:
        known = json.loads(cosines_from.read_text())
        return lambda pairs: np.array([known[p["id"]] for p in pairs], dtype=np.float64)
    from edge_worker.embedder import Embedder
    from loadtest.harness.models import EMBEDDER_MODEL, require_models

    embedder = Embedder.open(
        require_models(bench, store, [EMBEDDER_MODEL]) / EMBEDDER_MODEL.relative_dir
    )
    return lambda pairs: _embed_cosines(embedder.embed, pairs)


Check = Callable[[str, str], bool]


def _checks() -> dict[str, Check]:
    """The candidate second checks, by the name the report gives them."""
    from router.cache.verifier import content_agreement, verify

    return {
        "cosine only": lambda a, b: True,
        "guards": lambda a, b: verify(a, b, "guards").accepted,
        "content-bag": lambda a, b: content_agreement(a, b, "none").accepted,
        "content-direction": lambda a, b: content_agreement(a, b, "direction").accepted,
        "content": lambda a, b: content_agreement(a, b, "sequence").accepted,
    }


def _decide(check: Check, pairs: list[dict[str, Any]]) -> tuple[Bools, float]:
    """Which pairs the check refuses, and its mean time per pair in µs."""
    started = time.perf_counter()
    refused = np.array([not check(p["a"], p["b"]) for p in pairs], dtype=bool)
    return refused, (time.perf_counter() - started) / max(len(pairs), 1) * 1e6


def compare_report(by_set: dict[str, tuple[list[dict[str, Any]], Floats]], threshold: float) -> str:
    """Each candidate at `threshold`, set by set (never pooled), with its time per check."""
    rows: dict[str, dict[str, Counts]] = {}
    classes = sorted({p["edit"] for p in by_set.get("contrastive", ([], None))[0]})
    took_us: dict[str, list[float]] = {}
    for name, check in _checks().items():
        rows[name] = {}
        for set_name, (pairs, cosines) in by_set.items():
            refused, us = _decide(check, pairs)
            took_us.setdefault(name, []).append(us)
            labels = [int(p["label"]) for p in pairs]
            rows[name][set_name] = counts(labels, cosines, refused, threshold)
            if set_name == "contrastive":
                for edit in classes:
                    mask = np.array([p["edit"] == edit for p in pairs], dtype=bool)
                    part = [lab for lab, m in zip(labels, mask, strict=True) if m]
                    rows[name][edit] = counts(part, cosines[mask], refused[mask], threshold)
    lines = [
        f"At threshold {threshold:.2f}; µs per check: the mean over every pair of the part, "
        "one core, pure Python.",
        "",
        "| second check | µs per check | GPTCache precision | GPTCache hit rate "
        "| PAWS precision | PAWS hit rate | contrastive false hits |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, by in rows.items():
        c = by.get("contrastive")
        g, w = by.get("gptcache"), by.get("paws")
        lines.append(
            f"| {name} | {float(np.mean(took_us[name])):.0f} "
            f"| {_share(g.precision if g else None)} | {_share(g.hit_rate if g else None)} "
            f"| {_share(w.precision if w else None)} | {_share(w.hit_rate if w else None)} "
            f"| {c.false_hits if c else '–'} of {c.negatives if c else '–'} |"
        )
    lines += ["", "Contrastive false-hit rate by edit class:", ""]
    lines.append("| second check | " + " | ".join(classes) + " |")
    lines.append("|---|" + "---:|" * len(classes))
    for name, by in rows.items():
        lines.append(
            f"| {name} | " + " | ".join(_share(by[e].false_hit_rate) for e in classes) + " |"
        )
    return "\n".join(lines)


def file_version(path: Path) -> str:
    """The first 12 hex digits of the file's SHA-256, naming the version that was measured."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _guards_version() -> str:
    return file_version(ROOT / "router" / "cache" / "guards.py")


def main() -> None:
    from loadtest.harness.doc_section import write_section
    from router.config.model import CacheSettings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=PARTS, default="test")
    parser.add_argument("--store", type=Path)
    parser.add_argument("--threshold", type=float, help="default: the node's default threshold")
    parser.add_argument("--readme", action="store_true", help="write the report into README.md")
    parser.add_argument("--cosines", type=Path, help="also write {pair id: cosine} as JSON here")
    parser.add_argument("--cosines-from", type=Path, help="read cosines written by --cosines")
    parser.add_argument("--verifier", choices=tuple(_checks()), default="guards")
    parser.add_argument("--compare", action="store_true", help="every candidate side by side")
    parser.add_argument("--docs", action="store_true", help="write --compare into docs/cache.md")
    args = parser.parse_args()
    threshold = args.threshold or CacheSettings().similarity_threshold
    embed = cosine_source("cache_eval.score", args.store, args.cosines_from)
    started = time.perf_counter()
    if args.compare:
        by_set = {name: (pairs, embed(pairs)) for name, pairs in load_pairs(args.part).items()}
        text = f"Part `{args.part}`.\n\n" + compare_report(by_set, threshold)
        print(text)
        if args.docs:
            if args.part != "test":
                raise SystemExit("docs/cache.md reports the test part only")
            write_section(ROOT / "docs" / "cache.md", "cache_eval_verifier", text)
        return
    check = _checks()[args.verifier]
    scored: dict[str, Scored] = {}
    for name, pairs in load_pairs(args.part).items():
        cosines = embed(pairs)
        vetoed = np.array([not check(p["a"], p["b"]) for p in pairs], dtype=bool)
        scored[name] = Scored(pairs, cosines, vetoed)
    took_s = time.perf_counter() - started
    how = "decided (cosines read from a file)" if args.cosines_from else "embedded and decided"
    header = (
        f"Part `{args.part}`; threshold {threshold:.2f} (`CacheSettings` default); "
        f"second check `{args.verifier}`; guards "
        f"`router/cache/guards.py` sha256 `{_guards_version()}`; embedder all-MiniLM-L6-v2 int8; "
        f"{sum(len(s.pairs) for s in scored.values())} pairs {how} in "
        f"{took_s:.0f} s.\n\n"
    )
    text = header + report(scored, threshold, args.verifier)
    print(text)
    if args.cosines:
        args.cosines.write_text(
            json.dumps({p["id"]: round(float(c), 5) for s in scored.values()
                        for p, c in zip(s.pairs, s.cosines, strict=True)})
        )  # fmt: skip
    if args.readme:
        if args.verifier != "guards":
            raise SystemExit("README.md reports the cache's decision with the guards")
        if args.part != "test":
            raise SystemExit("README.md reports the test part only")
        write_section(HERE / "README.md", "cache_eval_score", text)


if __name__ == "__main__":
    main()
