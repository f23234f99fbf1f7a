"""The precision curve a tenant's precision target is mapped through (issue 15, item 5).

    python -m loadtest.studies.cache_eval.curve [--cosines-from FILE] [--docs]
    python -m loadtest.studies.cache_eval.curve --part test --cosines-from FILE --docs

On the **tune** part (the default), decides every pair with each verifier mode the router can
run (`guards`, `content`) at each threshold of `score.THRESHOLDS`, and writes, per configuration,
the precision and hit rate on GPTCache and PAWS-Wiki and the false-hit rate on the contrastive
set into `router/policy/precision_curve.json`, which `router.policy.precision_curve` maps a
tenant's `cache.semantic_precision` through. `--docs` writes the curve and the targets' mapping
into docs/cache.md ("Precision target").

On the **test** part, writes no curve (the router is tuned on the tune part only): `--docs`
writes the same table for the test part, what a tenant buys at each threshold, and what each
target's mapped configuration delivers there, set by set, never pooled. `--cosines-from` reads
cosines a `score --cosines` run wrote; without it the pairs are embedded (~3 min a part).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest.studies.cache_eval.score import (
    ROOT,
    THRESHOLDS,
    Counts,
    Floats,
    _checks,
    _decide,
    _share,
    cosine_source,
    counts,
    file_version,
    load_pairs,
)
from loadtest.studies.cache_eval.split import PARTS
from router.cache.verifier import Mode
from router.policy.precision_curve import (
    PrecisionCurve,
    PrecisionUnreachable,
    SemanticConfiguration,
    parse_curve,
)

MODES: tuple[Mode, ...] = ("guards", "content")
CURVE_JSON = ROOT / "router" / "policy" / "precision_curve.json"
EMBEDDER = "all-MiniLM-L6-v2, int8 ONNX (all-minilm-l6-v2/int8)"
VERIFIER_FILES = ("router/cache/verifier.py", "router/cache/guards.py")
# The targets the docs show the mapping of.
TARGETS = (0.45, 0.5, 0.55, 0.6, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99)


def _labelled(c: Counts) -> dict[str, Any]:
    return {
        "precision": None if c.precision is None else round(c.precision, 6),
        "hit_rate": round(c.hit_rate or 0.0, 6),
        "true_hits": c.true_hits,
        "false_hits": c.false_hits,
    }


def measure(by_set: dict[str, tuple[list[dict[str, Any]], Floats]]) -> list[dict[str, Any]]:
    """Each (verifier mode, threshold), set by set: the rows of the curve's JSON."""
    checks = _checks()
    rows = []
    for mode in MODES:
        refused = {name: _decide(checks[mode], pairs)[0] for name, (pairs, _) in by_set.items()}
        for threshold in THRESHOLDS:
            at = {
                name: counts([int(p["label"]) for p in pairs], cosines, refused[name], threshold)
                for name, (pairs, cosines) in by_set.items()
            }
            contrastive = at["contrastive"]
            rows.append(
                {
                    "verifier": mode,
                    "threshold": threshold,
                    "gptcache": _labelled(at["gptcache"]),
                    "paws": _labelled(at["paws"]),
                    "contrastive": {
                        "false_hit_rate": round(contrastive.false_hit_rate or 0.0, 6),
                        "false_hits": contrastive.false_hits,
                        "pairs": contrastive.negatives,
                    },
                }
            )
    return rows


def curve_document(part: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "written_by": "python -m loadtest.studies.cache_eval.curve",
        "part": part,
        "embedder": EMBEDDER,
        "verifier_sha256": {path: file_version(ROOT / path) for path in VERIFIER_FILES},
        "date": datetime.now(UTC).date().isoformat(),
        "worst_case_precision": "min(precision on gptcache, precision on paws, 1 - contrastive "
        "false_hit_rate); a set with no hit counts precision 1.0 (precision null here)",
        "configurations": rows,
    }


