"""The normal form of a question for the exact tier: the same question typed differently is
one key.

Two questions with the same normal form are one exact-tier entry (`exact_key_of`). Only the
last user message's text goes through it; every other request field stays in the scope exactly
as sent. What is folded:
- Unicode form: NFC, so a composed "é" and "e" + combining accent are one letter. Not NFKC: it
  would make "x²" into "x2" and "½" into "1⁄2", which change what is asked;
- whitespace: each run is one space, or one line break if it held one (a list of lines stays a
  list), and none at either end;
- case, for words of letters only written in lower case or with a capital first letter
  ("What", "france"). A word with a capital elsewhere ("US", "iPhone", "NaCl") is kept as typed:
  "us" and "US" are not the same question. A question with no lower-case letter at all (typed
  with caps lock) is folded whole;
- trailing `?`, `.`, `!`, `…` (and their full-width forms), at the very end only. A `!` right
  after a digit or `)` is a factorial and stays ("What is 5!").

Text between backticks (inline code or a fenced block) is code: only its Unicode form is
normalised, never its case or whitespace. Digits and other punctuation are never touched.
"""

from __future__ import annotations

import re
import unicodedata

# Inline code or a fenced block, up to its closing backticks (or the end of an unclosed fence).
_CODE = re.compile(r"(```.*?(?:```|$)|`[^`\n]*`)", re.DOTALL)
_WHITESPACE = re.compile(r"\s+")
# A word: letters only (apostrophes and hyphens between them), with its punctuation around it.
_WORD = re.compile(r"(?<![\w'’-])([^\W\d_]+(?:['’-][^\W\d_]+)*)(?![\w'’-])")
_PARTS = re.compile(r"[^\W\d_]+")
_TRAILING = frozenset("?.!…？。！")
_FACTORIAL_BEFORE = frozenset("0123456789)")


def normal_question(text: str) -> str:
    """The question as the exact tier keys it."""
    text = unicodedata.normalize("NFC", text)
    parts = _CODE.split(text)  # odd indices are code
    prose = "".join(parts[0::2])
    shouted = not any(c.islower() for c in prose) and any(c.isupper() for c in prose)
    folded = [part if i % 2 else _fold_prose(part, shouted) for i, part in enumerate(parts)]
    return _without_trailing_punctuation("".join(folded).strip())


def _fold_prose(text: str, shouted: bool) -> str:
    text = _WHITESPACE.sub(lambda m: "\n" if "\n" in m.group() else " ", text)
    if shouted:
        return text.lower()
    return _WORD.sub(lambda m: _folded_word(m.group()), text)


def _folded_word(word: str) -> str:
    """Each part of a compound ("Stop-Me", "Don't") on its own."""
    return _PARTS.sub(lambda m: _folded_part(m.group()), word)


def _folded_part(part: str) -> str:
    return part.lower() if part[1:] == part[1:].lower() else part


def _without_trailing_punctuation(text: str) -> str:
    while text and text[-1] in _TRAILING:
        if text[-1] in "!！" and len(text) > 1 and text[-2] in _FACTORIAL_BEFORE:
            break
        text = text[:-1].rstrip()
    return text
