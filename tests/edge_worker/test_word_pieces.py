"""WordPieces gives the tokenizer's ids, text for text, while tokenising each word once."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from edge_worker import word_pieces
from edge_worker.word_pieces import WordPieces
from loadtest.studies.cache_eval.score import load_pairs
from tests.edge_worker.prepared import EMBEDDER, model_dir

MAX_TOKENS = 256


def _tokenizer() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(model_dir(EMBEDDER) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


TOKENIZER = _tokenizer()


def _reference(text: str) -> list[int]:
    return list(TOKENIZER.encode(text, add_special_tokens=False).ids[:MAX_TOKENS])


class _CountingTokenizer:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def encode(self, text: str, add_special_tokens: bool = True) -> object:
        self.texts.append(text)
        return TOKENIZER.encode(text, add_special_tokens=add_special_tokens)


def test_every_sentence_of_the_cache_evaluation_gets_the_tokenizers_ids() -> None:
    pieces = WordPieces(TOKENIZER, MAX_TOKENS)
    sentences = sorted(
        {
            p[k]
            for part in ("tune", "test")
            for ps in load_pairs(part).values()
            for p in ps
            for k in ("a", "b")
        }
    )
    assert len(sentences) > 10_000
    for sentence in sentences:  # twice: from the tokenizer, then from the words remembered
        assert pieces.ids(sentence) == _reference(sentence), sentence
    for sentence in sentences:
        assert pieces.ids(sentence) == _reference(sentence), sentence


# Text from every kind of character BERT treats specially: the spaces it does and does not cut
# at, control characters it removes, punctuation it isolates, accents it strips, CJK it splits.
_SPECIAL = "  \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2003\u2028\u2029\u202f\u3000\x00\ufffd\u200b"
_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(_SPECIAL + ".,;!?'\"-()[]{}$%&*/\\|~`^_é́ñü北京東京Ωж")),
        st.characters(codec="utf-8"),
    ),
    max_size=300,
)


@settings(max_examples=400, deadline=None)
@given(texts=st.lists(_TEXT, min_size=1, max_size=4))
def test_generated_unicode_gets_the_tokenizers_ids(texts: list[str]) -> None:
    pieces = WordPieces(TOKENIZER, MAX_TOKENS)
    for text in texts + texts:
        assert pieces.ids(text) == _reference(text)


def test_only_new_words_are_tokenised_and_all_of_a_texts_new_words_in_one_call() -> None:
    counting = _CountingTokenizer()
    pieces = WordPieces(counting, MAX_TOKENS)  # type: ignore[arg-type]
    pieces.ids("What is the capital of France?")
    assert counting.texts == ["What is the capital of France?"]
    pieces.ids("What is the capital of Portugal today?")
    assert counting.texts[1:] == ["Portugal today?"]
    pieces.ids("the capital of France?")
    assert len(counting.texts) == 2


def test_a_long_text_tokenises_only_the_words_its_first_tokens_come_from() -> None:
    counting = _CountingTokenizer()
    pieces = WordPieces(counting, MAX_TOKENS)  # type: ignore[arg-type]
    text = " ".join(f"word{i}" for i in range(2_000))
    assert pieces.ids(text) == _reference(text)
    assert len(counting.texts) == 1 and counting.texts[0].count(" ") == MAX_TOKENS - 1


def test_words_of_control_characters_only_do_not_stop_the_tokens_after_them() -> None:
    pieces = WordPieces(TOKENIZER, 8)
    text = " ".join(["\x00"] * 20 + ["capital", "of", "France"])
    assert pieces.ids(text) == _reference(text)[:8] and pieces.ids(text)


def test_the_words_remembered_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(word_pieces, "MAX_WORDS", 50)
    pieces = WordPieces(TOKENIZER, MAX_TOKENS)
    for i in range(40):
        pieces.ids(f"alpha{i} beta{i} gamma{i}")
        assert len(pieces) <= 50
    long_word = "x" * (word_pieces.MAX_WORD_CHARS + 1)
    remembered = len(pieces)
    assert pieces.ids(long_word) == _reference(long_word)
    assert len(pieces) == remembered
