import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.config.model import Objective
from router.endpoints.balancer import Candidate, Selection, choose, estimate_price_usd

OBJECTIVES: tuple[Objective, ...] = ("latency", "cost", "balanced")


def cand(
    endpoint: str, latency_ms: float, price_usd: float = 0.0001, available: bool = True
) -> Candidate:
    return Candidate(
        endpoint=endpoint,
        upstream_model="gpt-4o-mini",
        region=endpoint,
        predicted_latency_ms=latency_ms,
        price_usd=price_usd,
        available=available,
    )


def pick(
    candidates: list[Candidate],
    objective: Objective = "latency",
    *,
    slo_ms: float | None = None,
    band: float = 0.2,
    seed: int = 7,
) -> Selection:
    return choose(
        candidates,
        objective=objective,
        latency_slo_ms=slo_ms,
        p2c_band=band,
        rng=random.Random(seed),
    )


def pick_counts(
    candidates: list[Candidate],
    objective: Objective = "latency",
    *,
    band: float = 0.2,
    draws: int = 1000,
) -> Counter[str]:
    rng = random.Random(1234)
    return Counter(
        choose(candidates, objective=objective, latency_slo_ms=None, p2c_band=band, rng=rng)
        .ordered[0]
        .endpoint
        for _ in range(draws)
    )


def names(selection: Selection) -> list[str]:
    return [c.endpoint for c in selection.ordered]


def test_price_estimate_is_tokens_times_price_per_million() -> None:
    assert estimate_price_usd(1000, 500, 0.15, 0.60) == pytest.approx(0.00045)
    assert estimate_price_usd(0, 0, 5.0, 15.0) == 0.0


def test_a_clearly_faster_endpoint_gets_all_the_traffic() -> None:
    counts = pick_counts([cand("near", 40.0), cand("far", 120.0), cand("farther", 200.0)])
    assert counts == Counter({"near": 1000})


def test_two_equal_endpoints_split_the_traffic_near_half() -> None:
    counts = pick_counts([cand("a", 50.0), cand("b", 50.0)])
    assert 450 <= counts["a"] <= 550
    assert counts["a"] + counts["b"] == 1000


def test_among_three_near_best_the_worst_never_wins_and_the_best_wins_most() -> None:
    counts = pick_counts([cand("a", 50.0), cand("b", 52.0), cand("c", 55.0)])
    assert counts["c"] == 0
    assert 620 <= counts["a"] <= 720
    assert 280 <= counts["b"] <= 380


def test_an_endpoint_just_outside_the_band_gets_no_traffic() -> None:
    counts = pick_counts([cand("a", 50.0), cand("b", 50.0), cand("c", 61.0)], band=0.2)
    assert counts["c"] == 0
    assert counts["a"] > 400 and counts["b"] > 400


def test_with_a_zero_band_only_exact_ties_share() -> None:
    counts = pick_counts([cand("a", 50.0), cand("b", 50.0001)], band=0.0)
    assert counts == Counter({"a": 1000})


def test_the_same_seed_gives_the_same_choice() -> None:
    candidates = [cand(str(i), 50.0) for i in range(5)]
    assert names(pick(candidates, seed=3)) == names(pick(candidates, seed=3))


def test_latency_objective_picks_the_fastest_and_orders_the_rest_by_latency() -> None:
    selection = pick([cand("slow", 300.0), cand("fast", 40.0), cand("mid", 90.0)])
    assert names(selection) == ["fast", "mid", "slow"]
    assert not selection.all_unavailable


def test_cost_objective_picks_the_cheapest() -> None:
    selection = pick(
        [cand("fast", 40.0, 0.0009), cand("cheap", 400.0, 0.0001), cand("mid", 90.0, 0.0005)],
        "cost",
    )
    assert names(selection) == ["cheap", "mid", "fast"]


def test_cost_objective_breaks_ties_within_one_percent_by_latency() -> None:
    selection = pick(
        [cand("slow", 400.0, 0.000100), cand("fast", 40.0, 0.0001009), cand("x", 10.0, 0.0002)],
        "cost",
        band=0.0,
    )
    assert names(selection) == ["fast", "slow", "x"]


def test_cost_objective_with_free_endpoints_prefers_the_faster_free_one() -> None:
    selection = pick(
        [cand("paid", 10.0, 0.001), cand("free-slow", 900.0, 0.0), cand("free", 80.0, 0.0)],
        "cost",
        band=0.0,
    )
    assert names(selection) == ["free", "free-slow", "paid"]


