"""The workload as data, drawn without a network or a clock: Poisson arrivals on a seeded schedule,
length distributions, the streaming share, tenants by weight, the cache mix of repeats and
rewordings, PII values valid by their check digits (and found by the router's own scan), and the
scenario schema that carries them. Arithmetic on seeded draws only: the same seed, the same
numbers, so every tolerance below is checked once and holds for ever."""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections import Counter
from pathlib import Path

import orjson
import pytest

from loadtest.generator import (
    CacheMix,
    Choice,
    Conversation,
    LoadPlan,
    LoadSettings,
    LogNormal,
    PoissonPlan,
    Tenant,
    Uniform,
    request_body,
    schedule_for,
)
from loadtest.generator.distributions import seeded_rng
from loadtest.generator.pii import (
    PII_KINDS,
    PiiGenerator,
    iban_check_digits,
    iban_valid,
    luhn_check_digit,
    luhn_valid,
)
from loadtest.generator.questions import NEW, QUESTION_KINDS, REPEAT, REWORD, vendored_sources
from loadtest.generator.workload import POOL_SIZE, Workload
from loadtest.harness.runner import Target, phase_settings
from loadtest.harness.scenario import ScenarioInvalid, load_scenario
from router.privacy.detectors import detect

BASE = "http://x/v1"
NEW_SCENARIOS = (
    "steady-poisson",
    "sweep-concurrency",
    "mixed-tenants",
    "cache-mix",
    "pii-mix",
    "multi-turn",
    "responses-stream",
    "messages-stream",
)


def test_poisson_gaps_have_the_rates_mean_and_an_exponentials_dispersion() -> None:
    plan = PoissonPlan.drawn(rate_per_s=200.0, warmup_s=5.0, duration_s=95.0, seed=4)
    offsets = plan.offsets_s()
    gaps = [later - earlier for earlier, later in itertools.pairwise(offsets)]
    mean = statistics.fmean(gaps)
    assert mean == pytest.approx(1 / 200.0, rel=0.02)
    # An exponential's standard deviation is its mean (a fixed rate's is 0).
    assert statistics.pstdev(gaps) / mean == pytest.approx(1.0, abs=0.03)
    # Counts per second: Poisson, so their variance is their mean (index of dispersion 1).
    per_second = Counter(int(offset) for offset in offsets)
    counts = [per_second[second] for second in range(100)]
    assert statistics.pvariance(counts) / statistics.fmean(counts) == pytest.approx(1.0, abs=0.35)
    assert plan.total_requests == pytest.approx(200 * 100, rel=0.02)
    assert plan.warmup_requests == sum(1 for offset in offsets if offset < 5.0)
    assert offsets == sorted(offsets) and offsets[0] > 0 and offsets[-1] < 100.0
    fixed = LoadPlan.from_settings(LoadSettings(BASE, rate_per_s=200.0, duration_s=1.0))
    fixed_gaps = {round(b - a, 9) for a, b in itertools.pairwise(fixed.offsets_s())}
    assert fixed_gaps == {0.005}


def test_a_poisson_schedule_is_the_seeds_and_only_the_seeds() -> None:
    def settings(seed: int) -> LoadSettings:
        return LoadSettings(BASE, arrival="poisson", rate_per_s=50.0, duration_s=2.0, seed=seed)

    first, again, other = (schedule_for(settings(seed)) for seed in (1, 1, 2))
    assert isinstance(first, PoissonPlan)
    assert first.offsets_s() == again.offsets_s() != other.offsets_s()
    assert isinstance(schedule_for(LoadSettings(BASE)), LoadPlan)


