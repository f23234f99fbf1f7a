import json

import pytest

from router.config.model import HealthSettings
from router.endpoints.health import EndpointHealth, FailureKind, HealthBoard, HealthState
from tests.fake_clock import FakeClock

SETTINGS = HealthSettings(
    consecutive_failures=5,
    base_ejection_s=30.0,
    max_ejection_s=300.0,
    max_ejection_percent=50.0,
    probe_failures_to_eject=2,
    startup_grace_s=0.0,  # these tests judge endpoints past their start-up
)
NAMES = ("us-east", "us-west", "eu-west", "ap-south")


def make_board(
    names: tuple[str, ...] = NAMES, settings: HealthSettings = SETTINGS
) -> tuple[HealthBoard, FakeClock]:
    clock = FakeClock()
    return HealthBoard(settings, clock, names), clock


def fail(board: HealthBoard, name: str, times: int, kind: FailureKind) -> list[bool]:
    return [board.record_failure(name, kind) for _ in range(times)]


def eject_once(health: EndpointHealth) -> None:
    for _ in range(SETTINGS.consecutive_failures):
        wants = health.record_failure(FailureKind.STATUS_5XX)
    assert wants
    health.eject()


def test_five_consecutive_5xx_eject_the_endpoint() -> None:
    board, _ = make_board()
    assert fail(board, "us-east", 5, FailureKind.STATUS_5XX) == [False] * 4 + [True]
    assert board.get("us-east").state is HealthState.EJECTED
    assert not board.available("us-east")
    assert board.available("us-west")


def test_connect_errors_timeouts_and_5xx_share_one_streak() -> None:
    board, _ = make_board()
    kinds = [FailureKind.CONNECT, FailureKind.TIMEOUT, FailureKind.STATUS_5XX] * 2
    ejected = [board.record_failure("us-east", kind) for kind in kinds[:5]]
    assert ejected == [False] * 4 + [True]


def test_a_success_in_between_resets_the_consecutive_count() -> None:
    board, _ = make_board()
    fail(board, "us-east", 4, FailureKind.STATUS_5XX)
    board.record_success("us-east")
    assert board.get("us-east").consecutive_failures == 0
    assert fail(board, "us-east", 4, FailureKind.STATUS_5XX) == [False] * 4
    assert board.get("us-east").state is HealthState.HEALTHY


def test_429_neither_ejects_nor_resets_the_streak_but_is_counted() -> None:
    board, _ = make_board()
    fail(board, "us-east", 4, FailureKind.STATUS_5XX)
    assert fail(board, "us-east", 10, FailureKind.STATUS_429) == [False] * 10
    health = board.get("us-east")
    assert health.state is HealthState.HEALTHY
    assert health.consecutive_failures == 4
    assert health.rate_limited == 10
    assert board.record_failure("us-east", FailureKind.STATUS_5XX)


def test_ejected_endpoint_turns_half_open_when_its_time_is_up() -> None:
    health = EndpointHealth(SETTINGS, clock := FakeClock())
    eject_once(health)
    clock.advance(29.99)
    assert not health.available()
    assert health.as_dict()["state"] == "ejected"
    clock.advance(0.01)
    assert health.state is HealthState.HALF_OPEN
    assert health.available()


def test_backoff_doubles_with_each_ejection_and_caps_at_the_maximum() -> None:
    health = EndpointHealth(SETTINGS, clock := FakeClock())
    durations = []
    for _ in range(6):
        durations.append(health.eject())
        clock.advance(durations[-1])
        assert health.state is HealthState.HALF_OPEN
        health.begin_trial()
        assert health.record_failure(FailureKind.TIMEOUT)
    assert durations == [30.0, 60.0, 120.0, 240.0, 300.0, 300.0]
    assert health.times_ejected == 6


def test_backoff_never_overflows_after_many_ejections() -> None:
    health = EndpointHealth(SETTINGS, FakeClock())
    health.times_ejected = 10_000
    assert health.eject() == 300.0


def test_half_open_admits_exactly_one_trial_at_a_time() -> None:
    health = EndpointHealth(SETTINGS, clock := FakeClock())
    eject_once(health)
    clock.advance(30.0)
    assert health.admits_trial()
    health.begin_trial()
    assert not health.admits_trial()
    assert not health.available()
    assert health.state is HealthState.HALF_OPEN


def test_healthy_endpoint_needs_no_trial_and_begin_trial_is_a_no_op() -> None:
    health = EndpointHealth(SETTINGS, FakeClock())
    assert not health.admits_trial()
    health.begin_trial()
    assert health.available()


def test_successful_trial_readmits_the_endpoint() -> None:
    health = EndpointHealth(SETTINGS, clock := FakeClock())
    eject_once(health)
    clock.advance(30.0)
    health.begin_trial()
    health.record_success()
    assert health.state is HealthState.HEALTHY
    assert health.available()
    assert health.consecutive_failures == 0
    assert health.times_ejected == 1