def test_balanced_objective_weighs_latency_and_price_relative_to_the_best() -> None:
    # fast: 40/40 + 3/1 = 4; cheap: 200/40 + 1 = 6; middle: 60/40 + 1.5 = 3.
    selection = pick(
        [cand("fast", 40.0, 0.0003), cand("cheap", 200.0, 0.0001), cand("middle", 60.0, 0.00015)],
        "balanced",
        band=0.0,
    )
    assert names(selection) == ["middle", "fast", "cheap"]


def test_balanced_objective_ignores_price_when_everything_is_free() -> None:
    selection = pick([cand("a", 90.0, 0.0), cand("b", 45.0, 0.0)], "balanced", band=0.0)
    assert names(selection) == ["b", "a"]


def test_balanced_objective_does_not_let_a_slow_free_endpoint_win_by_division_by_zero() -> None:
    # local: 2000/100 + 0 = 20; cloud: 1 + 1 = 2.
    selection = pick(
        [cand("local", 2000.0, 0.0), cand("cloud", 100.0, 0.0002)], "balanced", band=0.0
    )
    assert names(selection) == ["cloud", "local"]


def weighed(
    candidates: list[Candidate], latency_weight: float, cost_weight: float, *, band: float = 0.0
) -> Selection:
    return choose(
        candidates,
        objective="balanced",
        latency_slo_ms=None,
        p2c_band=band,
        rng=random.Random(7),
        latency_weight=latency_weight,
        cost_weight=cost_weight,
    )


def test_balanced_with_cost_weight_zero_ranks_like_latency() -> None:
    # Equal weights: fast 40/40 + 10 = 11, cheap 100/40 + 1 = 3.5, so cheap wins.
    candidates = [
        cand("fast", 40.0, 0.001),
        cand("cheap", 100.0, 0.0001),
        cand("mid", 70.0, 0.0005),
    ]
    assert names(pick(candidates, "balanced", band=0.0)) == ["cheap", "mid", "fast"]
    latency_order = names(pick(candidates, "latency", band=0.0))
    assert names(weighed(candidates, 1.0, 0.0)) == latency_order == ["fast", "mid", "cheap"]


def test_balanced_with_latency_weight_zero_ranks_like_cost() -> None:
    candidates = [
        cand("fast", 40.0, 0.0003),
        cand("cheap", 300.0, 0.0001),
        cand("mid", 60.0, 0.0002),
    ]
    assert names(pick(candidates, "balanced", band=0.0)) == ["mid", "fast", "cheap"]
    cost_order = names(pick(candidates, "cost", band=0.0))
    assert names(weighed(candidates, 0.0, 1.0)) == cost_order == ["cheap", "mid", "fast"]


def test_a_heavy_cost_weight_picks_the_cheap_endpoint() -> None:
    candidates = [cand("fast", 40.0, 0.0002), cand("cheap", 100.0, 0.0001)]
    # Equal weights: fast 1 + 2 = 3, cheap 2.5 + 1 = 3.5. Cost x4: fast 1 + 8 = 9, cheap 2.5 + 4.
    assert weighed(candidates, 1.0, 1.0).ordered[0].endpoint == "fast"
    assert names(weighed(candidates, 1.0, 4.0)) == ["cheap", "fast"]
    # Only the ratio matters: the same split scaled up picks the same.
    assert names(weighed(candidates, 10.0, 40.0)) == ["cheap", "fast"]


def test_a_heavy_latency_weight_keeps_a_free_slow_endpoint_from_winning() -> None:
    # local: 2000/100 * w + 0; cloud: 1 * w + 1. Even a latency weight of 0.05 leaves cloud ahead.
    candidates = [cand("local", 2000.0, 0.0), cand("cloud", 100.0, 0.0002)]
    assert names(weighed(candidates, 0.06, 1.0)) == ["cloud", "local"]
    assert names(weighed(candidates, 0.04, 1.0)) == ["local", "cloud"]