@pytest.mark.parametrize(
    "spec",
    [
        Uniform("uniform", 200, 100_000),
        LogNormal("lognormal", 2000.0, 1.5, 200, 100_000),
        LogNormal("lognormal", 5.0, 2.0, 0, 10_000_000),
        Choice("choice", (200, 2000, 20_000), (3.0, 1.0, 0.0)),
    ],
)
def test_distributions_draw_within_their_bounds_and_repeat_for_a_seed(
    spec: Uniform | LogNormal | Choice,
) -> None:
    rng = seeded_rng(9, "sizes")
    draws = [spec.draw(rng) for _ in range(5000)]
    low, high = spec.bounds
    assert all(low <= value <= high for value in draws)
    again = seeded_rng(9, "sizes")
    assert draws == [spec.draw(again) for _ in range(5000)]
    if isinstance(spec, Choice):
        shares = Counter(draws)
        assert 20_000 not in shares  # weight 0
        assert shares[200] / len(draws) == pytest.approx(0.75, abs=0.03)
    elif isinstance(spec, Uniform):
        assert min(draws) < low + (high - low) * 0.01 and max(draws) > high - (high - low) * 0.01
    elif spec.min > 0:  # truncated within the bounds, still centred on its median
        assert statistics.median(draws) == pytest.approx(spec.median, rel=0.1)


def test_distributions_are_refused_out_of_their_fields_bounds() -> None:
    with pytest.raises(ValueError, match=r"min \(10\) must be <= max \(1\)"):
        Uniform("uniform", 10, 1)
    with pytest.raises(ValueError, match=r"prompt_bytes must be within 0\.\.10000000"):
        LoadSettings(BASE, prompt_bytes=Uniform("uniform", 0, 10_000_001))
    with pytest.raises(ValueError, match=r"max_tokens must be within 1\.\.100000"):
        LoadSettings(BASE, max_tokens=Choice("choice", (0, 5)))
    with pytest.raises(ValueError, match="max_tokens must be >= 16 for the Responses API"):
        LoadSettings(BASE, kind="responses-stream", max_tokens=8)


def test_a_pool_of_bodies_follows_the_distributions_and_the_seed() -> None:
    settings = LoadSettings(
        BASE,
        seed=3,
        prompt_bytes=Uniform("uniform", 100, 5000),
        max_tokens=Choice("choice", (16, 64)),
    )
    workload = Workload(settings)
    bodies = [orjson.loads(workload.draw().body or b"") for _ in range(2000)]
    sizes = [len(body["messages"][0]["content"].encode()) for body in bodies]
    assert all(100 <= size <= 5000 for size in sizes)
    assert {body["max_tokens"] for body in bodies} == {16, 64}
    # Each request draws one of the pool's bodies: many distinct ones, at most the pool's.
    assert 100 < len({body["messages"][0]["content"] for body in bodies}) <= POOL_SIZE
    again = Workload(settings)
    assert [again.draw().body for _ in range(2000)] == [orjson.dumps(body) for body in bodies]


def test_a_phase_without_draws_sends_its_one_body_as_before() -> None:
    settings = LoadSettings(BASE, kind="chat-stream", prompt_bytes=300, max_tokens=32)
    workload = Workload(settings)
    assert workload.plain and workload.draw().body == request_body(settings)
    with pytest.raises(ValueError, match="no one body"):
        request_body(LoadSettings(BASE, max_tokens=Uniform("uniform", 1, 9)))


def test_the_stream_share_and_tenant_weights_are_the_shares_of_the_draws() -> None:
    tenants = (Tenant("a", "ka", 6.0), Tenant("b", "kb", 3.0), Tenant("c", "kc", 1.0))
    settings = LoadSettings(BASE, kind="messages-json", stream_share=0.3, tenants=tenants, seed=12)
    workload = Workload(settings)
    assert [plan.kind for plan in workload.kinds] == ["messages-json", "messages-stream"]
    draws = [workload.draw() for _ in range(6000)]
    streamed = sum(1 for d in draws if workload.kinds[d.kind].streamed)
    assert streamed / len(draws) == pytest.approx(0.3, abs=0.02)
    shares = Counter(workload.tenant_names[d.tenant] for d in draws)
    for name, share in (("a", 0.6), ("b", 0.3), ("c", 0.1)):
        assert shares[name] / len(draws) == pytest.approx(share, abs=0.02)
    # Each tenant's key in Anthropic's header, never a Bearer beside it.
    assert workload.kinds[1].headers[2] == {"x-api-key": "kc", "anthropic-version": "2023-06-01"}
    assert orjson.loads(draws[0].body or b"")["messages"] == [{"role": "user", "content": "hi"}]


