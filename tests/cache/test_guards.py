"""The near-miss guards veto what changes the answer and let plain rewordings through."""

from __future__ import annotations

import pytest

from router.cache.guards import salient, veto


@pytest.mark.parametrize(
    ("cached", "new", "kind"),
    [
        ("What is the capital of France?", "What is the capital of Germany?", "names"),
        ("What is 7 times 8?", "What is 7 times 9?", "numbers"),
        ("Give me one reason to learn Rust.", "Give me three reasons to learn Rust.", "numbers"),
        ("Who won the World Cup in 2014?", "Who won the World Cup in 2018?", "numbers"),
        ("Is Paris in France?", "Is Paris not in France?", "negations"),
        ("Why do cats purr?", "Why don't cats purr?", "negations"),
        ("Eu gosto de café?", "Eu não gosto de café?", "negations"),
        ("Say good morning in English.", "Say good morning in Portuguese.", "languages"),
        ("Como se diz obrigado em inglês?", "Como se diz obrigado em espanhol?", "languages"),
        ('Explain "async" in Python', 'Explain "await" in Python', "quoted"),
    ],
)
def test_a_changed_detail_vetoes_the_hit(cached: str, new: str, kind: str) -> None:
    assert veto(cached, new) == kind


@pytest.mark.parametrize(
    ("cached", "new"),
    [
        ("What is the capital of France?", "Which city is the capital of France?"),
        ("How do I install Python on Windows?", "What are the steps to install Python on Windows?"),
        ("What is 2 plus 2?", "How much is 2 plus 2?"),
        ("Is Paris in France?", "Is Paris located in France?"),
        ("Qual é a capital do Brasil?", "Qual cidade é a capital do Brasil?"),
        ("Sum 1,000 and 250.", "Add 1000 and 250."),  # digit grouping is not a difference
    ],
)
def test_a_plain_rewording_passes(cached: str, new: str) -> None:
    assert veto(cached, new) is None


def test_a_possessive_names_the_same_entity() -> None:
    assert veto("What is the capital of France?", "Which city is France's capital?") is None


def test_sentence_starts_and_pronouns_are_read_from_the_neighbouring_words_only() -> None:
    """The guards look at the text between a word and the one before it (and at the word after
    "one"), however long the question: the decisions deep in a long text are the same."""
    filler = "The cache answers. " * 2_000
    found = salient(filler + "Where is Lisbon? Which one of them is. Lisbon has one bridge.")
    assert found.names == frozenset({"lisbon"})  # "Where", "Which", "The" start sentences
    assert found.numbers == frozenset({"one"})  # "one bridge" counts, "which one of" does not
