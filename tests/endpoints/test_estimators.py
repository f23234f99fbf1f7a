import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.config.model import EstimatorSettings
from router.endpoints.estimators import (
    EndpointModelStats,
    PeakEwma,
    RecentQuantile,
    RttEwma,
    predicted_latency_ms,
)
from tests.fake_clock import FakeClock

TAU_S = 10.0


def test_rtt_ewma_is_empty_before_the_first_sample_and_takes_it_as_is() -> None:
    rtt = RttEwma(alpha=0.3)
    assert rtt.value_ms is None
    assert rtt.last_ms is None
    assert rtt.samples == 0
    rtt.observe(40.0)
    assert rtt.value_ms == 40.0
    assert rtt.last_ms == 40.0
    assert rtt.samples == 1


def test_rtt_ewma_moves_alpha_of_the_way_toward_each_sample() -> None:
    rtt = RttEwma(alpha=0.25)
    rtt.observe(40.0)
    rtt.observe(80.0)
    assert rtt.value_ms == pytest.approx(50.0)
    rtt.observe(10.0)
    assert rtt.value_ms == pytest.approx(40.0)
    assert rtt.last_ms == 10.0
    assert rtt.samples == 3


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.5])
def test_rtt_ewma_rejects_an_alpha_outside_zero_to_one(alpha: float) -> None:
    with pytest.raises(ValueError):
        RttEwma(alpha)


def test_peak_ewma_has_no_value_before_any_sample() -> None:
    ewma = PeakEwma(TAU_S, FakeClock())
    assert ewma.value_ms(20.0) is None
    assert ewma.samples == 0


def test_peak_ewma_jumps_to_a_spike_and_decays_toward_the_floor() -> None:
    clock = FakeClock()
    ewma = PeakEwma(TAU_S, clock)
    ewma.observe(100.0)
    clock.advance(1.0)
    ewma.observe(900.0)
    assert ewma.value_ms(50.0) == 900.0
    clock.advance(TAU_S)
    assert ewma.value_ms(50.0) == pytest.approx(50.0 + 850.0 * math.exp(-1.0))
    clock.advance(20 * TAU_S)
    assert ewma.value_ms(50.0) == pytest.approx(50.0, abs=1e-4)


def test_peak_ewma_blends_a_lower_sample_by_the_time_since_the_last_one() -> None:
    clock = FakeClock()
    ewma = PeakEwma(TAU_S, clock)
    ewma.observe(300.0)
    clock.advance(TAU_S)
    ewma.observe(100.0)
    w = math.exp(-1.0)
    assert ewma.cost_ms == pytest.approx(300.0 * w + 100.0 * (1 - w))
    assert ewma.samples == 2


def test_peak_ewma_lower_samples_in_quick_succession_barely_move_it() -> None:
    clock = FakeClock()
    ewma = PeakEwma(TAU_S, clock)
    ewma.observe(300.0)
    ewma.observe(100.0)
    assert ewma.cost_ms == 300.0


def test_peak_ewma_reading_does_not_change_the_estimate() -> None:
    clock = FakeClock()
    ewma = PeakEwma(TAU_S, clock)
    ewma.observe(500.0)
    clock.advance(TAU_S)
    first = ewma.value_ms(0.0)
    assert ewma.value_ms(0.0) == first
    assert ewma.cost_ms == 500.0
    assert ewma.samples == 1


def test_peak_ewma_below_the_floor_is_believed_over_the_probe() -> None:
    clock = FakeClock()
    ewma = PeakEwma(TAU_S, clock)
    ewma.observe(30.0)
    clock.advance(TAU_S)
    assert ewma.value_ms(50.0) == 30.0


def test_peak_ewma_lower_bound_raises_the_cost_but_never_lowers_it() -> None:
    clock = FakeClock()
    ewma = PeakEwma(TAU_S, clock)
    ewma.observe(200.0)
    clock.advance(TAU_S)
    ewma.observe_lower_bound(5.0)
    assert ewma.cost_ms == 200.0
    assert ewma.samples == 1
    ewma.observe_lower_bound(2000.0)
    assert ewma.cost_ms == 2000.0


