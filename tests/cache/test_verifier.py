"""The verifier: rewordings that keep every content word pass; each contrastive edit is refused;
the guards no longer veto an acronym spelled out, a capital at a sentence's start or "one" as a
pronoun."""

from __future__ import annotations

import numpy as np
import pytest

from router.cache.semantic import SemanticIndex
from router.cache.verifier import content_agreement, content_tokens, verify


@pytest.mark.parametrize(
    ("cached", "new"),
    [
        ("What is the capital of France?", "what's the capital of france"),
        ("How do I create datasets?", "How can I create a dataset?"),
        ("Which files does it download?", "What files are downloaded?"),
        ("Sum 1,000 and 250.", "Could you sum 1000 and 250?"),
        ("Convert miles to kilometers.", "Please convert miles to kilometers"),
    ],
)
def test_a_rewording_with_the_same_content_words_passes(cached: str, new: str) -> None:
    assert verify(cached, new, "content").accepted


@pytest.mark.parametrize(
    ("edit", "cached", "new", "reason"),
    [
        ("antonym", "How do I increase the limit?", "How do I decrease the limit?", "content"),
        ("comparative", "Which peak is higher?", "Which peak is lower?", "content"),
        ("direction", "Fly from Lisbon to Paris.", "Fly from Paris to Lisbon.", "order"),
        ("direction", "Convert miles to kilometers.", "Convert kilometers to miles.", "order"),
        ("entity", "Is Paris in France?", "Is Paris in Germany?", "content"),
        ("negation", "Does it work offline?", "Does it not work offline?", "content"),
        ("negation", "It doesn't work offline.", "It does work offline.", "content"),
        ("number", "Wait 1,000 ms.", "Wait 2,000 ms.", "content"),
        ("number", "Give me three reasons.", "Give me four reasons.", "content"),
        ("quantifier", "Are all files read?", "Are some files read?", "content"),
        ("relative_time", "Is the shop open today?", "Is the shop open next week?", "content"),
        ("relative_time", "Run it in the evening.", "Run it this evening.", "content"),
        ("time_date", "Was it released in March?", "Was it released in April?", "content"),
        ("unit_currency", "How far is 5 miles?", "How far is 5 kilometers?", "content"),
        ("unit_currency", "Pay in USD.", "Pay in EUR.", "content"),
        ("passive", "Did Douglas acquire Boeing?", "Was Douglas acquired by Boeing?", "content"),
    ],
)
def test_each_contrastive_edit_is_refused(edit: str, cached: str, new: str, reason: str) -> None:
    verdict = verify(cached, new, "content")
    assert not verdict.accepted and verdict.reason == reason, edit


def test_content_tokens_drop_function_words_and_fold_inflections() -> None:
    assert content_tokens("Why doesn't the 1,000-row dataset load?") == [
        "not", "1000", "row", "dataset", "load",
    ]  # fmt: skip
    assert content_tokens("Which peaks are higher?") == ["peak", "higher"]  # never "high"


def test_order_can_be_checked_only_around_direction_words_or_not_at_all() -> None:
    a, b = "Flights from Lisbon to Paris", "Flights from Paris to Lisbon"
    assert content_agreement(a, b, "none").accepted
    assert content_agreement(a, b, "direction").reason == "order"
    reordered = ("Lisbon flights, cheap ones", "cheap flights Lisbon ones")
    assert content_agreement(*reordered, "direction").accepted
    assert content_agreement(*reordered, "sequence").reason == "order"


def test_guards_mode_reports_the_guard_that_vetoed() -> None:
    verdict = verify("What is the capital of France?", "What is the capital of Germany?")
    assert not verdict.accepted and verdict.reason == "names"
    assert verify("What is the capital of France?", "Which city is France's capital?").accepted


@pytest.mark.parametrize(
    ("cached", "new"),
    [
        ("What is NLP used for?", "What is natural language processing used for?"),
        ("Tasks covers ML projects.", "Tasks covers Machine Learning projects."),
        ("Python is slow, is it?", "Is Python slow?"),  # capital at a sentence start only
        ("Which one is faster?", "Which is faster?"),  # "one" as a pronoun
        ("Rename it to a new one.", "Rename it to a new name."),
        ("Why doesn't it compile?", "Why does it not compile?"),
    ],
)
def test_the_guards_false_vetoes_are_fixed(cached: str, new: str) -> None:
    assert verify(cached, new, "guards").accepted


def test_the_guards_still_veto_a_number_word_and_an_unexplained_acronym() -> None:
    assert verify("Give me one reason.", "Give me three reasons.").reason == "numbers"
    assert verify("What is NLP?", "What is computer vision?").reason == "names"


def _unit() -> np.ndarray:
    vector = np.ones(384, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_the_semantic_index_serves_only_what_its_verifier_accepts() -> None:
    index = SemanticIndex(graph_min_entries=100, verifier="content")
    index.add("p", "k", "Flights from Lisbon to Paris", _unit())
    assert index.search("p", "Flights from Paris to Lisbon", _unit(), 0.9, lambda k: True) is None
    match = index.search("p", "flights from Lisbon to Paris?", _unit(), 0.9, lambda k: True)
    assert match is not None and match.verdict.reason == "agree"
    assert index.verifier == "content"
    # Each decision is counted, for `router_cache_semantic_verifier_total`.
    assert index.verifier_decisions == {"order": 1, "agree": 1}
