"""Proof that no raw PII value reaches the cloud, by what the simulated cloud received.

Hypothesis writes conversations with PII of every kind at random places: inside words, between
words and punctuation, in system prompts, in user messages (as text and as content parts), in
earlier assistant turns, in tool call arguments and tool results, and the same value in several
messages. Each is sent, as JSON and as a stream, by the tenants whose policy keeps PII from the
cloud (`redact`, `local-only`, `block`). Every byte each cloud region received (body, path,
headers) is searched for every value. With `redact`, the regions echo what they received, so the
client's answer is the echo of the client's own conversation exactly when every placeholder was
restored, across stream events cut every few characters.

The values come from the labelled set's generator (`tests/privacy/data`), which makes each kind
by the algorithm that defines it (Luhn, mod-97, check digits), independently of the detectors.
A value is never written touching a digit: a number glued to other digits is another number.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.privacy.data.make_labelled_snippets import Values
from tests.privacy.leak_proof import BackgroundStack, background_stack, check_nothing_leaves

T = TypeVar("T")

KINDS = ("email", "phone", "card", "iban", "ip", "ssn", "cpf", "cnpj", "secret", "bearer")
# Kinds found even when written inside a word (letters glued on both sides). A secret's prefix
# after letters (`task-…` holds `sk-`) and an IPv6 address among hex letters are ambiguous
# (kind `ip` here is IPv4: an IPv6 value is drawn as kind `ipv6`).
GLUE_OK = frozenset({"email", "phone", "card", "iban", "ip", "ssn", "cpf", "cnpj"})
WORDS = (
    "please", "check", "the", "account", "for", "my", "client", "payment", "call", "thanks",
    "meu", "cliente", "pagamento", "endereço", "ligue", "para", "obrigado", "não", "é", "você",
    "conta", "cobrança", "urgent", "details", "below", "atenção",
)  # fmt: skip


@dataclass(frozen=True)
class Pii:
    kind: str
    written: str  # as it appears in the text
    secret: str  # what must never leave: the value itself (a bearer token without "Bearer ")

    @property
    def forms(self) -> tuple[str, ...]:
        """The value as written, and its digits alone for numbers written with separators."""
        compact = "".join(ch for ch in self.secret if ch.isalnum())
        numeric = self.kind in ("phone", "card", "iban", "ssn", "cpf", "cnpj")
        return (self.secret, compact) if numeric and len(compact) >= 8 else (self.secret,)


@st.composite
def pii_values(draw: st.DrawFn) -> Pii:
    kind = draw(st.sampled_from(KINDS))
    values = Values(random.Random(draw(st.integers(0, 2**32 - 1))))
    value, _label = values.makers[kind]("")
    if kind == "ip" and ":" in value:
        kind = "ipv6"
    if kind == "bearer":
        return Pii(kind, f"Bearer {value}", value)
    return Pii(kind, value, value)


@st.composite
def texts_with(draw: st.DrawFn, values: list[Pii]) -> str:
    """Words with each value at a random place: glued inside a word, or set off by spaces,
    punctuation, quotes or brackets."""
    pieces = draw(st.lists(st.sampled_from(WORDS), max_size=4))
    for pii in values:
        before, after = draw(st.sampled_from(WORDS)), draw(st.sampled_from(WORDS))
        styles = ["space", "comma", "colon", "quotes", "brackets"]
        if pii.kind in GLUE_OK:
            styles.append("glued")
        style = draw(st.sampled_from(styles))
        written = pii.written
        piece = {
            "space": f"{before} {written} {after}",
            "comma": f"{before}, {written}, {after}",
            "colon": f"{before}: {written}. {after}",
            "quotes": f'{before} "{written}" {after}',
            "brackets": f"{before} [{written}] {after}",
            "glued": f"{before}{written}{after}",
        }[style]
        pieces.insert(draw(st.integers(0, len(pieces))), piece)
    return " ".join(pieces)


SLOTS = ("system", "user_first", "user_parts", "assistant", "tool_arguments", "tool", "user_last")


@st.composite
def conversations(draw: st.DrawFn) -> tuple[dict[str, Any], list[Pii]]:
    """A chat request with PII somewhere, and the PII it holds."""
    found = draw(st.lists(pii_values(), min_size=1, max_size=6))
    by_slot: dict[str, list[Pii]] = {slot: [] for slot in SLOTS}
    for pii in found:
        for slot in draw(st.lists(st.sampled_from(SLOTS), min_size=1, max_size=2, unique=True)):
            by_slot[slot].append(pii)  # in two slots: across messages

    def text(slot: str) -> str:
        return draw(texts_with(by_slot[slot])) or "ok"

    arguments = json.dumps({"query": text("tool_arguments")}, ensure_ascii=False)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": text("system")},
        {"role": "user", "content": text("user_first")},
        {"role": "assistant", "content": text("assistant")},
        {"role": "user", "content": [{"type": "text", "text": text("user_parts")}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": text("tool")},
        {"role": "user", "content": text("user_last")},
    ]
    return {"model": "gpt-4o-mini", "messages": messages}, found


@pytest.fixture(scope="module")
def background(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundStack]:
    with background_stack(tmp_path_factory.mktemp("policies")) as background:
        yield background


def _forms(found: list[Pii]) -> list[tuple[str, str]]:
    return [(pii.kind, form) for pii in found for form in pii.forms]


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(conversation=conversations(), piece_chars=st.integers(1, 9), stream=st.booleans())
def test_no_raw_pii_value_ever_reaches_the_cloud_and_redact_gives_it_back(
    background: BackgroundStack,
    conversation: tuple[dict[str, Any], list[Pii]],
    piece_chars: int,
    stream: bool,
) -> None:
    body, found = conversation
    background.run(check_nothing_leaves(background.stack, body, _forms(found), piece_chars, stream))