def _row(c: SemanticConfiguration) -> str:
    return (
        f"| {_share(c.gptcache_precision)} | {c.gptcache_hit_rate:.3f} "
        f"| {_share(c.paws_precision)} | {c.paws_hit_rate:.3f} "
        f"| {c.contrastive_false_hit_rate:.3f} | {c.worst_case_precision:.3f} |"
    )


_COLUMNS = (
    "GPTCache precision | GPTCache hit rate | PAWS precision | PAWS hit rate "
    "| contrastive false-hit rate | worst-case precision |"
)


def curve_table(curve: PrecisionCurve) -> list[str]:
    """Every configuration, set by set."""
    lines = [
        f"| verifier | threshold | {_COLUMNS}",
        "|---|---:|" + "---:|" * 6,
    ]
    for c in curve.configurations:
        lines.append(f"| {c.verifier} | {c.threshold:.2f} " + _row(c))
    return lines


def targets_table(tuned: PrecisionCurve, measured: PrecisionCurve) -> list[str]:
    """Each target, the configuration the tune part maps it to, and what that buys on
    `measured`'s part."""
    by_key = {(c.verifier, c.threshold): c for c in measured.configurations}
    lines = [
        f"| target | maps to | {_COLUMNS}",
        "|---:|---|" + "---:|" * 6,
    ]
    for target in TARGETS:
        try:
            chosen = tuned.configuration_for(target)
        except PrecisionUnreachable:
            lines.append(f"| {target:g} | refused (unreachable) |" + " – |" * 6)
            continue
        got = by_key[(chosen.verifier, chosen.threshold)]
        lines.append(f"| {target:g} | {chosen.verifier} at {chosen.threshold:.2f} " + _row(got))
    return lines


def report(part: str, measured: PrecisionCurve, tuned: PrecisionCurve, stamp: str) -> str:
    best = max(tuned.configurations, key=lambda c: (c.worst_case_precision, c.gptcache_hit_rate))
    lines = [
        f"Part `{part}`; {stamp}. Worst-case precision: the lowest of GPTCache's precision, "
        "PAWS-Wiki's precision and 1 - the contrastive false-hit rate (a set with no hit: "
        "precision 1.0, shown –).",
        "",
        *curve_table(measured),
        "",
        f"Targets mapped on the tune curve (best reachable: {best.worst_case_precision:.3f}, "
        f"{best.verifier} at {best.threshold:.2f}), with what the mapped configuration buys on "
        f"the {part} part:",
        "",
        *targets_table(tuned, measured),
    ]
    return "\n".join(lines)


def main() -> None:
    from loadtest.harness.doc_section import write_section

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=PARTS, default="tune")
    parser.add_argument("--store", type=Path)
    parser.add_argument("--cosines-from", type=Path, help="read cosines written by score --cosines")
    parser.add_argument("--docs", action="store_true", help="write the table into docs/cache.md")
    args = parser.parse_args()
    embed = cosine_source("cache_eval.curve", args.store, args.cosines_from)
    by_set = {name: (pairs, embed(pairs)) for name, pairs in load_pairs(args.part).items()}
    document = curve_document(args.part, measure(by_set))
    measured = parse_curve(document)
    versions = ", ".join(f"`{p}` {v}" for p, v in document["verifier_sha256"].items())
    if args.part == "tune":
        CURVE_JSON.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        tuned = measured
    else:
        shipped = json.loads(CURVE_JSON.read_text(encoding="utf-8"))
        if shipped["verifier_sha256"] != document["verifier_sha256"]:
            raise SystemExit(f"{CURVE_JSON} was measured with other verifier files: rerun on tune")
        tuned = parse_curve(shipped)
    text = report(args.part, measured, tuned, f"verifier sha256 {versions}; {document['date']}")
    print(text)
    if args.docs:
        write_section(ROOT / "docs" / "cache.md", f"precision_curve_{args.part}", text)


if __name__ == "__main__":
    main()
