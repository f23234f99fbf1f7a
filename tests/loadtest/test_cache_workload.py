"""The request mix of the cache workload benchmark (loadtest/studies/cache_workload_mix.py): its
shares, what a rewording and a repeat may be, new questions never asked twice, and determinism for a
seed. On the
vendored data sets as committed, and on small hand-made sources; no router, no clock."""

from __future__ import annotations

from collections import Counter

import pytest

from loadtest.studies.cache_workload_mix import (
    NEW,
    REPEAT,
    REWORD,
    Mix,
    Question,
    Sources,
    WorkloadExhausted,
    load_sources,
    max_requests,
    sources_of,
    workload,
)
from loadtest.studies.datasets import GPTCACHE_PARAPHRASES, PAWS_WIKI_TEST


@pytest.fixture(scope="module")
def sources() -> Sources:
    return load_sources(GPTCACHE_PARAPHRASES, PAWS_WIKI_TEST)


@pytest.fixture(scope="module")
def long_run(sources: Sources) -> list[Question]:
    return workload(sources, 12_000, seed=15)


def test_shares_are_the_mix_within_two_points(long_run: list[Question]) -> None:
    shares = Counter(question.kind for question in long_run)
    assert shares[REPEAT] / len(long_run) == pytest.approx(0.3, abs=0.02)
    assert shares[REWORD] / len(long_run) == pytest.approx(0.2, abs=0.02)
    assert shares[NEW] / len(long_run) == pytest.approx(0.5, abs=0.02)


def test_a_rewording_is_a_paraphrase_of_an_origin_asked_before(
    sources: Sources, long_run: list[Question]
) -> None:
    paraphrases = dict(sources.paraphrases)
    asked: set[str] = set()
    for question in long_run:
        if question.kind == REWORD:
            assert question.origin in asked
            assert question.text in paraphrases[question.origin]
            assert question.text != question.origin
        elif question.kind == NEW:
            asked.add(question.text)


def test_a_repeat_is_an_earlier_new_question_verbatim(long_run: list[Question]) -> None:
    asked: set[str] = set()
    for question in long_run:
        if question.kind == REPEAT:
            assert question.text == question.origin
            assert question.text in asked
        elif question.kind == NEW:
            asked.add(question.text)


def test_new_questions_are_never_repeated_nor_a_paraphrase(
    sources: Sources, long_run: list[Question]
) -> None:
    new = [question.text for question in long_run if question.kind == NEW]
    assert len(new) == len(set(new))
    all_paraphrases = {text for _, texts in sources.paraphrases for text in texts}
    assert not set(new) & all_paraphrases


def test_new_questions_are_the_origins_first_then_paws_sentences(
    sources: Sources, long_run: list[Question]
) -> None:
    origins = {origin for origin, _ in sources.paraphrases}
    new = [question.text for question in long_run if question.kind == NEW]
    assert set(new[: len(origins)]) == origins
    assert set(new[len(origins) :]) <= set(sources.sentences)


def test_the_same_seed_gives_the_same_workload_and_a_longer_one_extends_it(
    sources: Sources, long_run: list[Question]
) -> None:
    assert workload(sources, 12_000, seed=15) == long_run
    assert workload(sources, 500, seed=15) == long_run[:500]
    assert workload(sources, 500, seed=16) != long_run[:500]


def test_a_paraphrase_is_drawn_again_only_when_every_asked_origins_is_used() -> None:
    rows = [{"origin": f"origin {i}", "similar": f"reworded {i}"} for i in range(5)]
    paws = [{"sentence1": f"sentence {i}", "sentence2": f"other {i}"} for i in range(200)]
    questions = workload(sources_of(rows, paws), 400, seed=1)
    asked: set[str] = set()
    used: set[str] = set()
    again = 0
    for question in questions:
        if question.kind == NEW:
            asked.add(question.text)
        elif question.kind == REWORD:
            if question.text in used:
                again += 1
                origins = {text for text in asked if text.startswith("origin")}
                assert {text.replace("origin", "reworded") for text in origins} <= used
            used.add(question.text)
    assert used == {f"reworded {i}" for i in range(5)}
    assert again > 0


def test_sources_leave_out_texts_that_are_another_kind_already() -> None:
    rows = [
        {"origin": "a", "similar": "a"},  # its own origin
        {"origin": "a", "similar": "b"},  # another origin
        {"origin": "a", "similar": "a2"},
        {"origin": "a", "similar": "a2"},  # a duplicate
        {"origin": "b", "similar": "b2"},
    ]
    paws = [{"sentence1": "a2", "sentence2": "s"}, {"sentence1": "s", "sentence2": "t"}]
    found = sources_of(rows, paws)
    assert found.paraphrases == (("a", ("a2",)), ("b", ("b2",)))
    assert found.sentences == ("s", "t")


def test_the_length_max_requests_allows_never_runs_out(sources: Sources) -> None:
    count = max_requests(sources, Mix())
    for seed in range(3):
        assert len(workload(sources, count, seed=seed)) == count


def test_more_new_questions_than_the_sources_hold_is_an_error() -> None:
    rows = [{"origin": "a", "similar": "a2"}]
    with pytest.raises(WorkloadExhausted):
        workload(sources_of(rows, []), 50, seed=1)


def test_a_mix_without_new_questions_is_refused() -> None:
    with pytest.raises(ValueError):
        Mix(repeat_share=0.6, reword_share=0.4)
