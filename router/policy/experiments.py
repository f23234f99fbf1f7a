"""Experiments: which arm of a tenant's traffic split a request goes to.

An experiment splits the traffic a tenant sends to one alias between aliases by relative weight (a
canary, an A/B test). The arm is chosen from a hash of the experiment's name and the request's
sticky key (the end user: the body's `user` field, or a header), mapped into [0, 1) and placed on
the arms' cumulative weights. The hash is BLAKE2b, not Python's `hash()`, which is salted per
process: a user must land on the same arm in every router process, at every PoP and after every
restart. The experiment's name is part of the hash so that two experiments split users
independently. Changing the weights moves only the users between the old and new boundaries.

A request without a sticky key cannot be kept on one arm; it is drawn with the injected random
generator, and the assignment says so.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from router.policy.model import Experiment, TenantPolicy

# 53 bits of the hash: as many as a float holds exactly, so the point is always below 1.
_POINT_BITS = 53


@dataclass(frozen=True, slots=True)
class Assignment:
    experiment: str
    alias: str
    # False when the request had no sticky key and the arm was drawn at random.
    sticky: bool


def experiment_for(policy: TenantPolicy, alias: str) -> Experiment | None:
    """The experiment splitting `alias`; the loader refuses two that split the same alias."""
    for experiment in policy.experiments:
        if experiment.applies_to == alias:
            return experiment
    return None


def sticky_key(
    experiment: Experiment, body: Mapping[str, Any], headers: Mapping[str, str]
) -> str | None:
    """What keeps one end user on one arm, or None when the request does not say who it is for."""
    if experiment.sticky_by == "header":
        value: object = headers.get(experiment.header or "")
    else:
        value = body.get("user")
    return value if isinstance(value, str) and value else None


def assign(experiment: Experiment, key: str | None, rng: random.Random) -> Assignment:
    point = rng.random() if key is None else sticky_point(experiment.name, key)
    return Assignment(experiment.name, _arm_at(experiment, point), sticky=key is not None)


def sticky_arm(experiment: Experiment, key: str) -> str:
    """The alias of the arm an end user's sticky key always lands on."""
    return _arm_at(experiment, sticky_point(experiment.name, key))


def sticky_point(experiment_name: str, key: str) -> float:
    """A stable, uniform point in [0, 1) for this key in this experiment."""
    # Names cannot contain NUL (the policy model's pattern), so the joined text is unambiguous.
    text = f"{experiment_name}\0{key}".encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> (64 - _POINT_BITS)) / (1 << _POINT_BITS)


def _arm_at(experiment: Experiment, point: float) -> str:
    arms = experiment.arms
    remaining = point * sum(arm.weight for arm in arms)
    for arm in arms:
        remaining -= arm.weight
        if remaining < 0:
            return arm.alias
    return arms[-1].alias  # float rounding in the sum at the very top of the range
