"""The exact tier's normal form: the same question typed differently is one exact key; a question
that differs in what it asks, or a request that differs elsewhere, is not."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.cache.normal_form import normal_question
from router.cache.scope import exact_key_of, scope_of
from tests.cache.cache_stack import asking
from tests.stack import running_stack
from tests.tenant_policies import policy_yaml

BASE = "What is the capital of France?"


def _key(question: str, **fields: Any) -> str:
    scope = scope_of("acme", "gpt-4o-mini", asking(question, **fields), 0.0)
    assert scope is not None
    return scope.exact_key


@pytest.mark.parametrize(
    ("kind", "variant"),
    [
        ("unicode form", unicodedata.normalize("NFD", "Où est le café ?")),
        ("whitespace runs", "What  is the\tcapital of   France?"),
        ("leading and trailing whitespace", "  What is the capital of France?\n"),
        ("case", "what is the capital of france?"),
        ("caps lock", "WHAT IS THE CAPITAL OF FRANCE?"),
        ("title case", "What Is The Capital Of France?"),
        ("no question mark", "What is the capital of France"),
        ("a full stop", "What is the capital of France."),
        ("several marks", "What is the capital of France?!?"),
        ("an ellipsis", "What is the capital of France…"),
        ("a full-width mark", "What is the capital of France？"),
        ("a space before the mark", "What is the capital of France ?"),
        ("all at once", "  what is  the capital of france  "),
    ],
)
def test_the_same_question_typed_differently_is_an_exact_hit(kind: str, variant: str) -> None:
    base = "Où est le café ?" if kind == "unicode form" else BASE
    assert _key(variant) == _key(base), kind


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("What is the capital of France?", "What is the capital of Germany?"),  # another word
        ("What is 5!", "What is 5"),  # a factorial
        ("Compute (n+1)!", "Compute (n+1)"),
        ("What does US stand for?", "What does us stand for?"),  # an acronym
        ("Is NaCl salt?", "Is nacl salt?"),  # mixed case is kept
        ("Price of an iPhone?", "Price of an iphone?"),
        ("What is x² + 1?", "What is x2 + 1?"),  # compatibility forms are not folded
        ("Round 2.5", "Round 25"),  # numbers and inner punctuation are kept
        ("What? Why", "What Why"),  # a mark that is not at the end
        ("What is -5 squared?", "What is 5 squared?"),  # signs are kept
        ("Explain `Foo  Bar`", "Explain `foo bar`"),  # inline code keeps its case and spaces
        ("Fix:\n```\nif x:\n    Y()\n```", "Fix:\n```\nif x:\n Y()\n```"),  # indentation
        ("Sort:\nb\na", "Sort: b a"),  # line breaks are kept (as one)
    ],
)
def test_a_question_that_asks_something_else_is_still_a_miss(a: str, b: str) -> None:
    assert _key(a) != _key(b)


def test_only_the_question_text_is_normalised_never_the_other_fields() -> None:
    assert _key(BASE, seed=1) != _key(BASE, seed=2)
    assert _key(BASE, stop=["?"]) != _key(BASE, stop=["."])
    a = scope_of("acme", "gpt-4o-mini", asking(BASE), 0.0)
    b = scope_of("acme", "gpt-4o", asking(BASE), 0.0)  # another alias
    assert a is not None and b is not None and a.exact_key != b.exact_key
    shouting = asking(BASE)
    shouting["messages"][0]["content"] = "ANSWER BRIEFLY."  # the system prompt, as sent
    c = scope_of("acme", "gpt-4o-mini", shouting, 0.0)
    assert c is not None and c.partition != a.partition
    # The semantic tier still embeds the question as it was asked.
    d = scope_of("acme", "gpt-4o-mini", asking("  what is the capital of france"), 0.0)
    assert d is not None and d.exact_key == a.exact_key
    assert d.last_user_message == "  what is the capital of france"


def test_the_normal_form_of_some_questions() -> None:
    assert normal_question("  What  IS the\n\n capital of France?? ") == (
        "what IS the\ncapital of france"
    )
    assert normal_question("WHO WROTE HAMLET?") == "who wrote hamlet"
    assert normal_question("Don't Stop-Me Now!") == "don't stop-me now"
    assert normal_question("?!") == ""


@given(st.text(max_size=40))
def test_the_normal_form_is_idempotent_and_keys_agree(text: str) -> None:
    once = normal_question(text)
    assert normal_question(once) == once
    assert exact_key_of("p", text) == exact_key_of("p", once)


@pytest.mark.asyncio
async def test_through_the_client_a_retyped_question_is_an_exact_hit(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(policy_yaml("acme", "models:\n  - alias: gpt-4o-mini\n"))
    overrides = {
        "policies": {"directory": str(tmp_path), "watch": False},
        "cache": {"enabled": True, "semantic": False},  # the exact tier alone
    }
    async with running_stack(overrides=overrides) as stack:
        client = stack.client(api_key="sk-acme")
        first = await client.chat.completions.with_raw_response.create(**asking(BASE))
        assert first.headers["x-router-cache"] == "miss"
        for retyped in ("what is the capital of france", "  What is the capital of France ?!"):
            raw = await client.chat.completions.with_raw_response.create(**asking(retyped))
            assert raw.headers["x-router-cache"] == "hit-exact", retyped
            assert (
                raw.parse().choices[0].message.content == first.parse().choices[0].message.content
            )
        raw = await client.chat.completions.with_raw_response.create(
            **asking("What is the capital of France?", seed=3)
        )
        assert raw.headers["x-router-cache"] == "miss"  # another parameter
        chat_calls = 0
        for region in ("us-east", "eu-west", "ap-south"):
            received = await stack.received(region)
            chat_calls += sum(r["path"].endswith("/chat/completions") for r in received)
        assert chat_calls == 2  # the first question and the one with another seed
