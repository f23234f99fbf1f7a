"""The PII scan's work grows in proportion to the text, whatever the text holds (issue 13: 8 KB of
card numbers took 9 s, the card check trying every first and last group of a run). Work is counted
in the scan's steps (`ScanWork`), not in seconds: a character handed to a pattern that scans a
stretch of text, or a candidate looked at. Every pattern does a bounded amount of work from each
place it is tried, so time follows steps; the times are measured in loadtest/studies/privacy.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.privacy.detectors import detect
from router.privacy.scan_work import ScanWork

# C: the most steps a scan may take per character of text. The most found, over hypothesis's
# texts and the families below, is about 10.5 (a run of digit groups is scanned by each numeric
# kind, and each group starts up to 19 card candidates).
STEPS_PER_CHARACTER = 16
COPIES = (1, 2, 4, 8, 16)

# What the detectors' candidates are made of: digit groups, the separators numbers are written
# with, and the characters the other kinds start at.
PIECES = st.one_of(
    st.text("0123456789", min_size=1, max_size=20),
    st.sampled_from(
        [
            *(" ", "-", ".", "/", "(", ")", "+", "@", ":", "::", "_", "%", "\n", "a", "x", "A"),
            *("00", "+55 ", "(11) ", "DE89 ", "GB82WEST", "sk-", "eyJ", ".eyJ", "bearer ", "b.co"),
            *("4111 1111 1111 1111", "5500-0000-0000-0004", "4222 222 222 222", "529.982.247-25"),
            *("SSN ", "phone: ", "v", "\\u0040", "123 45 6789", "119211572", "639081036886"),
        ]
    ),
)
SEEDS = st.lists(PIECES, min_size=1, max_size=40).map("".join)
# A seed is repeated to 64 characters at least (an IBAN, the longest value a pattern looks for,
# has 34 characters and its spaces) before it is copied, so that joined copies make no value
# longer than one copy holds.
SHORTEST_SEED = 64


def steps_of(text: str) -> int:
    work = ScanWork()
    detect(text, work)
    return work.steps


def at_least_the_shortest_seed(seed: str) -> str:
    return seed * -(-SHORTEST_SEED // len(seed))


@settings(max_examples=300, deadline=None)
@given(seed=SEEDS)
def test_a_scan_takes_at_most_a_constant_number_of_steps_per_character(seed: str) -> None:
    for copies in COPIES:
        text = seed * copies
        assert steps_of(text) <= STEPS_PER_CHARACTER * len(text), (copies, text)


@settings(max_examples=300, deadline=None)
@given(seed=SEEDS.map(at_least_the_shortest_seed))
def test_the_steps_per_character_do_not_grow_with_the_copies_of_a_text(seed: str) -> None:
    # Every character is scanned, so a scan takes a step per character at least, and quadratic
    # work would double the steps per character from 8 copies to 16 (cubic quadruple them):
    # one step per character more at least. Linear work costs a*k - b steps for k copies (the
    # first copy, joined to nothing, spares some), which grows by b/16 per character from 8 to
    # 16: 0.3 steps at most in the hardest texts hypothesis was steered to find.
    per_character = {copies: steps_of(seed * copies) / len(seed * copies) for copies in COPIES}
    assert all(steps <= STEPS_PER_CHARACTER for steps in per_character.values()), per_character
    assert per_character[16] <= per_character[8] + 0.5, per_character


# The bodies of issue 13: card numbers, and digit groups of other layouts, back to back.
WORST_CASES = [
    "4111 1111 1111 1111 ",
    "4111-1111-1111-1111-",
    "4111 1111 1111 1111 4111 1111 ",
    "5500 0000 0000 0004 3782 822463 10005 ",
    "4 1 1 1 1 1 1 1 ",
    "411 111 111 111 ",
    "+1" + "1" * 30 + "x ",
    "529.982.247-25.11.222.333/0001-81/",
]


@pytest.mark.parametrize("unit", WORST_CASES)
def test_card_like_bodies_of_2_to_16_kb_take_steps_in_proportion_to_their_length(
    unit: str,
) -> None:
    per_character = []
    for kilobytes in (2, 4, 8, 16):
        length = kilobytes * 1024
        text = (unit * (length // len(unit) + 1))[:length]
        steps = steps_of(text)
        assert steps <= STEPS_PER_CHARACTER * length, (kilobytes, steps)
        per_character.append(steps / length)
    assert max(per_character) - min(per_character) < 0.1, per_character


def test_every_card_of_a_body_of_card_numbers_is_found() -> None:
    text = "4111 1111 1111 1111 " * 400  # 8 KB
    found = detect(text)
    assert len(found) == 400
    assert {(f.kind, f.value(text)) for f in found} == {("card", "4111 1111 1111 1111")}
