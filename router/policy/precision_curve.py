"""A tenant's precision target, mapped to the semantic tier's verifier and threshold.

A tenant may ask for a precision (`cache.semantic_precision`) rather than a raw cosine: which cosine
buys which precision depends on the embedder, the verifier and the text, and a tenant cannot know
it. The mapping goes through the curve measured on the independent evaluation's **tune** part
(`loadtest/studies/cache_eval`), shipped as `precision_curve.json` beside this module and written by
`python -m loadtest.studies.cache_eval.curve`: for each verifier mode and threshold, the precision
and hit rate on the GPTCache rewordings and on PAWS-Wiki, and the false-hit rate on the contrastive
set (minimal edits).

A configuration's worst-case precision is the lowest of: its precision on GPTCache, its precision
on PAWS-Wiki and 1 - its contrastive false-hit rate. A set it hits nothing on counts as
precision 1.0 there (no wrong answer served), with a hit rate of 0. A target maps to the
configuration whose worst-case precision reaches it and which hits the most GPTCache rewordings
(ties: the most PAWS-Wiki paraphrases, then the higher threshold). docs/cache.md ("Precision
target") has the curve and what each configuration buys on the test part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, get_args

from router.cache.verifier import Mode

CURVE_FILE = "precision_curve.json"


class PrecisionUnreachable(ValueError):
    """No measured configuration reaches the target (raised while a policy loads)."""


@dataclass(frozen=True, slots=True)
class SemanticConfiguration:
    """One measured (verifier, threshold) and what it bought on the tune part."""

    verifier: Mode
    threshold: float
    gptcache_precision: float | None  # None: no hit on the set
    gptcache_hit_rate: float
    paws_precision: float | None
    paws_hit_rate: float
    contrastive_false_hit_rate: float

    @property
    def worst_case_precision(self) -> float:
        return min(
            1.0 if self.gptcache_precision is None else self.gptcache_precision,
            1.0 if self.paws_precision is None else self.paws_precision,
            1.0 - self.contrastive_false_hit_rate,
        )

    def describe(self) -> str:
        return f"verifier {self.verifier} at threshold {self.threshold:.2f}"


@dataclass(frozen=True, slots=True)
class PrecisionCurve:
    part: str
    embedder: str
    configurations: tuple[SemanticConfiguration, ...]

    def configuration_for(self, target: float) -> SemanticConfiguration:
        """The configuration that serves the most rewordings at a worst-case precision of at
        least `target`; PrecisionUnreachable names the best reachable one otherwise."""
        reaching = [c for c in self.configurations if c.worst_case_precision >= target]
        if not reaching:
            best = max(
                self.configurations, key=lambda c: (c.worst_case_precision, c.gptcache_hit_rate)
            )
            raise PrecisionUnreachable(
                f"no measured configuration reaches a precision of {target:g}: the best is "
                f"{best.worst_case_precision:.4f} ({best.describe()}, worst case over the "
                f"{self.part} part's sets, docs/cache.md#precision-target)"
            )
        return max(reaching, key=lambda c: (c.gptcache_hit_rate, c.paws_hit_rate, c.threshold))


def parse_curve(data: dict[str, Any]) -> PrecisionCurve:
    """The curve from the JSON `loadtest.studies.cache_eval.curve` writes."""
    modes = get_args(Mode)
    configurations = []
    for row in data["configurations"]:
        if row["verifier"] not in modes:
            raise ValueError(f"{CURVE_FILE}: unknown verifier {row['verifier']!r}")
        configurations.append(
            SemanticConfiguration(
                verifier=row["verifier"],
                threshold=float(row["threshold"]),
                gptcache_precision=row["gptcache"]["precision"],
                gptcache_hit_rate=float(row["gptcache"]["hit_rate"]),
                paws_precision=row["paws"]["precision"],
                paws_hit_rate=float(row["paws"]["hit_rate"]),
                contrastive_false_hit_rate=float(row["contrastive"]["false_hit_rate"]),
            )
        )
    return PrecisionCurve(str(data["part"]), str(data["embedder"]), tuple(configurations))


@cache
def shipped_curve() -> PrecisionCurve:
    """The curve shipped with the package, read once."""
    text = (resources.files("router.policy") / CURVE_FILE).read_text(encoding="utf-8")
    return parse_curve(json.loads(text))


@cache
def configuration_for(target: float) -> SemanticConfiguration:
    """`target` mapped on the shipped curve (computed once per target, when a policy loads)."""
    return shipped_curve().configuration_for(target)
