"""The cache evaluation's scorer arithmetic, edit rules, split rule and committed data
(loadtest/studies/cache_eval). No model and no network: cosines are given by hand, the lexicon is a
small
hand-made one, and the data files are read as they are committed."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loadtest.studies.cache_eval import edits
from loadtest.studies.cache_eval.lexicon import Lexicon
from loadtest.studies.cache_eval.score import (
    SETS,
    Scored,
    compare_report,
    contrastive_report,
    counts,
    labelled_report,
    load_pairs,
)
from loadtest.studies.cache_eval.split import PARTS, part_of

DATA_DIR = Path(__file__).resolve().parents[2] / "loadtest" / "studies" / "cache_eval" / "data"
EDIT_CLASSES = {
    "antonym", "comparative", "direction", "entity", "negation", "number", "quantifier",
    "relative_time", "time_date", "unit_currency",
}  # fmt: skip

LEX = Lexicon(
    antonyms={
        "increase": ("decrease",),
        "cheap": ("expensive",),
        "fast": ("slow",),
        "good": ("bad",),
    },
    adjectives=frozenset({"cheap", "fast", "good"}),
    comparatives={"better": "good", "best": "good", "worse": "bad", "worst": "bad"},
    instance_groups={"France": ("Germany",), "Germany": ("France",)},
    weekdays=("Monday", "Tuesday"),
    months=("March", "June"),
    unit_groups={"mile": ("kilometer",), "kilometer": ("mile",)},
    currencies={"euro": ("dollar",), "dollar": ("euro",), "USD": ("EUR",), "EUR": ("USD",)},
)


def scored(rows: list[tuple[int, float, bool]], edit: str | None = None) -> Scored:
    pairs = [{"id": str(i), "label": label, "edit": edit} for i, (label, _, _) in enumerate(rows)]
    return Scored(
        pairs,
        np.array([cosine for _, cosine, _ in rows]),
        np.array([vetoed for _, _, vetoed in rows], dtype=bool),
    )


def test_a_pair_hits_at_the_threshold_unless_the_guards_veto_it() -> None:
    s = scored([(1, 0.95, False), (1, 0.90, False), (1, 0.95, True), (0, 0.97, False),
                (0, 0.99, True), (0, 0.50, False), (1, 0.89, False)])  # fmt: skip
    c = counts(s.labels, s.cosines, s.vetoed, 0.90)
    assert (c.true_hits, c.false_hits, c.positives, c.negatives) == (2, 1, 4, 3)
    assert c.precision == pytest.approx(2 / 3)
    assert c.hit_rate == 0.5
    assert c.false_hit_rate == pytest.approx(1 / 3)


def test_no_hit_has_no_precision_and_no_positive_no_hit_rate() -> None:
    c = counts([0, 0], np.array([0.1, 0.2]), np.zeros(2, dtype=bool), 0.9)
    assert c.precision is None and c.hit_rate is None and c.false_hit_rate == 0.0


def test_labelled_report_gives_the_default_and_the_curve() -> None:
    text = "\n".join(labelled_report("set", scored([(1, 0.95, False), (0, 0.93, False)]), 0.90))
    assert "precision **0.500**, hit rate 1.000, 1 false hits" in text
    assert "| 0.94 | 1.000 | 1.000 | 0 | 1.000 | 1.000 |" in text
    assert "| 0.99 | – | 0.000 | 0 | – | 0.000 |" in text


def test_contrastive_report_counts_false_hits_by_edit_class() -> None:
    s = scored([(0, 0.97, False), (0, 0.97, True)], edit="negation")
    text = "\n".join(contrastive_report("contrastive", s, 0.90))
    assert "| negation | 2 | 1 | 0.500 | 1.000 | 0.500 |" in text
    assert "**1 false hits**" in text


def test_compare_report_scores_each_check_set_by_set() -> None:
    def pair(set_name: str, a: str, b: str, label: int, edit: str = "") -> dict[str, Any]:
        return {"set": set_name, "a": a, "b": b, "label": label, "edit": edit}

    by_set = {
        "gptcache": (
            [pair("gptcache", "How do I create datasets?", "How can I create a dataset?", 1),
             pair("gptcache", "How are datasets made?", "How do I create a dataset?", 1)],
            np.array([0.95, 0.95]),
        ),
        "contrastive": (
            [pair("contrastive", "Fly from Lisbon to Paris.", "Fly from Paris to Lisbon.", 0,
                  "direction")],
            np.array([0.99]),
        ),
    }  # fmt: skip
    text = compare_report(by_set, 0.90)
    rows: dict[str, str] = {}
    for line in text.splitlines():  # the first table: precision, hit rate, false hits
        rows.setdefault(line.split(" | ")[0].strip("| "), line)
    assert "| 1.000 | 1.000 | – | – | 1 of 1 |" in rows["cosine only"]
    assert "| 1.000 | 0.500 | – | – | 0 of 1 |" in rows["content"]
    assert "| 1.000 | 0.500 | – | – | 1 of 1 |" in rows["content-bag"]


@pytest.mark.parametrize(
    ("edit", "text", "expected"),
    [
        (edits.antonym, "How do I increase the limit?", "How do I decrease the limit?"),
        (edits.direction, "Fly from Lisbon to Paris.", "Fly from Paris to Lisbon."),
        (edits.negation, "Does it work offline?", "Does it not work offline?"),
        (edits.negation, "It doesn't work offline.", "It does work offline."),
        (edits.number, "Wait 1,000 ms.", "Wait 2,000 ms."),
        (edits.entity, "Is Paris in France?", "Is Paris in Germany?"),
        (edits.unit_or_currency, "How far is 5 miles?", "How far is 5 kilometers?"),
        (edits.unit_or_currency, "Pay in USD.", "Pay in EUR."),
        (edits.quantifier, "Are all files read?", "Are some files read?"),
        (edits.time_and_date, "Open on Monday?", "Open on Tuesday?"),
    ],
)
def test_an_edit_changes_one_detail_and_leaves_the_rest(
    edit: Any, text: str, expected: str
) -> None:
    assert expected in [edited for edited, _ in edit(text, LEX, random.Random(0))]


def test_edits_leave_identifiers_alone() -> None:
    assert edits.antonym("Set increase_limit to true.", LEX, random.Random(0)) == []
    assert edits.entity("France is big.", LEX, random.Random(0)) == []  # sentence-initial


def test_comparatives_turn_the_other_way() -> None:
    vocabulary = frozenset({"slower", "worst"})
    found = edits.comparative("Which is faster and best?", LEX, random.Random(0), vocabulary)
    assert {d for _, d in found} == {"faster -> slower", "best -> worst"}
    assert edits.comparative("Is it cheaper?", LEX, random.Random(0), frozenset())[0][0] == (
        "Is it more expensive?"
    )


def test_relative_time_appends_two_different_times() -> None:
    ((a, b),) = edits.relative_time("How do I load a dataset?", LEX, random.Random(0))
    assert a != b and a.startswith("How do I load a dataset ") and a.endswith("?")


def test_split_rule_is_about_half_and_stable() -> None:
    parts = Counter(part_of(f"pair-{i}") for i in range(2000))
    assert 900 < parts["test"] < 1100
    assert part_of("paws-1") == part_of("paws-1")


@pytest.fixture(scope="module")
def committed() -> dict[str, list[dict[str, Any]]]:
    return {part: [p for pairs in load_pairs(part).values() for p in pairs] for part in PARTS}


def test_committed_pairs_have_unique_ids_and_sit_in_their_part(
    committed: dict[str, list[dict[str, Any]]],
) -> None:
    ids = [p["id"] for part in PARTS for p in committed[part]]
    assert len(ids) == len(set(ids))
    for part in PARTS:
        assert all(part_of(p["id"]) == part for p in committed[part])


def test_committed_sets_have_their_counts_and_labels(
    committed: dict[str, list[dict[str, Any]]],
) -> None:
    pairs = committed["tune"] + committed["test"]
    by_set = Counter(p["set"] for p in pairs)
    assert set(by_set) == set(SETS)
    assert by_set["gptcache"] == 1998 and by_set["paws"] == 8000
    assert sum(p["label"] for p in pairs if p["set"] == "paws") == 3536
    contrastive = [p for p in pairs if p["set"] == "contrastive"]
    assert len(contrastive) >= 3000
    assert all(p["label"] == 0 and p["a"] != p["b"] and p["detail"] for p in contrastive)
    per_class = Counter(p["edit"] for p in contrastive)
    assert set(per_class) == EDIT_CLASSES
    assert all(n <= 450 for n in per_class.values())
    assert sum(path.stat().st_size for path in DATA_DIR.glob("*.jsonl")) < 5_000_000


def test_committed_lines_are_plain_json_objects() -> None:
    for part in PARTS:
        with (DATA_DIR / f"{part}.jsonl").open(encoding="utf-8") as handle:
            first = json.loads(handle.readline())
        assert {"id", "set", "a", "b", "label"} <= set(first)
