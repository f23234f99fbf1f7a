"""Guards against near-misses: details that change the answer whatever the similarity says.

Embeddings put "What is the capital of France?" and "What is the capital of Germany?" close
together (cosine about 0.8 with all-MiniLM-L6-v2), yet one answer is wrong for the other. A
semantic hit is therefore vetoed when the two questions differ in any of:
- **numbers**: digits, including decimals and digit groups ("3", "2.5", "1,000", "1990");
- **number words** from zero to twenty, tens and scales, in English and Portuguese;
- **names**: capitalised words that do not start a sentence ("France", "Lisbon", "Python");
- **quoted strings**: text between quotes or backticks;
- **negations**: "not", "no", "never", "n't", "without", "nunca", "não", "sem" and the like;
- **languages**: a language named in the question ("in Portuguese", "em inglês").
Each is compared as a set, case-folded, so word order and repetition do not matter. The cost in
recall and the precision bought are measured in docs/cache.md.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|'([^']{2,})'|`([^`]+)`")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+|\n)\s*$")

_NUMBER_WORDS = frozenset(
    """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty
    ninety hundred thousand million billion first second third fourth fifth half double triple
    um uma dois duas tres quatro cinco seis sete oito nove dez onze doze vinte trinta cem mil
    milhao bilhao primeiro segundo terceiro metade""".split()  # noqa: SIM905
)
_NEGATIONS = frozenset(
    """not no never none nobody nothing neither nor without cannot isn't aren't wasn't weren't
    don't doesn't didn't won't wouldn't can't couldn't shouldn't hasn't haven't hadn't
    nao nunca nem sem nenhum nenhuma ninguem nada jamais""".split()  # noqa: SIM905
)
_LANGUAGES = frozenset(
    """english portuguese spanish french german italian chinese japanese korean russian arabic
    hindi dutch ingles portugues espanhol frances alemao italiano chines japones""".split()  # noqa: SIM905
)
# Capitalised words that are not names: question words and other frequent sentence-inner words.
_NOT_NAMES = frozenset("i what who where when why how which is are do does can".split())  # noqa: SIM905


def _fold(word: str) -> str:
    """Lower case without accents, so `Não` and `nao`, `Inglês` and `ingles` compare equal."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True, slots=True)
class Salient:
    """The details of a question that a cached answer must share."""

    numbers: frozenset[str]
    names: frozenset[str]
    quoted: frozenset[str]
    negations: frozenset[str]
    languages: frozenset[str]


def salient(text: str) -> Salient:
    numbers = {n.replace(",", "") for n in _NUMBER.findall(text)}
    quoted = {_fold(next(g for g in m.groups() if g)) for m in _QUOTED.finditer(text)}
    names: set[str] = set()
    negations: set[str] = set()
    languages: set[str] = set()
    for match in _WORD.finditer(text):
        word = match.group()
        folded = _fold(word)
        if folded in _NUMBER_WORDS:
            numbers.add(folded)
        if folded in _NEGATIONS or folded.endswith("n't"):
            negations.add(folded)
        if folded in _LANGUAGES:
            languages.add(folded)
        elif (
            word[0].isupper()
            and folded not in _NOT_NAMES
            and not _SENTENCE_START.search(text[: match.start()])
        ):
            names.add(folded.removesuffix("'s"))  # "France's" names France
    return Salient(
        frozenset(numbers),
        frozenset(names),
        frozenset(quoted),
        frozenset(negations),
        frozenset(languages),
    )


def veto(cached_question: str, new_question: str) -> str | None:
    """Why a semantic hit between the two questions is refused, or None when nothing differs."""
    a, b = salient(cached_question), salient(new_question)
    for kind in ("numbers", "names", "quoted", "negations", "languages"):
        if getattr(a, kind) != getattr(b, kind):
            return kind
    return None
