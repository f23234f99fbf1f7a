"""The request mix of `loadtest/studies/cache_workload.py` (issue 15, item 6): a seeded sequence of
questions, each drawn independently as

- a **repeat** (30%): an earlier new question, verbatim, so an exact hit is expected;
- a **rewording** (20%): a GPTCache paraphrase of an origin asked earlier as a new question, so
  a semantic hit is possible; each paraphrase is used once while any of an asked origin's is
  left unused, then they are drawn again (the data set has 999, fewer than a long run needs; a
  paraphrase seen before is an exact hit where its first sending missed);
- a **new** question (50%): the GPTCache origins, then the PAWS-Wiki sentences, each in a seeded
  order and asked as new at most once.

The drawing is the suite's cache mix (`loadtest.generator.questions`, what a scenario's
`cache: {repeat, reword}` sends); this module gives the study its fixed-length, list-shaped form.
Pure: no clock, no network, no global random state; `load_sources` only reads the two vendored
data sets (loadtest/datasets/README.md says where they come from).
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from loadtest.generator.questions import NEW, REPEAT, REWORD, Question, Sources, sources_of
from loadtest.generator.questions import QuestionsExhausted as WorkloadExhausted
from loadtest.generator.questions import questions as draw_questions
from loadtest.generator.settings import CacheMix

__all__ = [
    "NEW",
    "REPEAT",
    "REWORD",
    "Mix",
    "Question",
    "Sources",
    "WorkloadExhausted",
    "load_sources",
    "max_requests",
    "sources_of",
    "workload",
]


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
    shares = CacheMix(repeat=mix.repeat_share, reword=mix.reword_share)
    return list(islice(draw_questions(sources, shares, random.Random(seed)), count))
