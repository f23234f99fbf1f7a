"""Distributions of a per-request number (a prompt's size in bytes, an answer's `max_tokens`):
a number as it is, or one of three distributions drawn per request from the run's seeded
`random.Random`, every draw within stated bounds:

- `uniform`: an integer in [min, max], each equally likely;
- `lognormal`: an integer whose logarithm is normal around `median` with `sigma` (the usual shape
  of prompt and answer lengths, a long right tail), truncated to [min, max] by drawing within the
  bounds' quantiles (exact, no rejection loop);
- `choice`: one of `values`, by `weights` (equal without them).

The classes are plain frozen dataclasses, validated when built; the scenario schema
(`loadtest/harness/scenario.py`) reads them from YAML as they are, unknown keys refused.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from dataclasses import dataclass
from statistics import NormalDist
from typing import Annotated, ClassVar, Final, Literal

from pydantic import ConfigDict, Field

_STANDARD_NORMAL: Final = NormalDist()
# A quantile of exactly 0 or 1 has no inverse: draws stay this far inside.
_EDGE: Final = 1e-12
_MAX_CHOICES: Final = 1000


@dataclass(frozen=True, slots=True)
class Uniform:
    __pydantic_config__: ClassVar = ConfigDict(extra="forbid")

    dist: Literal["uniform"]
    min: int
    max: int

    def __post_init__(self) -> None:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")

    @property
    def bounds(self) -> tuple[int, int]:
        return self.min, self.max

    def draw(self, rng: random.Random) -> int:
        return rng.randint(self.min, self.max)


@dataclass(frozen=True, slots=True)
class LogNormal:
    __pydantic_config__: ClassVar = ConfigDict(extra="forbid")

    dist: Literal["lognormal"]
    median: float
    sigma: float
    min: int
    max: int

    def __post_init__(self) -> None:
        problems = []
        if not self.median > 0:
            problems.append("median must be > 0")
        if not 0 < self.sigma <= 10:
            problems.append("sigma must be within (0, 10]")
        if self.min > self.max:
            problems.append(f"min ({self.min}) must be <= max ({self.max})")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def bounds(self) -> tuple[int, int]:
        return self.min, self.max

    def draw(self, rng: random.Random) -> int:
        mu = math.log(self.median)
        low = 0.0 if self.min <= 0 else _STANDARD_NORMAL.cdf((math.log(self.min) - mu) / self.sigma)
        high = _STANDARD_NORMAL.cdf((math.log(self.max + 1) - mu) / self.sigma)
        quantile = min(max(low + (high - low) * rng.random(), _EDGE), 1.0 - _EDGE)
        value = math.exp(mu + self.sigma * _STANDARD_NORMAL.inv_cdf(quantile))
        # Rounding down keeps [min, max + 1) within [min, max]; the clamp absorbs float noise.
        return min(max(int(value), self.min), self.max)


@dataclass(frozen=True, slots=True)
class Choice:
    __pydantic_config__: ClassVar = ConfigDict(extra="forbid")

    dist: Literal["choice"]
    values: tuple[int, ...]
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= len(self.values) <= _MAX_CHOICES:
            problems.append(f"values must hold 1..{_MAX_CHOICES} numbers")
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                problems.append("weights must be as many as values")
            elif any(not w >= 0 for w in self.weights) or not sum(self.weights) > 0:
                problems.append("weights must be >= 0 and not all 0")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def bounds(self) -> tuple[int, int]:
        return min(self.values), max(self.values)

    def draw(self, rng: random.Random) -> int:
        if self.weights is None:
            return self.values[rng.randrange(len(self.values))]
        cumulative = list(itertools.accumulate(self.weights))
        at = bisect.bisect_right(cumulative, rng.random() * cumulative[-1])
        return self.values[min(at, len(self.values) - 1)]


Distribution = Annotated[Uniform | LogNormal | Choice, Field(discriminator="dist")]
# A per-request number: fixed, or drawn per request.
IntSpec = int | Distribution


def spec_bounds(spec: IntSpec) -> tuple[int, int]:
    """The least and the most a spec can give."""
    return (spec, spec) if isinstance(spec, int) else spec.bounds


def bounds_problem(name: str, spec: IntSpec, low: int, high: int) -> str | None:
    """A problem if the spec can give a value outside [low, high]."""
    least, most = spec_bounds(spec)
    if least < low or most > high:
        return f"{name} must be within {low}..{high}"
    return None


def draw(spec: IntSpec, rng: random.Random) -> int:
    return spec if isinstance(spec, int) else spec.draw(rng)


def seeded_rng(seed: int, purpose: str) -> random.Random:
    """The run's generator for one purpose (arrivals, kinds, sizes...): each purpose draws from
    its own, so that changing one part of a workload leaves the others' draws as they were."""
    return random.Random(f"{seed}:{purpose}")
