"""The request mix of `loadtest/studies/cache_workload.py` (issue 15, item 6): a seeded sequence of
questions, each drawn independently as

- a **repeat** (30%): an earlier new question, verbatim, so an exact hit is expected;
- a **rewording** (20%): a GPTCache paraphrase of an origin asked earlier as a new question, so
  a semantic hit is possible; each paraphrase is used once while any of an asked origin's is
  left unused, then they are drawn again (the data set has 999, fewer than a long run needs; a
  paraphrase seen before is an exact hit where its first sending missed);
- a **new** question (50%): the GPTCache origins, then the PAWS-Wiki sentences, each in a seeded
  order and asked as new at most once.

A repeat or rewording drawn before anything it could repeat or reword was asked is a new question
instead. Pure: no clock, no network, no global random state; `load_sources` only reads the two
vendored data sets (loadtest/datasets/README.md says where they come from).
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Final

REPEAT: Final = "repeat"
REWORD: Final = "reword"
NEW: Final = "new"
KINDS: Final = (REPEAT, REWORD, NEW)


@dataclass(frozen=True, slots=True)
class Question:
    kind: str  # REPEAT, REWORD or NEW
    text: str  # the last (only) user message sent
    origin: str  # the new question this one repeats or rewords; its own text when new


@dataclass(frozen=True, slots=True)
class Mix:
    repeat_share: float = 0.3
    reword_share: float = 0.2

    def __post_init__(self) -> None:
        if min(self.repeat_share, self.reword_share) < 0 or self.new_share <= 0:
            raise ValueError("shares must be >= 0, and leave a positive share of new questions")

    @property
    def new_share(self) -> float:
        return 1.0 - self.repeat_share - self.reword_share


@dataclass(frozen=True, slots=True)
class Sources:
    """The questions a workload draws from, each text distinct from every other."""

    paraphrases: tuple[tuple[str, tuple[str, ...]], ...]  # (GPTCache origin, its paraphrases)
    sentences: tuple[str, ...]  # PAWS-Wiki sentences, asked as new after the origins

    @property
    def new_questions(self) -> int:
        return len(self.paraphrases) + len(self.sentences)


class WorkloadExhausted(ValueError):
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


def load_sources(gptcache_json: Path, paws_tsv: Path) -> Sources:
    gptcache_rows = json.loads(gptcache_json.read_text())
    with paws_tsv.open(newline="") as file:
        paws_rows = list(csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
    return sources_of(gptcache_rows, paws_rows)


def max_requests(sources: Sources, mix: Mix) -> int:
    """A workload length whose new questions the sources hold, with a 5% margin for the draw's
    spread (about six standard deviations at the sources' size)."""
    return int(sources.new_questions * 0.95 / mix.new_share)


def workload(sources: Sources, count: int, seed: int, mix: Mix = Mix()) -> list[Question]:
    """`count` questions, the same for the same sources, seed and mix; the first n of a longer
    workload are the workload of n. Raises WorkloadExhausted when the new questions run out."""
    rng = random.Random(seed)
    origins = list(sources.paraphrases)
    rng.shuffle(origins)
    sentences = list(sources.sentences)
    rng.shuffle(sentences)
    return list(_draw(rng, count, mix, origins, sentences))


def _draw(
    rng: random.Random,
    count: int,
    mix: Mix,
    origins: Sequence[tuple[str, tuple[str, ...]]],
    sentences: Sequence[str],
) -> Iterator[Question]:
    fresh = chain(((origin, texts) for origin, texts in origins), ((s, ()) for s in sentences))
    asked: list[str] = []  # every new question so far
    unused: list[tuple[str, str]] = []  # (origin, paraphrase) of asked origins, not yet sent
    used: list[tuple[str, str]] = []
    for _ in range(count):
        draw = rng.random()
        if draw < mix.repeat_share and asked:
            text = rng.choice(asked)
            yield Question(REPEAT, text, text)
        elif draw < mix.repeat_share + mix.reword_share and (unused or used):
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
                raise WorkloadExhausted(f"more than {len(asked)} new questions drawn")
            text, paraphrases = following
            asked.append(text)
            unused.extend((text, paraphrase) for paraphrase in paraphrases)
            yield Question(NEW, text, text)