def test_a_cache_mix_repeats_verbatim_and_rewords_what_was_asked_by_the_same_tenant() -> None:
    tenants = (Tenant("a", "ka"), Tenant("b", "kb"))
    settings = LoadSettings(BASE, cache=CacheMix(0.3, 0.2), tenants=tenants, seed=8)
    workload = Workload(settings)
    draws = [workload.draw() for _ in range(4000)]
    kinds = Counter(QUESTION_KINDS[d.question] for d in draws)
    assert kinds[REPEAT] / len(draws) == pytest.approx(0.3, abs=0.02)
    assert kinds[REWORD] / len(draws) == pytest.approx(0.2, abs=0.02)
    paraphrases = {
        text: origin for origin, texts in vendored_sources().paraphrases for text in texts
    }
    asked: dict[str, int] = {}  # a new question: its tenant
    for drawn in draws:
        body = orjson.loads(drawn.body or b"")
        text = body["messages"][0]["content"]
        # What a cacheable request sends: temperature 0, no cap to cut its answer at.
        assert body["temperature"] == 0 and "max_tokens" not in body
        kind = QUESTION_KINDS[drawn.question]
        if kind == NEW:
            assert text not in asked
            asked[text] = drawn.tenant
        elif kind == REPEAT:
            assert asked[text] == drawn.tenant
        else:
            assert asked[paraphrases[text]] == drawn.tenant


def test_a_cache_mix_longer_than_the_data_sets_is_refused() -> None:
    held = vendored_sources().new_questions
    with pytest.raises(ValueError, match=f"the data sets hold {held}"):
        Workload(LoadSettings(BASE, cache=CacheMix())).check_questions_for(2 * held)


def test_pii_values_are_valid_by_their_rules_and_come_from_example_ranges() -> None:
    generator = PiiGenerator(seeded_rng(1, "pii"))
    for _ in range(300):
        card = generator.card()
        digits = card.replace(" ", "")
        assert luhn_valid(card)
        assert digits[0] == "4" or digits[:2] in {"51", "52", "53", "54", "55", "34", "37"}
        assert len(digits) == (15 if digits[:2] in {"34", "37"} else 16)
        iban = generator.iban()
        compact = iban.replace(" ", "")
        assert iban_valid(iban) and len(compact) == {"DE": 22, "GB": 22, "NL": 18}[compact[:2]]
        assert re.fullmatch(r"[a-z]+\.[a-z]+\d+@example\.(com|org|net)", generator.email())
        phone = generator.phone()
        assert re.fullmatch(
            r"\+44 (20 7946 0|161 496 0|7700 900)\d{3}|\(\d{3}\) 555-01\d{2}", phone
        ), phone
    # Known vectors: the Luhn example of ISO/IEC 7812 and an IBAN of the registry's examples.
    assert luhn_check_digit("7992739871") == "3" and luhn_valid("4111 1111 1111 1111")
    assert not luhn_valid("4111 1111 1111 1112")
    assert iban_check_digits("GB", "WEST12345698765432") == "82"
    assert iban_valid("DE89 3704 0044 0532 0130 00") and not iban_valid(
        "DE88 3704 0044 0532 0130 00"
    )


def test_the_routers_scan_finds_every_generated_value_as_its_kind() -> None:
    generator = PiiGenerator(seeded_rng(2, "pii"))
    seen: Counter[str] = Counter()
    for _ in range(200):
        pii = generator.text()
        assert 1 <= len(pii.kinds) <= 2 and set(pii.kinds) <= set(PII_KINDS)
        found = {(f.kind, f.value(pii.text)) for f in detect(pii.text)}
        assert found == set(zip(pii.kinds, pii.values, strict=True)), pii.text
        seen.update(pii.kinds)
    assert set(seen) == set(PII_KINDS)


def test_a_pii_share_of_prompts_carries_personal_data_within_the_prompt_size() -> None:
    settings = LoadSettings(BASE, pii_share=0.25, prompt_bytes=Uniform("uniform", 50, 400), seed=6)
    workload = Workload(settings)
    draws = [workload.draw() for _ in range(4000)]
    assert sum(d.pii for d in draws) / len(draws) == pytest.approx(0.25, abs=0.02)
    for drawn in draws[:400]:
        text = orjson.loads(drawn.body or b"")["messages"][0]["content"]
        assert bool(detect(text)) == drawn.pii
        assert len(text.encode()) <= 400 or drawn.pii  # a PII sentence may pass a small size