def test_peak_ewma_rejects_a_non_positive_tau() -> None:
    with pytest.raises(ValueError):
        PeakEwma(0.0, FakeClock())


samples_strategy = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=60_000.0),
        st.floats(min_value=0.0, max_value=100.0),
    ),
    min_size=1,
    max_size=30,
)


@given(
    samples=samples_strategy,
    floor_ms=st.floats(min_value=0.0, max_value=1000.0),
    idle_s=st.floats(min_value=0.0, max_value=1000.0),
)
def test_peak_ewma_value_stays_between_the_floor_and_the_largest_sample(
    samples: list[tuple[float, float]], floor_ms: float, idle_s: float
) -> None:
    clock = FakeClock()
    ewma = PeakEwma(TAU_S, clock)
    for sample_ms, gap_s in samples:
        clock.advance(gap_s)
        ewma.observe(floor_ms + sample_ms)
    clock.advance(idle_s)
    value = ewma.value_ms(floor_ms)
    assert value is not None
    largest = max(floor_ms + s for s, _ in samples)
    assert floor_ms <= value <= largest * (1 + 1e-12)


@given(
    samples=samples_strategy,
    floor_ms=st.floats(min_value=0.0, max_value=60_000.0),
    idle_s=st.floats(min_value=0.0, max_value=1000.0),
)
def test_peak_ewma_value_never_leaves_the_range_of_floor_and_samples(
    samples: list[tuple[float, float]], floor_ms: float, idle_s: float
) -> None:
    clock = FakeClock()
    ewma = PeakEwma(TAU_S, clock)
    for sample_ms, gap_s in samples:
        clock.advance(gap_s)
        ewma.observe(sample_ms)
    clock.advance(idle_s)
    value = ewma.value_ms(floor_ms)
    assert value is not None
    low = min(floor_ms, min(s for s, _ in samples))
    high = max(s for s, _ in samples)
    assert low <= value <= high * (1 + 1e-12)


def make_stats(clock: FakeClock) -> EndpointModelStats:
    return EndpointModelStats(EstimatorSettings(peak_ewma_tau_s=TAU_S), clock)


def test_stats_count_requests_in_flight_and_failures() -> None:
    stats = make_stats(FakeClock())
    stats.begin()
    stats.begin()
    assert stats.in_flight == 2
    stats.end(ok=True, elapsed_ms=120.0)
    stats.end(ok=False, elapsed_ms=50.0)
    assert (stats.in_flight, stats.requests, stats.failures) == (0, 2, 1)


def test_stats_successful_json_feeds_latency_and_streaming_feeds_ttft() -> None:
    stats = make_stats(FakeClock())
    stats.begin()
    stats.end(ok=True, elapsed_ms=900.0)
    stats.begin()
    stats.end(ok=True, elapsed_ms=2500.0, ttft_ms=150.0, streaming=True)
    assert stats.latency.cost_ms == 900.0
    assert stats.ttft.cost_ms == 150.0


def test_stats_stream_failing_before_its_first_byte_raises_ttft() -> None:
    stats = make_stats(FakeClock())
    stats.begin()
    stats.end(ok=True, elapsed_ms=1000.0, ttft_ms=150.0, streaming=True)
    stats.begin()
    stats.end(ok=False, elapsed_ms=5000.0, streaming=True)
    assert stats.ttft.cost_ms == 5000.0
    assert stats.latency.cost_ms is None


def test_stats_fast_failure_does_not_make_an_endpoint_look_faster() -> None:
    stats = make_stats(FakeClock())
    stats.begin()
    stats.end(ok=True, elapsed_ms=800.0)
    stats.begin()
    stats.end(ok=False, elapsed_ms=3.0)
    assert stats.latency.cost_ms == 800.0