def test_the_reason_names_weights_other_than_one_and_one() -> None:
    candidates = [cand("a", 40.0, 0.0002), cand("b", 100.0, 0.0001)]
    assert weighed(candidates, 1.0, 1.0).reason.startswith("objective=balanced; pick=a(")
    assert weighed(candidates, 1.0, 4.0).reason.startswith(
        "objective=balanced(latency=1,cost=4); pick=b("
    )
    latency_only = choose(
        candidates,
        objective="latency",
        latency_slo_ms=None,
        p2c_band=0.0,
        rng=random.Random(7),
        cost_weight=4.0,
    )
    assert latency_only.reason.startswith("objective=latency; pick=a(")


def test_slo_picks_the_cheapest_endpoint_that_meets_it() -> None:
    selection = pick(
        [
            cand("fast-pricey", 50.0, 0.0009),
            cand("ok-cheap", 250.0, 0.0002),
            cand("too-slow-cheapest", 400.0, 0.0001),
        ],
        "latency",
        slo_ms=300.0,
    )
    assert names(selection) == ["ok-cheap", "fast-pricey", "too-slow-cheapest"]
    assert "slo(300ms)" in selection.reason
    assert "slo_missed" not in selection.reason


def test_slo_falls_back_to_the_lowest_latency_when_none_meets_it() -> None:
    selection = pick(
        [cand("slow", 900.0, 0.0001), cand("slower", 1200.0, 0.00001), cand("least", 500.0, 0.01)],
        "cost",
        slo_ms=300.0,
    )
    assert names(selection) == ["least", "slow", "slower"]
    assert "slo_missed" in selection.reason


def test_slo_spreads_load_among_meeting_endpoints_of_near_equal_price() -> None:
    rng = random.Random(99)
    candidates = [
        cand("a", 100.0, 0.0001),
        cand("b", 180.0, 0.0001),
        cand("pricey", 50.0, 0.0005),
        cand("too-slow", 400.0, 0.00001),
    ]
    counts = Counter(
        choose(candidates, objective="cost", latency_slo_ms=250.0, p2c_band=0.2, rng=rng)
        .ordered[0]
        .endpoint
        for _ in range(1000)
    )
    assert counts["pricey"] == 0
    assert counts["too-slow"] == 0
    # Equal price: latency breaks the tie, so "a" wins every draw that includes it.
    assert counts["a"] == 1000


def test_slo_splits_traffic_between_meeting_endpoints_that_are_equal() -> None:
    rng = random.Random(99)
    candidates = [cand("a", 100.0, 0.0001), cand("b", 100.0, 0.0001), cand("c", 50.0, 0.0005)]
    counts = Counter(
        choose(candidates, objective="latency", latency_slo_ms=250.0, p2c_band=0.2, rng=rng)
        .ordered[0]
        .endpoint
        for _ in range(1000)
    )
    assert counts["c"] == 0
    assert 450 <= counts["a"] <= 550


def test_unavailable_candidates_do_not_compete_but_come_last_in_fail_over() -> None:
    selection = pick(
        [cand("ejected-fast", 10.0, available=False), cand("b", 90.0), cand("a", 60.0)]
    )
    assert names(selection) == ["a", "b", "ejected-fast"]
    assert not selection.all_unavailable


def test_when_every_candidate_is_unavailable_the_best_is_tried_anyway() -> None:
    selection = pick([cand("x", 90.0, available=False), cand("y", 30.0, available=False)], band=0.0)
    assert names(selection) == ["y", "x"]
    assert selection.all_unavailable
    assert selection.reason.startswith("all_unavailable; ")


def test_no_candidates_give_an_empty_selection() -> None:
    selection = pick([])
    assert selection.ordered == ()
    assert selection.pick is None


def test_reason_names_the_pick_the_runner_up_and_the_near_best_count() -> None:
    selection = pick([cand("us-east", 34.2, 0.00012), cand("eu-west", 80.1, 0.0003)])
    assert selection.reason == (
        "objective=latency; pick=us-east(34.2ms,$0.000120); over=eu-west(80.1ms,$0.000300); p2c=1"
    )
    assert selection.pick == selection.ordered[0]


def test_reason_stays_short_and_ascii_with_long_or_odd_names() -> None:
    selection = pick([cand("é" * 300, 10.0), cand("b\n" * 300, 20.0)], "balanced", slo_ms=5.0)
    assert len(selection.reason) <= 200
    assert selection.reason.isascii() and selection.reason.isprintable()