def test_phase_fields_refused_with_the_file_and_field(tmp_path: Path) -> None:
    cases = {
        "rate_per_s: 1, concurrency: 2": "phases.0: give rate_per_s (open loop) or concurrency",
        "rate_per_s: 1, max_tokens: {dist: uniform, min: 1, max: 9, mode: 2}": (
            "phases.0.max_tokens.uniform.mode"
        ),
        "rate_per_s: 1, prompt_bytes: {dist: gauss}": "phases.0.prompt_bytes: Input tag 'gauss'",
        "rate_per_s: 1, tenants: [{name: a, key: k, wieght: 2}]": "phases.0.tenants.0.wieght",
        "concurrency: 2, arrival: poisson": "a closed loop (concurrency) has none",
        "rate_per_s: 1, cache: {repeat: 0.7, reword: 0.3}": "phases.0.cache: repeat and reword",
        "rate_per_s: 1, conversation: {turns: 3}, prefill: ok": "no prefill",
        "rate_per_s: 900, cache: {}": "the data sets hold",
    }
    for fields, message in cases.items():
        path = tmp_path / "bad.yaml"
        path.write_text(f"description: x\nphases:\n  - {{name: a, duration_s: 30, {fields}}}\n")
        with pytest.raises(ScenarioInvalid) as refused:
            load_scenario(str(path))
        assert str(path) in str(refused.value) and message in str(refused.value), refused.value


def test_every_new_scenario_loads_and_its_smoke_form_keeps_its_workload() -> None:
    for name in NEW_SCENARIOS:
        scenario = load_scenario(name)
        smoke = scenario.smoke_form()
        for phase, small in zip(scenario.phases, smoke.phases, strict=True):
            assert small.duration_s <= 1.0 and small.kind == phase.kind
            assert (small.tenants, small.cache, small.pii_share) == (
                phase.tenants,
                phase.cache,
                phase.pii_share,
            )
            if phase.concurrency is not None:
                assert small.rate_per_s is None and small.concurrency == min(phase.concurrency, 4)
            if phase.conversation is not None:
                assert small.conversation is not None
                # Its turns fit in the smoke phase.
                turns = small.conversation.turns
                assert small.conversation.think_s * turns <= small.duration_s
    assert load_scenario("sweep-concurrency").phases[-1].load == "closed x64"
    assert load_scenario("steady-poisson").phases[0].load == "200/s poisson"


def test_an_existing_phase_means_what_it_meant_before_the_workload_fields() -> None:
    scenario = load_scenario("steady-stream")
    settings = phase_settings(scenario, scenario.phases[0], Target(BASE, "k"))
    assert settings == LoadSettings(
        base_url=BASE,
        kind="chat-stream",
        rate_per_s=200.0,
        duration_s=30.0,
        warmup_s=3.0,
        api_key="k",
        max_tokens=64,
        request_timeout_s=30.0,
        drain_timeout_s=30.0,
        ttft_slo_ms=500.0,
        tpot_slo_ms=50.0,
    )
    assert (settings.arrival, settings.concurrency, settings.kinds) == (
        "fixed",
        None,
        ("chat-stream",),
    )
    assert Workload(settings).plain


def test_a_conversation_deals_slots_so_that_its_turns_are_think_time_apart() -> None:
    from loadtest.generator.conversation import TurnSlots

    slots = TurnSlots.of(Conversation(turns=3, think_s=0.05), rate_per_s=100.0)
    assert slots.width == 5
    dealt = [slots.turn_of(i) for i in range(30)]
    by_conversation: dict[int, list[tuple[int, int]]] = {}
    for index, (conversation, turn) in enumerate(dealt):
        by_conversation.setdefault(conversation, []).append((index, turn))
    assert len(by_conversation) == 10
    for turns in by_conversation.values():
        assert [turn for _, turn in turns] == [0, 1, 2]
        assert [b - a for (a, _), (b, _) in itertools.pairwise(turns)] == [5, 5]
    assert math.isclose(TurnSlots.of(Conversation(2, 0.0), 50.0).width, 1)
