"""Guards against near-misses: details that change the answer whatever the similarity says.

Embeddings put "What is the capital of France?" and "What is the capital of Germany?" close
together (cosine about 0.8 with all-MiniLM-L6-v2), yet one answer is wrong for the other. A
semantic hit is therefore vetoed when the two questions differ in any of:
- **numbers**: digits, including decimals and digit groups ("3", "2.5", "1,000", "1990");
- **number words** from zero to twenty, tens and scales, in English and Portuguese; "one" only
  where it counts ("one reason"), not as a pronoun ("which one", "one of them", "one can");
- **names**: capitalised words that do not start a sentence ("France", "Lisbon", "Python"),
  counted as a difference only when the other question lacks the word in any case (a name at
  the start of one sentence and inside the other is the same name), and an acronym only when
  the other question does not spell it out ("NLP", "natural language processing");
- **quoted strings**: text between quotes or backticks;
- **negations**: "not", "no", "never", "n't", "without", "nunca", "não", "sem" and the like;
  "doesn't", "does not" and "cannot" all count as "not";
- **languages**: a language named in the question ("in Portuguese", "em inglês").
Each is compared as a set, case-folded, so word order and repetition do not matter. The cost in
recall and the precision bought are measured in docs/cache.md. The three exceptions above (names
at a sentence's start, acronyms, "one") were false vetoes: on the evaluation's GPTCache tune
part the guards vetoed a fifth of true rewordings, most of them for these.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|'([^']{2,})'|`([^`]+)`")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
# What comes before a word that starts a sentence: nothing but space at the text's start, or
# after an earlier word, an end mark and space, or a line break. Matched against the text
# between the previous word and this one only, so a question is read once, not once a word.
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+|\n)\s*$")
_SENTENCE_BREAK = re.compile(r"(?:[.!?]\s+|\n)\s*$")

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
    non nao nunca nem sem nenhum nenhuma ninguem nada jamais""".split()  # noqa: SIM905
)
_LANGUAGES = frozenset(
    """english portuguese spanish french german italian chinese japanese korean russian arabic
    hindi dutch ingles portugues espanhol frances alemao italiano chines japones""".split()  # noqa: SIM905
)
# Capitalised words that are not names: question words and other frequent sentence-inner words.
_NOT_NAMES = frozenset("i what who where when why how which is are do does can".split())  # noqa: SIM905
# "one" is a pronoun after these words or before these ("which one", "one of", "one can").
_ONE_PRONOUN_BEFORE = frozenset("the which this that each any every no some another".split())  # noqa: SIM905
_ONE_PRONOUN_AFTER = frozenset(
    "of is can could should would will may might must has have another".split()  # noqa: SIM905
)
FOLD_CACHE_WORDS = 16_384
# Questions whose details are remembered: a new question is checked against up to 8 candidates
# and a stored one against every question near it, and reading a question was most of a check's
# cost. Questions checked are at most 4,096 characters (longer ones are exact-only), so this
# holds at most 8 MiB of text.
SALIENT_CACHE_QUESTIONS = 2_048
_ACRONYM = re.compile(r"[A-Z][A-Z0-9]*[A-Z]s?")


@functools.lru_cache(maxsize=FOLD_CACHE_WORDS)
def _fold(word: str) -> str:
    """Lower case without accents, so `Não` and `nao`, `Inglês` and `ingles` compare equal.
    Remembered for the most recent words: a question's words are folded once per candidate it is
    checked against, and this was the guards' largest cost (a third of their time)."""
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


