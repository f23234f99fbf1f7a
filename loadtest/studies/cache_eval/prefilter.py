"""Calibrates and scores the semantic cache's prefilter (`router/cache/prefilter.py`).

    python -m loadtest.studies.cache_eval.prefilter [--part tune|test] [--recall 0.99] [--store DIR]

The prefilter decides a miss without the transformer when no stored question of the partition
has a static cosine (`edge_worker.static_embedding`) at or above the cut, or when none of the
few that do passes the verifier. It may cost hits (a pair the full check would serve but whose
static cosine is below the cut); it never serves one.

On a part: the **cut** is the lower of the `--recall` quantiles from the bottom of the static
cosines of the GPTCache and PAWS-Wiki true pairs that the full check serves (cosine at the
lowest threshold a tenant can buy on the curve, 0.80, and the guards), set by set: tune it on
the tune part, then score the test part with `--cut` (the node's default) to report:
- **hits kept**: the share of pairs the full check serves that pass the prefilter, by set;
- **misses decided without the transformer**: each GPTCache `a` of the part's true pairs is
  stored in one partition; probes are the part's other GPTCache sentences that are not stored
  (questions about the same library: the hard case) and PAWS-Wiki sentences (another domain);
  a probe is decided when the prefilter says miss. Probes the full check would serve are left out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from loadtest.studies.cache_eval.score import load_pairs

LOWEST_THRESHOLD = 0.80
PROBES_PER_SET = 600


def _embedders(store: Path | None) -> tuple[Any, Any]:
    from edge_worker.embedder import Embedder
    from edge_worker.static_embedding import STATIC_FILE, StaticEmbedder
    from loadtest.harness.models import EMBEDDER_MODEL, require_models

    directory = require_models("prefilter", store, [EMBEDDER_MODEL]) / EMBEDDER_MODEL.relative_dir
    full = Embedder.open(directory)
    static = StaticEmbedder(directory / STATIC_FILE, directory / "tokenizer.json")
    return full, static


def _embed(embed: Any, texts: list[str]) -> npt.NDArray[np.float32]:
    rows = [embed(texts[i : i + 64]) for i in range(0, len(texts), 64)]
    return np.concatenate(rows) if rows else np.zeros((0, 384), dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="tune", choices=("tune", "test"))
    parser.add_argument("--recall", type=float, default=0.99)
    parser.add_argument("--cut", type=float, help="score this cut instead of calibrating one")
    parser.add_argument("--store", type=Path)
    args = parser.parse_args()
    from router.cache.semantic import SemanticIndex
    from router.cache.verifier import verify

    full, static = _embedders(args.store)
    pairs = load_pairs(args.part)
    started = time.monotonic()
    served: dict[str, npt.NDArray[np.float64]] = {}
    for name in ("gptcache", "paws"):
        positives = [p for p in pairs[name] if p["label"] == 1]
        a, b = [p["a"] for p in positives], [p["b"] for p in positives]
        cosine = np.sum(_embed(full.embed, a) * _embed(full.embed, b), axis=1)
        accepted = np.array([verify(x, y, "guards").accepted for x, y in zip(a, b, strict=True)])
        keep = (cosine >= LOWEST_THRESHOLD) & accepted
        static_cosine = np.sum(_embed(static.embed, a) * _embed(static.embed, b), axis=1)
        served[name] = static_cosine[keep].astype(np.float64)
    # Each set keeps its share of hits: a cut on the pooled pairs would let PAWS-Wiki's many
    # word-for-word pairs hide the rewordings GPTCache loses.
    per_set = [float(np.quantile(values, 1 - args.recall)) for values in served.values()]
    cut = args.cut if args.cut is not None else min(per_set)
    print(f"part {args.part}; cut {cut:.3f}" + (" (given)" if args.cut else " (calibrated)"))
    for name, values in served.items():
        print(f"  {name}: hits kept {np.mean(values >= cut):.4f} of {len(values)} served pairs")

    gpt = [p for p in pairs["gptcache"] if p["label"] == 1]
    stored = sorted({p["a"] for p in gpt})
    stored_set = set(stored)
    rng = np.random.default_rng(20261207)
    same_domain = sorted({p[k] for p in pairs["gptcache"] for k in ("a", "b")} - stored_set)
    other_domain = sorted({p["a"] for p in pairs["paws"]})
    stored_full = _embed(full.embed, stored)
    # The router's own path: a partition of the stored questions, asked through the index.
    index = SemanticIndex(
        graph_min_entries=len(stored) + 1,
        static=lambda text: static.embed([text])[0],
        prefilter_cut=cut,
        verifier="guards",
    )
    for number, (question, vector) in enumerate(zip(stored, stored_full, strict=True)):
        index.add("partition", f"k{number}", question, vector)
    for label, pool in (("same domain (GPTCache)", same_domain), ("PAWS-Wiki", other_domain)):
        probes = [pool[i] for i in rng.permutation(len(pool))[:PROBES_PER_SET]]
        full_sims = _embed(full.embed, probes) @ stored_full.T
        decided = needed = 0
        spent_s: list[float] = []
        for row, probe in enumerate(probes):
            above = np.flatnonzero(full_sims[row] >= LOWEST_THRESHOLD)
            if any(verify(stored[i], probe, "guards").accepted for i in above):
                continue  # a hit of the full check: not a miss
            needed += 1
            began = time.perf_counter()
            decided += not index.needs_embedding("partition", probe)
            spent_s.append(time.perf_counter() - began)
        p50, p99 = (1e6 * np.quantile(spent_s, q) for q in (0.5, 0.99))
        print(
            f"  misses decided without the transformer, {label}: {decided / max(needed, 1):.3f}"
            f" of {needed} probes ({len(stored)} stored questions); the decision took"
            f" p50 {p50:.0f} µs, p99 {p99:.0f} µs"
        )
    print(f"  ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
