"""The second check a semantic candidate must pass before it is served.

Two designs, measured side by side in docs/cache.md ("Verifier"): the guards
(`router.cache.guards`, mode "guards", the default) and content-token agreement (mode
"content"), below.

Cosine similarity cannot tell a question from its minimal edit: on the evaluation's contrastive
set (loadtest/studies/cache_eval) direction swaps score 0.998 at the median, unit and currency swaps
0.984, antonyms 0.971, and PAWS's word-order negatives as high as its true paraphrases. The
guards catch numbers, names, quotes, negations and languages, and nothing else. Content-token
agreement asks that the two questions say the same things, word for word:
- each question is cut into tokens, lower-cased, contractions opened ("doesn't": "does not"),
  digit groups joined ("1,000": "1000") and each word reduced by a small suffix stripper
  (plural -s/-es/-ies, -ing, -ed), so inflections agree;
- function words (articles, pronouns, auxiliaries, most prepositions, question words) are
  dropped. Kept on purpose, because each changes the answer: negations, quantifiers, numbers,
  comparatives and superlatives (never stripped: "higher" is not "high"), units, currencies,
  time words and direction-bearing words;
- the two multisets of content tokens must be equal: any word added, dropped or replaced (an
  antonym, another unit, another time, another place) refuses the hit;
- and their order must agree (`order="sequence"`: the content tokens in the same order), so a
  swap of roles ("from Lisbon to Porto" / "from Porto to Lisbon") refuses the hit.

This trades hit rate for precision: a reworded question that uses other content words misses
(on GPTCache's rewordings, nearly all do). The measurement, tuned on the evaluation's tune part
and reported on its test part, is in docs/cache.md ("Verifier"), with the cost per check; which
mode is the default is the operator's decision from those figures, not this module's.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from router.cache.guards import veto

Order = Literal["none", "direction", "sequence"]
Mode = Literal["guards", "content"]

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:'[^\W\d_]+)*|[\w]+", re.UNICODE)
_CONTRACTIONS = {
    "can't": ("can", "not"),
    "cannot": ("can", "not"),
    "won't": ("will", "not"),
    "shan't": ("shall", "not"),
    "ain't": ("be", "not"),
}
# Function words: they carry grammar, not what is asked. Deliberately absent: negations,
# quantifiers (all, some, any, every, each, no, many, few, most, least, more, less, only, also),
# direction words (from, to, into, before, after, above, below, over, under, than), "by" (the
# agent of a passive: "A acquired B", "A was acquired by B"), deixis (this, these, here, there:
# "this evening" is not "in the evening") and time words.
_STOP_WORDS = frozenset(
    """a an the that those it its it's i me my mine we us our you your yours he him his she her
    they them their what which who whom whose where when why how whether
    is are was were be been being am do does did done doing have has had having can could will
    would shall should may might must of in on at for with as and or but if so then about
    via per please tell show explain give know want need let like just really actually exactly
    basically simply kindly""".split()  # noqa: SIM905
)
# Words whose neighbours carry roles: "from A to B", "A before B", "buy A sell B".
_DIRECTION_WORDS = frozenset(
    """from to into onto toward towards before after above below over under than between
    versus vs buy sell send receive import export convert""".split()  # noqa: SIM905
)


def _stem(word: str) -> str:
    """A light, deterministic suffix stripper: inflections only, never comparatives."""
    if word.isdigit() or len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    elif word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    else:
        return word
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]  # "running" -> "run", "stopped" -> "stop"
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]  # "creates" and "created" and "creating" agree
    return word


def content_tokens(text: str) -> list[str]:
    """The question's content words, normalised, in order."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(text.casefold().replace("’", "'")):
        word = match.group()
        if word[0].isdigit():
            tokens.append(word.replace(",", ""))
            continue
        if word in _CONTRACTIONS:
            parts: tuple[str, ...] = _CONTRACTIONS[word]
        elif word.endswith("n't"):
            parts = (word[:-3], "not")
        else:
            parts = (word.removesuffix("'s"),)
        tokens.extend(_stem(p) for p in parts if p not in _STOP_WORDS)
    return tokens


@dataclass(frozen=True, slots=True)
class Verdict:
    """The verifier's decision on one candidate, as `x-router-cache-verifier` shows it."""

    accepted: bool
    # "agree"; or why not: a guard's kind ("numbers", "names", ...), "content" (a content word
    # added, dropped or replaced) or "order" (the same words, roles swapped)
    reason: str


AGREE = Verdict(True, "agree")


def _direction_neighbours(tokens: list[str]) -> list[tuple[str, str, str]]:
    return [
        (tokens[i - 1] if i else "", word, tokens[i + 1] if i + 1 < len(tokens) else "")
        for i, word in enumerate(tokens)
        if word in _DIRECTION_WORDS
    ]


def content_agreement(
    cached_question: str, new_question: str, order: Order = "sequence"
) -> Verdict:
    """The same content words (`order`: "none" as multisets; "direction": and the same
    neighbours around each direction-bearing word; "sequence": and in the same order)."""
    a, b = content_tokens(cached_question), content_tokens(new_question)
    if Counter(a) != Counter(b):
        return Verdict(False, "content")
    if order == "sequence" and a != b:
        return Verdict(False, "order")
    if order == "direction" and _direction_neighbours(a) != _direction_neighbours(b):
        return Verdict(False, "order")
    return AGREE


def verify(cached_question: str, new_question: str, mode: Mode = "guards") -> Verdict:
    """Whether the cached answer to `cached_question` may be served for `new_question`.

    "guards": `router.cache.guards` only (numbers, names, quotes, negations, languages);
    "content": content-token agreement in order, which covers what the guards check and the
    classes they miss (antonyms, units, comparatives, quantifiers, times, swapped roles)."""
    if mode == "content":
        return content_agreement(cached_question, new_question)
    kind = veto(cached_question, new_question)
    return AGREE if kind is None else Verdict(False, kind)