candidate_lists = st.lists(
    st.builds(
        lambda latency, price, available: (latency, price, available),
        st.floats(min_value=0.0, max_value=10_000.0),
        st.sampled_from([0.0, 0.00001, 0.0001, 0.001, 0.0101, 0.01]) | st.floats(0.0, 1.0),
        st.booleans(),
    ),
    min_size=1,
    max_size=10,
).map(lambda rows: [cand(f"e{i}", *row) for i, row in enumerate(rows)])
selection_args = {
    "objective": st.sampled_from(OBJECTIVES),
    "slo_ms": st.none() | st.floats(min_value=1.0, max_value=10_000.0),
    "band": st.floats(min_value=0.0, max_value=1.0),
    "seed": st.integers(0, 2**32),
}


@given(candidates=candidate_lists, **selection_args)
def test_every_candidate_appears_exactly_once_in_the_order(
    candidates: list[Candidate], objective: Objective, slo_ms: float | None, band: float, seed: int
) -> None:
    selection = pick(candidates, objective, slo_ms=slo_ms, band=band, seed=seed)
    assert sorted(map(id, selection.ordered)) == sorted(map(id, candidates))


@given(candidates=candidate_lists, **selection_args)
def test_available_candidates_always_come_before_unavailable_ones(
    candidates: list[Candidate], objective: Objective, slo_ms: float | None, band: float, seed: int
) -> None:
    selection = pick(candidates, objective, slo_ms=slo_ms, band=band, seed=seed)
    flags = [c.available for c in selection.ordered]
    assert flags == sorted(flags, reverse=True)
    assert selection.all_unavailable == (not any(flags))
    assert len(selection.reason) <= 200 and selection.reason.isascii()


@given(candidates=candidate_lists, seed=st.integers(0, 2**32))
def test_with_latency_objective_and_no_band_the_pick_is_the_fastest_available(
    candidates: list[Candidate], seed: int
) -> None:
    selection = pick(candidates, "latency", band=0.0, seed=seed)
    competing = [c for c in candidates if c.available] or candidates
    assert selection.ordered[0].predicted_latency_ms == min(
        c.predicted_latency_ms for c in competing
    )


@given(candidates=candidate_lists, **selection_args)
def test_the_pick_scores_within_the_band_of_the_best_order(
    candidates: list[Candidate], objective: Objective, slo_ms: float | None, band: float, seed: int
) -> None:
    best = pick(candidates, objective, slo_ms=slo_ms, band=0.0, seed=seed).ordered[0]
    chosen = pick(candidates, objective, slo_ms=slo_ms, band=band, seed=seed).ordered[0]
    if objective == "latency" and slo_ms is None:
        assert chosen.predicted_latency_ms <= best.predicted_latency_ms * (1 + band)
    if slo_ms is not None and best.predicted_latency_ms <= slo_ms:
        assert chosen.predicted_latency_ms <= slo_ms


@given(candidates=candidate_lists, **selection_args)
def test_default_weights_are_one_and_one(
    candidates: list[Candidate], objective: Objective, slo_ms: float | None, band: float, seed: int
) -> None:
    default = pick(candidates, objective, slo_ms=slo_ms, band=band, seed=seed)
    explicit = choose(
        candidates,
        objective=objective,
        latency_slo_ms=slo_ms,
        p2c_band=band,
        rng=random.Random(seed),
        latency_weight=1.0,
        cost_weight=1.0,
    )
    assert names(default) == names(explicit) and default.reason == explicit.reason


@given(candidates=candidate_lists, seed=st.integers(0, 2**32))
def test_balanced_without_a_cost_weight_picks_the_fastest_available(
    candidates: list[Candidate], seed: int
) -> None:
    selection = choose(
        candidates,
        objective="balanced",
        latency_slo_ms=None,
        p2c_band=0.0,
        rng=random.Random(seed),
        cost_weight=0.0,
    )
    competing = [c for c in candidates if c.available] or candidates
    assert selection.ordered[0].predicted_latency_ms == min(
        c.predicted_latency_ms for c in competing
    )


@given(candidates=candidate_lists, seed=st.integers(0, 2**32))
def test_balanced_without_a_latency_weight_picks_the_cheapest_available(
    candidates: list[Candidate], seed: int
) -> None:
    selection = choose(
        candidates,
        objective="balanced",
        latency_slo_ms=None,
        p2c_band=0.0,
        rng=random.Random(seed),
        latency_weight=0.0,
    )
    competing = [c for c in candidates if c.available] or candidates
    assert selection.ordered[0].price_usd == min(c.price_usd for c in competing)