def test_failed_trial_ejects_again_for_longer() -> None:
    board, clock = make_board()
    fail(board, "us-east", 5, FailureKind.STATUS_5XX)
    clock.advance(30.0)
    board.get("us-east").begin_trial()
    assert board.record_failure("us-east", FailureKind.CONNECT)
    health = board.get("us-east")
    assert health.state is HealthState.EJECTED
    assert health.ejected_until_s == clock.now() + 60.0


def test_a_lost_trial_frees_its_slot_after_the_base_ejection_time() -> None:
    health = EndpointHealth(SETTINGS, clock := FakeClock())
    eject_once(health)
    clock.advance(30.0)
    health.begin_trial()
    clock.advance(29.0)
    assert not health.admits_trial()
    clock.advance(1.0)
    assert health.admits_trial()


def test_cancelled_trial_frees_the_slot_at_once() -> None:
    health = EndpointHealth(SETTINGS, clock := FakeClock())
    eject_once(health)
    clock.advance(30.0)
    health.begin_trial()
    health.cancel_trial()
    assert health.admits_trial()


def test_429_on_a_trial_frees_the_slot_without_a_verdict() -> None:
    health = EndpointHealth(SETTINGS, clock := FakeClock())
    eject_once(health)
    clock.advance(30.0)
    health.begin_trial()
    assert not health.record_failure(FailureKind.STATUS_429)
    assert health.state is HealthState.HALF_OPEN
    assert health.admits_trial()


def test_failures_of_stragglers_while_ejected_change_nothing() -> None:
    health = EndpointHealth(SETTINGS, clock := FakeClock())
    eject_once(health)
    until_s = health.ejected_until_s
    assert not health.record_failure(FailureKind.STATUS_5XX)
    health.record_success()
    assert health.state is HealthState.EJECTED
    assert health.ejected_until_s == until_s
    clock.advance(30.0)
    assert health.admits_trial()


def test_successful_probe_does_not_end_an_ejection_early() -> None:
    health = EndpointHealth(SETTINGS, clock := FakeClock())
    eject_once(health)
    clock.advance(10.0)
    assert not health.record_probe(True, 12.0)
    assert health.state is HealthState.EJECTED
    assert health.last_probe_rtt_ms == 12.0


def test_successful_probe_while_half_open_counts_as_the_trial_success() -> None:
    health = EndpointHealth(SETTINGS, clock := FakeClock())
    eject_once(health)
    clock.advance(30.0)
    health.record_probe(True, 12.0)
    assert health.state is HealthState.HEALTHY


def test_failed_probe_while_half_open_ejects_again() -> None:
    board, clock = make_board()
    fail(board, "us-east", 5, FailureKind.STATUS_5XX)
    clock.advance(30.0)
    assert board.record_probe("us-east", False, None)
    assert board.get("us-east").ejected_until_s == clock.now() + 60.0


def test_consecutive_probe_failures_eject_a_healthy_endpoint() -> None:
    board, _ = make_board()
    assert not board.record_probe("us-east", False, None)
    assert board.record_probe("us-east", False, None)
    assert board.get("us-east").state is HealthState.EJECTED


def test_a_good_probe_in_between_resets_the_probe_failure_count() -> None:
    board, _ = make_board()
    board.record_probe("us-east", False, None)
    board.record_probe("us-east", True, 15.0)
    assert not board.record_probe("us-east", False, None)
    assert board.get("us-east").state is HealthState.HEALTHY
    assert board.get("us-east").consecutive_probe_failures == 1


def test_probe_failure_reported_as_a_failure_kind_counts_as_a_probe() -> None:
    board, _ = make_board()
    assert not board.record_failure("us-east", FailureKind.PROBE)
    assert board.record_failure("us-east", FailureKind.PROBE)
    assert board.get("us-east").consecutive_failures == 0


def test_past_ejections_are_forgotten_one_per_max_ejection_time_spent_healthy() -> None:
    health = EndpointHealth(SETTINGS, clock := FakeClock())
    for _ in range(3):
        eject_once(health)
        until_s = health.ejected_until_s
        assert until_s is not None
        clock.advance(until_s - clock.now())
        health.record_success()
    assert health.times_ejected == 3
    clock.advance(2 * SETTINGS.max_ejection_s)
    assert health.as_dict()["times_ejected"] == 1
    eject_once(health)
    assert health.times_ejected == 2
    assert health.ejected_until_s == clock.now() + 60.0
    assert health.ejections == 4  # what the metrics count never decays


def test_max_ejection_percent_stops_the_last_healthy_endpoints_from_being_ejected() -> None:
    board, _ = make_board()
    assert fail(board, "us-east", 5, FailureKind.STATUS_5XX)[-1]
    assert fail(board, "us-west", 5, FailureKind.STATUS_5XX)[-1]
    assert fail(board, "eu-west", 5, FailureKind.STATUS_5XX) == [False] * 5
    assert board.get("eu-west").state is HealthState.HEALTHY
    assert board.available("eu-west")
    assert board.out_count() == 2


def test_an_endpoint_refused_ejection_is_ejected_once_capacity_returns() -> None:
    board, clock = make_board(("a", "b"))
    fail(board, "a", 5, FailureKind.STATUS_5XX)
    fail(board, "b", 5, FailureKind.STATUS_5XX)
    assert board.get("b").state is HealthState.HEALTHY
    clock.advance(30.0)
    board.record_success("a")
    assert board.record_failure("b", FailureKind.STATUS_5XX)


