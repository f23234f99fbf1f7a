"""Minimal edits that change what a sentence asks or says, one class each.

Every function takes a sentence and returns the edits it allows, each as (edited sentence,
detail), the detail naming the words changed ("increase -> decrease"). The generator keeps one per
sentence and class. An edit changes one word or one phrase and leaves the rest byte for byte, so
the pair it makes differs in exactly the detail a cache must not ignore.

Vocabulary: WordNet, pint and ISO 4217 through `lexicon.Lexicon`; closed-class English words
(auxiliaries, quantifiers, relative dates, times of day, number words) are listed here, as no
lexical resource groups them the way the edit needs (README says which list comes from where).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from loadtest.studies.cache_eval.lexicon import Lexicon

Edit = tuple[str, str]
# A word in prose: not part of an identifier, a path or code (`attention_mask`, `IN_MEMORY`,
# `cast_column()`), where a changed word makes a broken name rather than another question.
_WORD = re.compile(r"(?<![\w./`<-])[A-Za-z]+(?:'[a-z]+)?(?![\w/`(>-]|\.\w)")
_NUMBER = re.compile(r"(?<![\w.,])(?:\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w]|[.,]\d)")

# Closed classes, hand-listed.
AUXILIARIES = frozenset(
    "is are was were can could should will would does do did has have had may must".split()  # noqa: SIM905
)
_SUBJECTS = frozenset("i you we they he she it there this that".split())  # noqa: SIM905
_NEGATED = {
    "isn't": "is", "aren't": "are", "wasn't": "was", "weren't": "were", "can't": "can",
    "couldn't": "could", "shouldn't": "should", "won't": "will", "wouldn't": "would",
    "doesn't": "does", "don't": "do", "didn't": "did", "hasn't": "has", "haven't": "have",
    "cannot": "can",
}  # fmt: skip
QUANTIFIERS = {
    "all": "some", "some": "all", "every": "no", "each": "no", "many": "few", "few": "many",
    "always": "sometimes", "sometimes": "always", "most": "few", "none": "all", "any": "every",
    "several": "all", "everyone": "no one", "everything": "nothing", "nothing": "everything",
    "everybody": "nobody", "nobody": "everybody", "both": "neither", "only": "also",
}  # fmt: skip
RELATIVE_DATES = ("today", "tomorrow", "yesterday", "tonight")
RELATIVE_PERIODS = ("last", "next", "this")  # before week, month, year
TIMES_OF_DAY = ("morning", "afternoon", "evening", "night", "noon", "midnight", "dawn", "dusk")
NUMBER_WORDS = (  # noqa: SIM905
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty hundred thousand million"
).split()
# Words WordNet gives antonyms for that belong to another class here (quantifiers,
# comparatives) or are function words whose "antonym" makes no sentence ("in" -> "out").
_NOT_ANTONYM_EDITS = frozenset(
    "more most less least all some no many few first last in out on off up down over under "  # noqa: SIM905
    "be have do the a an as at by of it its".split()
)


def _cased(original: str, replacement: str) -> str:
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _replace(text: str, start: int, end: int, replacement: str) -> str:
    return text[:start] + _cased(text[start:end], replacement) + text[end:]


def _words(text: str) -> list[re.Match[str]]:
    return list(_WORD.finditer(text))


def _inner_name(text: str, match: re.Match[str]) -> bool:
    """A capitalised word inside a sentence: a name ("Lower Saxony"), not a word to edit."""
    return (
        match.group()[:1].isupper()
        and bool(text[: match.start()].strip())
        and not (text[: match.start()].rstrip().endswith((".", "!", "?", ":")))
    )


def antonym(text: str, lex: Lexicon, rng: random.Random) -> list[Edit]:
    """A word (adjective, adverb, verb, noun) replaced by a WordNet antonym: opposite actions
    (increase/decrease, enable/disable, buy/sell) and opposite qualities (cheap/expensive)."""
    edits = []
    for m in _words(text):
        word = m.group().lower()
        if word in _NOT_ANTONYM_EDITS or len(word) < 3 or word not in lex.antonyms:
            continue
        if _inner_name(text, m):
            continue
        other = rng.choice(lex.antonyms[word])
        edits.append((_replace(text, m.start(), m.end(), other), f"{word} -> {other}"))
    return edits


_NOT_PLACES = frozenset(
    "time here there now then other one another which where".split()  # noqa: SIM905
)
_FROM_TO = re.compile(
    r"\bfrom ((?:the )?[A-Za-z][\w'-]*(?: [A-Z][\w'-]*){0,2}) (to|into) "
    r"((?:the )?[A-Za-z][\w'-]*(?: [A-Z][\w'-]*){0,2})\b(?! \d)"
)
_VERB_TO = re.compile(
    r"\b(convert|converts|converting|translate|translates|translating|cast|casts|map|maps|"
    r"transfer|transfers|move|moves|migrate|migrates) ([A-Za-z][\w'-]*) (to|into) "
    r"([A-Za-z][\w'-]*)\b"
)


def direction(text: str, lex: Lexicon, rng: random.Random) -> list[Edit]:
    """The two ends of a direction swapped: "from X to Y" -> "from Y to X", and "convert X to Y"
    -> "convert Y to X" (roles of source and target)."""
    edits = []
    for m in _FROM_TO.finditer(text):
        a, to, b = m.group(1), m.group(2), m.group(3)
        if a.lower() == b.lower() or {a.lower(), b.lower()} & _NOT_PLACES:
            continue
        swapped = f"from {b} {to} {a}"
        edits.append((text[: m.start()] + swapped + text[m.end() :], f"from {a} {to} {b}: swap"))
    for m in _VERB_TO.finditer(text):
        verb, a, to, b = m.groups()
        if a.lower() in ("it", "them", "this", "that", "the", "a", "an") or a.lower() == b.lower():
            continue
        swapped = f"{verb} {b} {to} {a}"
        edits.append((text[: m.start()] + swapped + text[m.end() :], f"{verb} {a} {to} {b}: swap"))
    return edits


def time_and_date(text: str, lex: Lexicon, rng: random.Random) -> list[Edit]:
    """A relative date, a time of day, a weekday or a month replaced by another of its kind."""
    edits = []
    words = _words(text)
    for i, m in enumerate(words):
        word = m.group()
        lower = word.lower()
        for kind in (RELATIVE_DATES, TIMES_OF_DAY, lex.weekdays, lex.months):
            folded = [k.lower() for k in kind]
            is_name_kind = kind is lex.months or kind is lex.weekdays
            if is_name_kind and not word[:1].isupper():
                continue
            if not is_name_kind and _inner_name(text, m):
                continue  # "USA Today", "Good Morning America"
            if lower in folded:
                if lower == "may" and (i == 0 or not word[:1].isupper()):
                    continue  # the verb, not the month
                other = rng.choice([k for k in kind if k.lower() != lower])
                edits.append((_replace(text, m.start(), m.end(), other), f"{word} -> {other}"))
        following = words[i + 1].group().lower() if i + 1 < len(words) else ""
        if lower in RELATIVE_PERIODS and following in ("week", "month", "year"):
            other = rng.choice([k for k in RELATIVE_PERIODS if k != lower])
            edits.append(
                (_replace(text, m.start(), m.end(), other), f"{lower} {following} -> {other}")
            )
    return edits


# Relative dates and times of day, as phrases a question ends with.
TIME_PHRASES = (
    "today", "tomorrow", "yesterday", "tonight", "this morning", "this afternoon",
    "this evening", "in the morning", "in the evening", "at night", "at noon", "at midnight",
    "last week", "next week", "last month", "next month", "last year", "next year",
)  # fmt: skip
_TIME_WORDS = frozenset(w for phrase in TIME_PHRASES for w in phrase.split()) - {"in", "the", "at"}


def relative_time(text: str, lex: Lexicon, rng: random.Random) -> list[Edit]:
    """Two times appended to a one-sentence question or statement: ", today." against
    ", tomorrow." (relative dates and times of day seldom occur in the source sentences, so
    both sides carry one, placed by the same rule; the pair differs in that phrase only)."""
    stripped = text.rstrip()
    words = _words(stripped)
    if not stripped.endswith((".", "?")) or not 4 <= len(words) <= 25:
        return []
    if any(w.group().lower() in _TIME_WORDS for w in words) or stripped[:-1].count(". ") > 0:
        return []
    first, second = rng.sample(TIME_PHRASES, 2)
    body, end = stripped[:-1].rstrip(), stripped[-1]
    return [(f"{body} {first}{end}", f"{body} {second}{end}")]


def _plural(word: str) -> str:
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word == "foot":
        return "feet"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def unit_or_currency(text: str, lex: Lexicon, rng: random.Random) -> list[Edit]:
    """A unit replaced by another of the same quantity (pint), or a currency by another
    (ISO 4217): "miles" -> "kilometers", "euros" -> "yen", "USD" -> "JPY"."""
    edits = []
    for m in _words(text):
        word = m.group()
        lower = word.lower()
        singular = {_plural(u): u for u in lex.unit_groups} | {
            _plural(c): c for c in lex.currencies if c.islower()
        }
        base = lower if lower in lex.unit_groups or lower in lex.currencies else singular.get(lower)
        if word.isupper() and word in lex.currencies:
            other = rng.choice(lex.currencies[word])
            edits.append((text[: m.start()] + other + text[m.end() :], f"{word} -> {other}"))
            continue
        if base is None or not word.islower():
            continue
        others = lex.unit_groups.get(base) or lex.currencies.get(base)
        if not others:
            continue
        other = rng.choice(others)
        if lower != base:
            other = _plural(other)
        edits.append((_replace(text, m.start(), m.end(), other), f"{lower} -> {other}"))
    return edits


def _graded(base: str, suffix: str) -> str:
    """The regular comparative ("er") or superlative ("est") of an adjective."""
    if base.endswith("e"):
        return base + suffix[1:]
    if base.endswith("y") and base[-2:-1] not in "aeiou":
        return base[:-1] + "i" + suffix
    if (
        len(base) >= 3
        and base[-1] not in "aeiouwxy"
        and base[-2] in "aeiou"
        and base[-3] not in "aeiou"
        and len(base) <= 4
    ):
        return base + base[-1] + suffix
    return base + suffix


def comparative(
    text: str, lex: Lexicon, rng: random.Random, vocabulary: frozenset[str]
) -> list[Edit]:
    """A comparative or superlative turned the other way: "more"/"less", "most"/"least",
    "better"/"worse", "faster"/"slower" (WordNet antonyms of the base adjective, the graded form
    by rule or from WordNet's adj.exc; "more slow" when the corpus never spells "slower")."""
    edits = []
    fixed = {"more": "less", "less": "more", "most": "least", "least": "most", "fewer": "more"}
    for m in _words(text):
        lower = m.group().lower()
        if _inner_name(text, m) or lower in _NOT_GRADED:
            continue
        other = fixed.get(lower) or _graded_antonym(lower, lex, vocabulary)
        if other is None:
            continue
        edits.append((_replace(text, m.start(), m.end(), other), f"{lower} -> {other}"))
    return edits


# Words that end like a comparative of an antonym-bearing adjective and are not one.
_NOT_GRADED = frozenset(
    "after over under other inner outer upper ever never either".split()  # noqa: SIM905
)


def _graded_antonym(word: str, lex: Lexicon, vocabulary: frozenset[str]) -> str | None:
    """The same grade of an antonym of the word's base: faster -> slower, best -> worst."""
    if word in lex.comparatives:
        bases, superlative = [lex.comparatives[word]], word.endswith("st")
    elif word.endswith(("er", "est")):
        superlative = word.endswith("est")
        suffix = "est" if superlative else "er"
        bases = [b for b in lex.adjectives if _graded(b, suffix) == word]
    else:
        return None
    for base in bases:
        for opposite in lex.antonyms.get(base, ()):
            irregular = [f for f, b in lex.comparatives.items() if b == opposite]
            form = next((f for f in irregular if f.endswith("st") == superlative), None)
            form = form or _graded(opposite, "est" if superlative else "er")
            if form in vocabulary:
                return form
            return f"{'most' if superlative else 'more'} {opposite}"
    return None


def negation(text: str, lex: Lexicon, rng: random.Random) -> list[Edit]:
    """A negation removed ("doesn't" -> "does", "is not" -> "is"), or "not" added after the
    first auxiliary (after its subject when the auxiliary opens a question)."""
    words = _words(text)
    for i, m in enumerate(words):
        lower = m.group().lower()
        if lower in _NEGATED:
            return [(_replace(text, m.start(), m.end(), _NEGATED[lower]), f"{lower} -> removed")]
        if lower == "not" and i > 0:
            before = words[i - 1]
            return [(text[: before.end()] + text[m.end() :], "not -> removed")]
    for i, m in enumerate(words):
        lower = m.group().lower()
        if lower not in AUXILIARIES:
            continue
        following = words[i + 1] if i + 1 < len(words) else None
        if following is not None and following.group().lower() in _SUBJECTS:
            at = following.end()  # "does it work" -> "does it not work"
        else:
            at = m.end()
        return [(text[:at] + " not" + text[at:], f"{lower} -> {lower} not")]
    return []


def number(text: str, lex: Lexicon, rng: random.Random) -> list[Edit]:
    """A number changed: digits (7 -> 8, 1990 -> 1991, 2.5 -> 3.5) or a number word."""
    edits = []
    for m in _NUMBER.finditer(text):
        value = m.group()
        if "." in value:
            whole, fraction = value.split(".")
            other = f"{int(whole) + rng.choice((1, 2))}.{fraction}"
        elif "," in value:
            other = f"{int(value.replace(',', '')) * 2:,}"  # 100,000 -> 200,000
        else:
            other = str(
                int(value) + rng.choice((1, 2, 10)) if int(value) < 1000 else int(value) + 1
            )
        edits.append((text[: m.start()] + other + text[m.end() :], f"{value} -> {other}"))
    for m in _words(text):
        lower = m.group().lower()
        if lower in NUMBER_WORDS and lower != "one":  # "one" is as often a pronoun
            other = rng.choice([w for w in NUMBER_WORDS if w not in (lower, "one")])
            edits.append((_replace(text, m.start(), m.end(), other), f"{lower} -> {other}"))
    return edits


def entity(text: str, lex: Lexicon, rng: random.Random) -> list[Edit]:
    """A place (a WordNet instance in noun.location) replaced by another of its class:
    France -> Austria, Lisbon -> Accra."""
    edits = []
    words = _words(text)
    for i, m in enumerate(words):
        word = m.group()
        if word not in lex.instance_groups or m.start() == 0:
            continue
        before = words[i - 1] if i > 0 else None
        after = words[i + 1] if i + 1 < len(words) else None
        joined = [
            n
            for n in (before, after)
            if n is not None
            and text[min(n.end(), m.end()) : max(n.start(), m.start())] == " "
            and n.group()[:1].isupper()
            and n.start() > 0
        ]
        if joined:
            continue  # part of a longer name: "Washington Square Park", "Costa Mesa"
        others = [o for o in lex.instance_groups[word] if len(o) >= 4]
        if others:
            other = rng.choice(others)
            edits.append((text[: m.start()] + other + text[m.end() :], f"{word} -> {other}"))
    return edits


def quantifier(text: str, lex: Lexicon, rng: random.Random) -> list[Edit]:
    """A quantifier replaced by one of another force: all -> some, many -> few, every -> no."""
    edits = []
    for m in _words(text):
        lower = m.group().lower()
        if lower in QUANTIFIERS:
            other = QUANTIFIERS[lower]
            edits.append((_replace(text, m.start(), m.end(), other), f"{lower} -> {other}"))
    return edits


EditFunction = Callable[[str, Lexicon, random.Random], list[Edit]]
