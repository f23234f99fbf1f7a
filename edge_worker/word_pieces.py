"""A BERT tokenisation remembered word by word, for the static embedding on the event loop.

The tokenizer (`tokenizers`, Rust) normalises, splits and looks up a whole text on every call:
about 110 µs for a 350-character question, most of a static vector's cost. BERT's normaliser
and pre-tokeniser never join what whitespace separates, so a text's token ids are its
whitespace-separated words' ids end to end, and a word seen before needs no tokeniser at all: a
dictionary read. The words a text has not met are tokenised together in one call (their ids told
apart by their offsets), so a text of new words costs one tokenisation, as before, never one per
word.

"Whitespace" is BERT's own (space, tab, line breaks and the Unicode space separators, Zs); the
other characters Python's `str.split` treats as space (vertical tab, form feed, the information
separators, U+0085, U+2028, U+2029) are control characters or letters to BERT, removed or kept
inside a word, so a text is cut only where BERT cuts it. The ids are those of the tokenizer, text
for text: tested on the cache evaluation's sentences and on generated Unicode.

The memory is bounded: words up to `MAX_WORD_CHARS` are remembered, at most `MAX_WORDS` of them;
past that the dictionary starts again empty (a flood of new words costs what tokenising did).
"""

from __future__ import annotations

import bisect
import re

from tokenizers import Tokenizer

MAX_WORDS = 65_536
MAX_WORD_CHARS = 48
# BERT's whitespace: " ", "\t", "\n", "\r" and the space separators (category Zs).
_BERT_SPACE = re.compile(r"[ \t\n\r\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")


class WordPieces:
    """`ids(text)`: the tokenizer's ids for the text (no special tokens), at most `max_tokens`."""

    def __init__(self, tokenizer: Tokenizer, max_tokens: int) -> None:
        self._tokenizer = tokenizer
        self._max_tokens = max_tokens
        self._known: dict[str, tuple[int, ...]] = {}

    def __len__(self) -> int:
        """The words remembered."""
        return len(self._known)

    def ids(self, text: str) -> list[int]:
        words = [word for word in _BERT_SPACE.split(text) if word]
        ids: list[int] = []
        # A word gives a token or more (none only if it is all control characters), so the
        # first `max_tokens` words nearly always give enough: later words are not tokenised.
        for start in range(0, len(words), self._max_tokens):
            window = words[start : start + self._max_tokens]
            known = self._known
            new = {word: () for word in window if word not in known}
            found = self._tokenise(list(new)) if new else {}
            for word in window:
                ids.extend(known.get(word) or found.get(word, ()))
                if len(ids) >= self._max_tokens:
                    return ids[: self._max_tokens]
        return ids

    def _tokenise(self, words: list[str]) -> dict[str, tuple[int, ...]]:
        """The ids of each of these words, from one call of the tokenizer on them all."""
        starts, position = [], 0
        for word in words:
            starts.append(position)
            position += len(word) + 1
        encoding = self._tokenizer.encode(" ".join(words), add_special_tokens=False)
        pieces: list[list[int]] = [[] for _ in words]
        for token, (start, _) in zip(encoding.ids, encoding.offsets, strict=True):
            pieces[bisect.bisect_right(starts, start) - 1].append(token)
        found = {word: tuple(ids) for word, ids in zip(words, pieces, strict=True)}
        if len(self._known) + len(found) > MAX_WORDS:
            self._known.clear()
        self._known.update((w, ids) for w, ids in found.items() if len(w) <= MAX_WORD_CHARS)
        return found