def test_stats_abandoned_attempt_leaves_the_estimates_and_failures_alone() -> None:
    stats = make_stats(FakeClock())
    stats.begin()
    stats.abandon()
    stats.abandon()
    assert (stats.in_flight, stats.requests, stats.failures) == (0, 1, 0)
    assert stats.latency.samples == 0 and stats.ttft.samples == 0


def test_stats_in_flight_never_goes_negative() -> None:
    stats = make_stats(FakeClock())
    stats.end(ok=True, elapsed_ms=10.0)
    assert stats.in_flight == 0


def predict(
    stats: EndpointModelStats | None, rtt_ms: float | None, *, streaming: bool = True
) -> float:
    return predicted_latency_ms(
        stats, rtt_ms, streaming=streaming, prior_ttft_ms=200.0, endpoint_in_flight=0
    )


def test_prediction_for_a_stream_reads_ttft_and_for_json_reads_latency() -> None:
    stats = make_stats(FakeClock())
    stats.ttft.observe(150.0)
    stats.latency.observe(900.0)
    assert predict(stats, 20.0, streaming=True) == 150.0
    assert predict(stats, 20.0, streaming=False) == 900.0


def test_prediction_falls_back_to_the_other_estimate() -> None:
    stats = make_stats(FakeClock())
    stats.latency.observe(900.0)
    assert (
        predicted_latency_ms(stats, 20.0, streaming=True, prior_ttft_ms=200.0, endpoint_in_flight=0)
        == 900.0
    )


def test_prediction_without_traffic_is_rtt_plus_the_prior() -> None:
    stats = make_stats(FakeClock())
    assert predict(stats, 35.0) == 235.0
    assert predict(None, 35.0) == 235.0
    assert predict(None, None) == 200.0


def test_prediction_scales_with_the_endpoint_requests_in_flight() -> None:
    stats = make_stats(FakeClock())
    stats.ttft.observe(100.0)
    assert (
        predicted_latency_ms(stats, 20.0, streaming=True, prior_ttft_ms=200.0, endpoint_in_flight=3)
        == 400.0
    )


def test_prediction_after_a_spike_and_no_traffic_decays_toward_the_rtt() -> None:
    clock = FakeClock()
    stats = make_stats(clock)
    stats.ttft.observe(4000.0)
    clock.advance(30 * TAU_S)
    predicted = predicted_latency_ms(
        stats, 40.0, streaming=True, prior_ttft_ms=200.0, endpoint_in_flight=0
    )
    assert predicted == pytest.approx(40.0, abs=0.01)


def test_admin_view_is_plain_json_rounded_to_hundredths_of_a_ms() -> None:
    clock = FakeClock()
    stats = make_stats(clock)
    stats.begin()
    stats.ttft.observe(123.456789)
    rtt = RttEwma(0.3)
    rtt.observe(12.3456)
    view = stats.as_dict(rtt.value_ms)
    assert view["ttft"] == {"cost_ms": 123.46, "value_ms": 123.46, "samples": 1}
    assert view["latency"] == {"cost_ms": None, "value_ms": None, "samples": 0}
    assert view["in_flight"] == 1
    assert rtt.as_dict() == {"value_ms": 12.35, "last_ms": 12.35, "samples": 1}
    json.dumps(view)


def test_recent_quantile_is_empty_until_the_first_sample() -> None:
    window = RecentQuantile(8)
    assert window.quantile(0.95) is None
    assert window.samples == 0
    window.observe(12.0)
    assert window.quantile(0.95) == 12.0
    assert window.quantile(0.5) == 12.0


def test_recent_quantile_is_the_nearest_rank_of_the_window() -> None:
    window = RecentQuantile(100)
    for sample in range(100, 0, -1):  # 100 down to 1, in reverse to show it sorts
        window.observe(float(sample))
    assert window.quantile(0.95) == 95.0
    assert window.quantile(0.5) == 50.0
    assert window.quantile(1.0) == 100.0
    assert window.quantile(0.001) == 1.0


