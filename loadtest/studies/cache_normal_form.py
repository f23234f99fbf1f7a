"""Benchmark: how many question pairs of the paraphrase sets the exact tier's normal form makes
exact hits (issue 15, item 4).

    .venv/bin/python -m loadtest.studies.cache_normal_form

For each pair of `loadtest/datasets/` (GPTCache's 999 paraphrases, and PAWS-Wiki's 8,000
labelled pairs), two questions are one exact key when their texts are equal as sent, or only
once in normal form (`router.cache.normal_form`). Negatives are counted too: a negative pair
with one normal form would be a wrong exact hit.

Then the same real questions retyped (the GPTCache origins and PAWS-Wiki's first sentences), one
kind of difference at a time: how many retyped copies are exact hits of the original. By
construction each asks the same thing; a miss is the price of a rule that keeps a difference
that may matter (a word with a capital inside, such as "PyTorch", keeps its case).
Prints Markdown tables.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Callable, Iterable

from loadtest.studies.datasets import GPTCACHE_PARAPHRASES, PAWS_WIKI_TEST
from router.cache.normal_form import normal_question

Pair = tuple[str, str]


def _gptcache() -> list[Pair]:
    rows = json.loads(GPTCACHE_PARAPHRASES.read_text(encoding="utf-8"))
    return [(row["origin"], row["similar"]) for row in rows]


def _paws() -> tuple[list[Pair], list[Pair]]:
    positives: list[Pair] = []
    negatives: list[Pair] = []
    with PAWS_WIKI_TEST.open(encoding="utf-8", newline="") as tsv:
        for row in csv.DictReader(tsv, delimiter="\t", quoting=csv.QUOTE_NONE):
            pair = (row["sentence1"], row["sentence2"])
            (positives if row["label"] == "1" else negatives).append(pair)
    return positives, negatives


def _counts(pairs: Iterable[Pair]) -> tuple[int, int, int]:
    """(pairs, equal as sent, equal only in normal form)."""
    total = as_sent = normal_only = 0
    for a, b in pairs:
        total += 1
        if a == b:
            as_sent += 1
        elif normal_question(a) == normal_question(b):
            normal_only += 1
    return total, as_sent, normal_only


RETYPINGS: dict[str, Callable[[str], str]] = {
    "all lower case": str.lower,
    "capital first letter only": lambda q: q[:1].upper() + q[1:].lower(),
    "all upper case": str.upper,
    "trailing mark dropped or added": lambda q: q[:-1] if q[-1:] in "?.!" else q + "?",
    "whitespace runs and ends": lambda q: "  " + re.sub(r" ", "  ", q) + " \n",
    "decomposed Unicode (NFD)": lambda q: unicodedata.normalize("NFD", q),
}


def _retyped_hits(questions: list[str], retype: Callable[[str], str]) -> tuple[int, int]:
    """(retyped copies that differ from the original, those that are exact hits of it)."""
    differing = hits = 0
    for question in questions:
        copy = retype(question)
        if copy != question:
            differing += 1
            hits += normal_question(copy) == normal_question(question)
    return differing, hits


def main() -> None:
    gptcache = _gptcache()
    # Negatives as bench_cache_threshold makes them: each origin with the next row's paraphrase.
    repaired = [
        (gptcache[i][0], gptcache[(i + 1) % len(gptcache)][1]) for i in range(len(gptcache))
    ]
    paws_positive, paws_negative = _paws()
    print("| set | pairs | exact as sent | added by the normal form |")
    print("|---|---:|---:|---:|")
    for name, pairs in (
        ("paraphrase (GPTCache), positives", gptcache),
        ("paraphrase (GPTCache), re-paired negatives", repaired),
        ("PAWS-Wiki, positives", paws_positive),
        ("PAWS-Wiki, negatives", paws_negative),
    ):
        total, as_sent, normal_only = _counts(pairs)
        print(f"| {name} | {total:,} | {as_sent} | {normal_only} |")
    questions = sorted({a for a, _b in gptcache} | {a for a, _b in paws_positive + paws_negative})
    print(f"\nThe same {len(questions):,} questions retyped:\n")
    print("| retyped as | copies that differ | exact hits | share |")
    print("|---|---:|---:|---:|")
    for name, retype in RETYPINGS.items():
        differing, hits = _retyped_hits(questions, retype)
        print(f"| {name} | {differing:,} | {hits:,} | {hits / max(differing, 1):.1%} |")


if __name__ == "__main__":
    main()
