"""The questions of a cache mix (`cache: {repeat, reword}`), drawn one request at a time from a
seeded generator, each

- a **repeat**: an earlier new question, verbatim, so an exact hit is possible;
- a **rewording**: a GPTCache paraphrase of an origin asked earlier as a new question, so a
  semantic hit is possible; each paraphrase is used once while any of an asked origin's is left
  unused, then they are drawn again (a paraphrase seen before is then an exact repeat of it);
- a **new** question: the GPTCache origins, then the PAWS-Wiki sentences, each in a seeded order
  and asked as new at most once.

A repeat or rewording drawn before anything it could repeat or reword was asked is a new question
instead. The logic is the cache workload study's (`loadtest/studies/cache_workload_mix.py`),
moved here so that the suite does not import a study; it reads the two vendored data sets in
`loadtest/datasets/` (its README says where they come from and their licences), which the
suite's distribution carries.
"""

from __future__ import annotations

import csv
import functools
import json
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Final

from loadtest.generator.settings import CacheMix

DATASETS_DIR: Final = Path(__file__).resolve().parents[1] / "datasets"
# 999 {"origin", "similar"} pairs that mean the same (GPTCache's benchmark data, MIT).
GPTCACHE_PARAPHRASES: Final = DATASETS_DIR / "gptcache_paraphrases.json"
# PAWS-Wiki's labelled test split: id, sentence1, sentence2, label; its sentences are new ones.
PAWS_WIKI_TEST: Final = DATASETS_DIR / "paws_wiki_test.tsv"

REPEAT: Final = "repeat"
REWORD: Final = "reword"
NEW: Final = "new"
QUESTION_KINDS: Final = (REPEAT, REWORD, NEW)


@dataclass(frozen=True, slots=True)
class Question:
    kind: str  # REPEAT, REWORD or NEW
    text: str  # the user message sent
    origin: str  # the new question this one repeats or rewords; its own text when new


@dataclass(frozen=True, slots=True)
class Sources:
    """The questions a mix draws from, each text distinct from every other."""

    paraphrases: tuple[tuple[str, tuple[str, ...]], ...]  # (GPTCache origin, its paraphrases)
    sentences: tuple[str, ...]  # PAWS-Wiki sentences, asked as new after the origins

    @property
    def new_questions(self) -> int:
        return len(self.paraphrases) + len(self.sentences)


class QuestionsExhausted(ValueError):
    """More new questions were drawn than the sources hold."""


def sources_of(
    gptcache_rows: Iterable[Mapping[str, str]], paws_rows: Iterable[Mapping[str, str]]
) -> Sources:
    """Origins with their paraphrases (a paraphrase equal to its origin, or to any other origin,
    left out), then each PAWS-Wiki sentence once, leaving out any that is already a GPTCache
    text; first-seen order."""
    by_origin: dict[str, list[str]] = {}
    rows = list(gptcache_rows)
    for row in rows:
        by_origin.setdefault(row["origin"], [])
    for row in rows:
        similar = row["similar"]
        if similar not in by_origin and similar not in by_origin[row["origin"]]:
            by_origin[row["origin"]].append(similar)
    taken = set(by_origin) | {text for texts in by_origin.values() for text in texts}
    sentences: dict[str, None] = {}
    for row in paws_rows:
        for text in (row["sentence1"], row["sentence2"]):
            if text not in taken:
                sentences[text] = None
    pairs = tuple((origin, tuple(texts)) for origin, texts in by_origin.items())
    return Sources(pairs, tuple(sentences))


@functools.cache
def vendored_sources() -> Sources:
    """The two vendored data sets, read once per process."""
    missing = [path for path in (GPTCACHE_PARAPHRASES, PAWS_WIKI_TEST) if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"a cache mix needs the vendored data sets, missing: {', '.join(map(str, missing))} "
            "(loadtest/datasets/, which the distribution ships: reinstall it)"
        )
    gptcache_rows = json.loads(GPTCACHE_PARAPHRASES.read_text())
    with PAWS_WIKI_TEST.open(newline="") as file:
        paws_rows = list(csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
    return sources_of(gptcache_rows, paws_rows)


def mix_problem(requests: float, mix: CacheMix) -> str | None:
    """A problem if `requests` of the mix would ask more new questions than the data sets hold
    (with a 5% margin for the draw's spread: about six standard deviations). Without the data
    sets there is nothing to check against: the run itself says they are missing."""
    wanted = requests * mix.new
    try:
        held = vendored_sources().new_questions
    except FileNotFoundError:
        return None
    if wanted <= held * 0.95:
        return None
    return (
        f"a cache mix of {requests:.0f} requests asks about {wanted:.0f} new questions and the "
        f"data sets hold {held}: shorten the phase, or lower its rate or its share of new ones"
    )


def questions(sources: Sources, mix: CacheMix, rng: random.Random) -> Iterator[Question]:
    """Questions without end, the same for the same sources, mix and generator state; raises
    QuestionsExhausted when the new questions run out."""
    origins = list(sources.paraphrases)
    rng.shuffle(origins)
    sentences = list(sources.sentences)
    rng.shuffle(sentences)
    return _draw(rng, mix, origins, sentences)


def _draw(
    rng: random.Random,
    mix: CacheMix,
    origins: Sequence[tuple[str, tuple[str, ...]]],
    sentences: Sequence[str],
) -> Iterator[Question]:
    fresh = chain(((origin, texts) for origin, texts in origins), ((s, ()) for s in sentences))
    asked: list[str] = []  # every new question so far
    unused: list[tuple[str, str]] = []  # (origin, paraphrase) of asked origins, not yet sent
    used: list[tuple[str, str]] = []
    while True:
        draw = rng.random()
        if draw < mix.repeat and asked:
            text = rng.choice(asked)
            yield Question(REPEAT, text, text)
        elif draw < mix.repeat + mix.reword and (unused or used):
            if unused:
                index = rng.randrange(len(unused))
                unused[index], unused[-1] = unused[-1], unused[index]
                pair = unused.pop()
                used.append(pair)
            else:
                pair = rng.choice(used)
            yield Question(REWORD, pair[1], pair[0])
        else:
            following = next(fresh, None)
            if following is None:
                raise QuestionsExhausted(f"more than {len(asked)} new questions drawn")
            text, paraphrases = following
            asked.append(text)
            unused.extend((text, paraphrase) for paraphrase in paraphrases)
            yield Question(NEW, text, text)