def test_recent_quantile_forgets_the_oldest_sample_once_full() -> None:
    window = RecentQuantile(4)
    for sample in (1000.0, 1.0, 2.0, 3.0):
        window.observe(sample)
    assert window.quantile(1.0) == 1000.0
    window.observe(4.0)  # pushes out 1000
    assert window.samples == 4
    assert window.quantile(1.0) == 4.0
    window.observe(5.0)  # pushes out 1
    assert window.quantile(0.25) == 2.0


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=300))
def test_recent_quantile_matches_a_sort_of_the_last_samples(samples: list[float]) -> None:
    window = RecentQuantile(64)
    for sample in samples:
        window.observe(sample)
    last = sorted(samples[-64:])
    assert window.samples == len(last)
    assert window.quantile(0.95) == last[math.ceil(0.95 * len(last)) - 1]


def test_stats_feed_the_p95_windows_with_successful_first_bytes_only() -> None:
    stats = make_stats(FakeClock())
    stats.begin()
    stats.end(ok=True, elapsed_ms=900.0)
    stats.begin()
    stats.end(ok=True, elapsed_ms=2500.0, ttft_ms=150.0, streaming=True)
    stats.begin()
    stats.end(ok=False, elapsed_ms=5000.0)  # a JSON failure
    stats.begin()
    stats.end(ok=False, elapsed_ms=7000.0, streaming=True)  # a stream failing before its first
    stats.begin()
    stats.abandon()
    p95 = stats.as_dict()["p95"]
    assert p95 == {
        "ttft_ms": 150.0,
        "ttft_samples": 1,
        "latency_ms": 900.0,
        "latency_samples": 1,
    }


@pytest.mark.parametrize("streaming", [True, False])
def test_an_attempt_outrun_by_a_hedge_raises_the_estimate_as_a_lower_bound_only(
    streaming: bool,
) -> None:
    stats = make_stats(FakeClock())
    for _ in range(3):
        stats.begin()
        stats.end(ok=True, elapsed_ms=50.0, ttft_ms=20.0 if streaming else None, streaming=True)
        stats.begin()
        stats.end(ok=True, elapsed_ms=50.0)
    estimate = stats.ttft if streaming else stats.latency
    before = estimate.cost_ms
    assert before is not None
    stats.begin()
    stats.outrun(elapsed_ms=400.0, streaming=streaming)
    assert estimate.cost_ms == pytest.approx(400.0)  # it took at least that long
    stats.begin()
    stats.outrun(elapsed_ms=10.0, streaming=streaming)  # a lower bound never lowers it
    assert estimate.cost_ms == pytest.approx(400.0)
    view = stats.as_dict()
    assert view["failures"] == 0 and view["in_flight"] == 0
    assert view["p95"]["ttft_samples" if streaming else "latency_samples"] == 3


def test_a_cost_set_by_a_failure_is_forgotten_on_readmission_a_measured_one_is_not() -> None:
    clock = FakeClock()
    timed_out = PeakEwma(TAU_S, clock)
    timed_out.observe(10.0)
    clock.advance(1.0)
    timed_out.observe_lower_bound(1000.0)  # an attempt that timed out after 1 s
    timed_out.forget_penalty()
    assert timed_out.value_ms(floor_ms=10.0) is None  # measured afresh by the next request
    slow = PeakEwma(TAU_S, clock)
    slow.observe(1000.0)  # a real, slow answer: no penalty to forget
    slow.forget_penalty()
    assert slow.cost_ms == 1000.0
    measured_after = PeakEwma(TAU_S, clock)
    measured_after.observe_lower_bound(1000.0)
    measured_after.observe(2000.0)  # then an answer measured: the cost is that measurement's
    measured_after.forget_penalty()
    assert measured_after.cost_ms == 2000.0
