"""Reversible redaction: values become stable placeholders, none survives in the redacted text,
and restoring gives the original back, whole or as a stream cut at any offset."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from router.privacy.detectors import detect
from router.privacy.redaction import Redactor, StreamRestorer

VALUES = [
    "joao.silva@exemplo.com.br",
    "+55 11 91234-5678",
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "192.168.1.10",
    "123-45-6789",
    "529.982.247-25",
    "11.222.333/0001-81",
    "sk-proj-abcdefghijklmnopqrstuvwx1234",
]
FILLER = st.sampled_from(
    ["Olá, ", "my card is ", " e o CPF ", "\n", " (", "). ", " call ", " obrigado", ", ", " "]
)


def test_a_value_gets_one_placeholder_and_kinds_are_numbered_apart() -> None:
    redactor = Redactor()
    first = redactor.redact("mail a@b.io or c@d.io, CPF 529.982.247-25")
    second = redactor.redact("again: a@b.io")
    assert first == "mail <EMAIL_1> or <EMAIL_2>, CPF <CPF_1>"
    assert second == "again: <EMAIL_1>"  # the same value, the same placeholder, across messages
    assert redactor.kinds == {"email", "cpf"}
    assert redactor.restore(first) == "mail a@b.io or c@d.io, CPF 529.982.247-25"


def test_a_placeholder_the_user_wrote_is_never_issued_nor_restored() -> None:
    redactor = Redactor()
    redacted = redactor.redact("my template says <EMAIL_1>; my address is a@b.io")
    assert redacted == "my template says <EMAIL_1>; my address is <EMAIL_2>"
    assert redactor.restore(redacted) == "my template says <EMAIL_1>; my address is a@b.io"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(FILLER, st.sampled_from(VALUES)), min_size=1, max_size=12))
def test_no_value_survives_redaction_and_restoring_gives_the_text_back(parts: list[str]) -> None:
    text = " ".join(parts)  # values apart: two glued together may read as one other value
    redactor = Redactor()
    redacted = redactor.redact(text)
    assert detect(redacted) == []
    for value in VALUES:
        if value in text:
            assert value not in redacted
    assert redactor.restore(redacted) == text


def _streamed(redactor: Redactor, pieces: list[str]) -> str:
    restorer = StreamRestorer(redactor)
    return "".join(restorer.feed(piece) for piece in pieces) + restorer.flush()


def test_a_stream_cut_at_every_offset_is_restored() -> None:
    text = "Sure: <EMAIL_1> wrote from <PHONE_1>; CPF <CPF_1>. <NOT_A_THING> <EMAIL_"
    redactor = Redactor()
    redactor.redact("a@b.io +55 11 91234-5678 529.982.247-25")
    expected = (
        "Sure: a@b.io wrote from +55 11 91234-5678; CPF 529.982.247-25. <NOT_A_THING> <EMAIL_"
    )
    assert redactor.restore(text) == expected
    for offset in range(len(text) + 1):
        assert _streamed(redactor, [text[:offset], text[offset:]]) == expected, offset
    assert _streamed(redactor, list(text)) == expected  # one character per piece


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(st.one_of(FILLER, st.sampled_from(VALUES)), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_a_stream_cut_anywhere_is_restored(parts: list[str], cuts: list[int]) -> None:
    text = " ".join(parts)
    redactor = Redactor()
    redacted = redactor.redact(text)
    offsets = sorted({min(c, len(redacted)) for c in cuts})
    pieces = [redacted[a:b] for a, b in zip([0, *offsets], [*offsets, len(redacted)], strict=True)]
    assert _streamed(redactor, pieces) == text


def test_a_stream_restorer_says_when_it_holds_a_tail() -> None:
    redactor = Redactor()
    redactor.redact("write to ana@example.com")
    restorer = StreamRestorer(redactor)
    assert restorer.feed("send to <EMA") == "send to " and restorer.holding
    assert restorer.feed("IL_1> now") == "ana@example.com now" and not restorer.holding