@functools.lru_cache(maxsize=SALIENT_CACHE_QUESTIONS)
def salient(text: str) -> Salient:
    numbers = {n.replace(",", "") for n in _NUMBER.findall(text)}
    quoted = {_fold(next(g for g in m.groups() if g)) for m in _QUOTED.finditer(text)}
    names: set[str] = set()
    negations: set[str] = set()
    languages: set[str] = set()
    previous: re.Match[str] | None = None
    for match in _WORD.finditer(text):
        word = match.group()
        folded = _fold(word)
        if folded in _NUMBER_WORDS and not _one_as_pronoun(folded, text, match, previous):
            numbers.add(folded)
        if folded in _NEGATIONS or folded.endswith("n't"):
            negations.add("not" if folded.endswith("n't") or folded == "cannot" else folded)
        if folded in _LANGUAGES:
            languages.add(folded)
        elif (
            word[0].isupper()
            and folded not in _NOT_NAMES
            and not _starts_sentence(text, match, previous)
        ):
            names.add(folded.removesuffix("'s"))  # "France's" names France
        previous = match
    return Salient(
        frozenset(numbers),
        frozenset(names),
        frozenset(quoted),
        frozenset(negations),
        frozenset(languages),
    )


def _starts_sentence(text: str, match: re.Match[str], previous: re.Match[str] | None) -> bool:
    if previous is None:
        return _SENTENCE_START.search(text, 0, match.start()) is not None
    return _SENTENCE_BREAK.search(text, previous.end(), match.start()) is not None


def _one_as_pronoun(
    folded: str, text: str, match: re.Match[str], previous: re.Match[str] | None
) -> bool:
    """Whether "one" is a pronoun here, by the word before it (`previous`) and the word after."""
    if folded != "one":
        return False
    after = _WORD.search(text, match.end())
    return (previous is not None and _fold(previous.group()) in _ONE_PRONOUN_BEFORE) or (
        after is None or _fold(after.group()) in _ONE_PRONOUN_AFTER
    )


def _words(text: str) -> frozenset[str]:
    return frozenset(_fold(w).removesuffix("'s") for w in _WORD.findall(text))


def _spelled_out(acronym: str, initials: str) -> bool:
    """Whether consecutive words of the other question (their `initials`) start with the
    acronym's letters."""
    letters = acronym.removesuffix("s").casefold()
    return len(letters) > 1 and letters in initials


def _expansions(acronyms: set[str], words: list[str], initials: str) -> set[str]:
    """The words that spell out one of the acronyms ("machine learning" for "ML"): each found
    in the words' `initials` with `str.find`, so the work is one scan per acronym, not one per
    acronym and word."""
    found: set[str] = set()
    for acronym in acronyms:
        letters = acronym.removesuffix("s")
        if not letters:
            continue
        start = initials.find(letters)
        while start != -1:
            found.update(words[start : start + len(letters)])
            start = initials.find(letters, start + 1)
    return found


def _unmatched_names(names: frozenset[str], text: str, other: str) -> frozenset[str]:
    """The names of one question that the other neither has in any case nor spells out, nor
    abbreviates."""
    other_words = _words(other)
    folded = [_fold(w) for w in _WORD.findall(text)]
    other_folded = [_fold(w) for w in _WORD.findall(other)]
    acronyms = {_fold(m.group()) for m in _ACRONYM.finditer(text)}
    other_acronyms = {_fold(m.group()) for m in _ACRONYM.finditer(other)}
    abbreviated = _expansions(other_acronyms, folded, "".join(w[0] for w in folded))
    other_initials = "".join(w[0] for w in other_folded)
    return frozenset(
        n
        for n in names
        if n not in other_words
        and n not in abbreviated
        and not (n in acronyms and _spelled_out(n, other_initials))
    )


def veto(cached_question: str, new_question: str) -> str | None:
    """Why a semantic hit between the two questions is refused, or None when nothing differs."""
    a, b = salient(cached_question), salient(new_question)
    for kind in ("numbers", "names", "quoted", "negations", "languages"):
        if kind == "names":
            if a.names != b.names and (
                _unmatched_names(a.names, cached_question, new_question)
                or _unmatched_names(b.names, new_question, cached_question)
            ):
                return kind
        elif getattr(a, kind) != getattr(b, kind):
            return kind
    return None