def test_at_least_one_of_two_endpoints_may_be_ejected_under_a_low_percentage() -> None:
    board, _ = make_board(("a", "b"), SETTINGS.model_copy(update={"max_ejection_percent": 10.0}))
    assert fail(board, "a", 5, FailureKind.STATUS_5XX)[-1]
    assert fail(board, "b", 5, FailureKind.STATUS_5XX) == [False] * 5


def test_the_only_endpoint_is_not_ejected_below_100_percent() -> None:
    board, _ = make_board(("solo",))
    assert fail(board, "solo", 10, FailureKind.STATUS_5XX) == [False] * 10
    assert board.available("solo")


def test_100_percent_allows_ejecting_every_endpoint() -> None:
    board, _ = make_board(("a", "b"), SETTINGS.model_copy(update={"max_ejection_percent": 100.0}))
    assert fail(board, "a", 5, FailureKind.STATUS_5XX)[-1]
    assert fail(board, "b", 5, FailureKind.STATUS_5XX)[-1]


def test_zero_percent_disables_ejection() -> None:
    board, _ = make_board(NAMES, SETTINGS.model_copy(update={"max_ejection_percent": 0.0}))
    assert fail(board, "us-east", 10, FailureKind.STATUS_5XX) == [False] * 10


def test_a_failed_trial_re_ejects_even_at_the_ejection_limit() -> None:
    board, clock = make_board(("a", "b"))
    fail(board, "a", 5, FailureKind.STATUS_5XX)
    clock.advance(30.0)
    assert board.record_failure("a", FailureKind.TIMEOUT)
    assert board.get("a").state is HealthState.EJECTED


def test_sync_keeps_the_state_of_known_endpoints_and_drops_the_rest() -> None:
    board, _ = make_board()
    fail(board, "us-east", 5, FailureKind.STATUS_5XX)
    before = board.get("us-east")
    board.sync(["us-east", "new"])
    assert board.names() == ("us-east", "new")
    assert board.get("us-east") is before
    assert board.available("new")
    with pytest.raises(KeyError):
        board.get("us-west")


def test_admin_view_reports_state_counts_and_remaining_ejection() -> None:
    board, clock = make_board()
    fail(board, "us-east", 5, FailureKind.STATUS_5XX)
    board.record_probe("us-east", False, None)
    clock.advance(10.006)
    view = board.as_dict()
    assert view["us-east"] == {
        "state": "ejected",
        "starting": False,
        "answered": False,
        "consecutive_failures": 0,
        "consecutive_probe_failures": 1,
        "times_ejected": 1,
        "ejected_for_s": 19.99,
        "trial_in_flight": False,
        "rate_limited": 0,
        "last_probe_rtt_ms": None,
    }
    assert view["us-west"]["state"] == "healthy"
    assert view["us-west"]["ejected_for_s"] == 0.0
    json.dumps(view)


STARTING = SETTINGS.model_copy(update={"startup_grace_s": 30.0})


def test_failed_probes_never_eject_an_endpoint_inside_its_start_up_grace() -> None:
    board, clock = make_board(settings=STARTING)
    for _ in range(20):
        assert not board.record_probe("us-east", False, None)
        clock.advance(1.0)
    health = board.get("us-east")
    assert health.state is HealthState.HEALTHY and health.starting and not health.answered


def test_failed_probes_eject_an_endpoint_that_never_answered_once_its_grace_is_over() -> None:
    board, clock = make_board(settings=STARTING)
    board.record_probe("us-east", False, None)
    clock.advance(30.0)
    assert not board.get("us-east").starting
    assert not board.record_probe("us-east", False, None)
    assert board.record_probe("us-east", False, None)


def test_an_endpoint_that_answered_is_judged_at_once_inside_the_grace() -> None:
    board, _ = make_board(settings=STARTING)
    board.record_probe("us-east", True, 5.0)
    health = board.get("us-east")
    assert health.answered and not health.starting
    assert not board.record_probe("us-east", False, None)
    assert board.record_probe("us-east", False, None)


def test_real_traffic_failures_still_eject_an_endpoint_that_is_starting() -> None:
    board, _ = make_board(settings=STARTING)
    assert fail(board, "us-east", 5, FailureKind.CONNECT)[-1]
    assert board.get("us-east").state is HealthState.EJECTED


def test_a_successful_request_counts_as_an_answer() -> None:
    board, _ = make_board(settings=STARTING)
    board.record_success("us-east")
    assert board.get("us-east").answered


def test_readmissions_count_each_return_from_half_open() -> None:
    health = EndpointHealth(SETTINGS, clock := FakeClock())
    assert health.readmissions == 0
    eject_once(health)
    clock.advance(10.0)
    health.record_probe(True, 12.0)  # still ejected: no readmission
    assert health.readmissions == 0
    clock.advance(30.0)
    health.record_probe(True, 12.0)
    assert health.state is HealthState.HEALTHY and health.readmissions == 1
