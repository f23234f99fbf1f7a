"""Experiment arms: a stable hash keeps a user on one arm, and arms get traffic by weight."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from router.policy.experiments import assign, sticky_key, sticky_point
from router.policy.model import Experiment, SplitArm


def experiment(
    *weights: float, name: str = "canary", sticky_by: str = "user", header: str | None = None
) -> Experiment:
    return Experiment.model_validate(
        {
            "name": name,
            "applies_to": "arm0",
            "arms": [SplitArm(alias=f"arm{i}", weight=w) for i, w in enumerate(weights)],
            "sticky_by": sticky_by,
            "header": header,
        }
    )


def test_the_same_key_always_gets_the_same_arm_without_touching_the_generator() -> None:
    split = experiment(1, 1)
    rng = random.Random(1)
    arms = {assign(split, "user-42", rng).alias for _ in range(20)}
    assert len(arms) == 1
    assert rng.random() == random.Random(1).random()  # nothing was drawn


def test_the_point_is_fixed_across_processes() -> None:
    # BLAKE2b, not the per-process salted hash(): these values must never change, or users
    # would move between arms when routers restart or differ between PoPs.
    assert sticky_point("canary", "user-42") == sticky_point("canary", "user-42")
    assert round(sticky_point("canary", "user-42"), 12) == 0.613076978427
    assert round(sticky_point("other", "user-42"), 12) == 0.777079724996


def test_arms_get_traffic_in_proportion_to_their_weights() -> None:
    split = experiment(3, 1)
    counts = Counter(assign(split, f"user-{i}", random.Random(0)).alias for i in range(4000))
    assert 2850 <= counts["arm0"] <= 3150
    assert counts["arm0"] + counts["arm1"] == 4000


def test_experiments_with_different_names_split_users_independently() -> None:
    users = [f"user-{i}" for i in range(2000)]
    first = [assign(experiment(1, 1, name="a"), u, random.Random(0)).alias for u in users]
    second = [assign(experiment(1, 1, name="b"), u, random.Random(0)).alias for u in users]
    same = sum(x == y for x, y in zip(first, second, strict=True))
    assert 900 <= same <= 1100  # about half, not all


def test_raising_a_weight_moves_only_users_across_the_boundary() -> None:
    users = [f"user-{i}" for i in range(2000)]
    before = {u: assign(experiment(95, 5), u, random.Random(0)).alias for u in users}
    after = {u: assign(experiment(90, 10), u, random.Random(0)).alias for u in users}
    assert all(after[u] == "arm1" for u in users if before[u] == "arm1")


def test_without_a_key_the_arm_is_drawn_from_the_generator_and_says_so() -> None:
    split = experiment(1, 1)
    rng = random.Random(5)
    drawn = [assign(split, None, rng) for _ in range(400)]
    assert not any(a.sticky for a in drawn)
    assert 150 <= sum(a.alias == "arm0" for a in drawn) <= 250
    again = random.Random(5)
    assert [a.alias for a in drawn] == [assign(split, None, again).alias for _ in range(400)]


def test_the_sticky_key_is_the_user_field_or_the_named_header() -> None:
    by_user = experiment(1, 1)
    assert sticky_key(by_user, {"user": "u1"}, {"x-end-user": "h1"}) == "u1"
    assert sticky_key(by_user, {"user": ""}, {}) is None
    assert sticky_key(by_user, {"user": 7}, {}) is None
    assert sticky_key(by_user, {}, {}) is None
    by_header = experiment(1, 1, sticky_by="header", header="x-end-user")
    assert sticky_key(by_header, {"user": "u1"}, {"x-end-user": "h1"}) == "h1"
    assert sticky_key(by_header, {"user": "u1"}, {}) is None


@given(
    weights=st.lists(st.floats(min_value=1e-6, max_value=1e6), min_size=2, max_size=6),
    key=st.text(),
)
def test_every_key_lands_on_an_arm_with_positive_weight(weights: list[float], key: str) -> None:
    split = experiment(*weights)
    assert 0.0 <= sticky_point(split.name, key) < 1.0
    assert assign(split, key, random.Random(0)).alias in {a.alias for a in split.arms}
