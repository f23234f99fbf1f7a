"""The cache scope is a hard partition: nothing that may change the answer is shared across it."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from router.cache.scope import canonical_json, scope_of

text = st.text(max_size=40)
role_messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant"]), "content": text}
    ),
    max_size=4,
)


def chat(
    question: str = "What is the capital of France?",
    earlier: list[dict[str, str]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    messages = [*(earlier or []), {"role": "user", "content": question}]
    return {"model": "gpt-4o-mini", "messages": messages, "temperature": 0, **fields}


@given(tenant_a=st.text(min_size=1), tenant_b=st.text(min_size=1), earlier=role_messages, q=text)
def test_two_tenants_never_share_a_partition(
    tenant_a: str, tenant_b: str, earlier: list[dict[str, str]], q: str
) -> None:
    a = scope_of(tenant_a, "gpt-4o-mini", chat(q, earlier), 0.0)
    b = scope_of(tenant_b, "gpt-4o-mini", chat(q, earlier), 0.0)
    assert a is not None and b is not None
    assert (a.partition == b.partition) == (tenant_a == tenant_b)
    assert (a.exact_key == b.exact_key) == (tenant_a == tenant_b)


@given(earlier_a=role_messages, earlier_b=role_messages, q=text)
def test_a_different_system_prompt_or_earlier_turn_is_another_partition(
    earlier_a: list[dict[str, str]], earlier_b: list[dict[str, str]], q: str
) -> None:
    a = scope_of("acme", "gpt-4o-mini", chat(q, earlier_a), 0.0)
    b = scope_of("acme", "gpt-4o-mini", chat(q, earlier_b), 0.0)
    assert a is not None and b is not None
    assert (a.partition == b.partition) == (earlier_a == earlier_b)


@given(
    field=st.sampled_from(
        ["top_p", "max_tokens", "stop", "seed", "response_format", "tools", "tool_choice"]
    ),
    value_a=st.one_of(st.integers(0, 5), st.text(max_size=5), st.none()),
    value_b=st.one_of(st.integers(0, 5), st.text(max_size=5), st.none()),
)
def test_any_parameter_the_endpoint_sees_splits_the_partition(
    field: str, value_a: Any, value_b: Any
) -> None:
    a = scope_of("acme", "gpt-4o-mini", chat(**{field: value_a}), 0.0, tools_allowed=True)
    b = scope_of("acme", "gpt-4o-mini", chat(**{field: value_b}), 0.0, tools_allowed=True)
    assert a is not None and b is not None
    assert (a.partition == b.partition) == (value_a == value_b)


def test_the_same_request_always_gets_the_same_key_whatever_its_layout() -> None:
    a = scope_of("acme", "gpt-4o-mini", chat(top_p=1, temperature=0.0), 0.0)
    reordered = orjson.loads(orjson.dumps({"top_p": 1.0, **chat()}))
    b = scope_of("acme", "gpt-4o-mini", reordered, 0.0)
    c = scope_of("acme", "gpt-4o-mini", {**chat(top_p=1), "stream": True, "user": "u-7"}, 0.0)
    assert a is not None and b is not None and c is not None
    assert a.exact_key == b.exact_key == c.exact_key
    assert canonical_json({"b": 1.0, "a": [2.0, 2.5]}) == b'{"a":[2,2.5],"b":1}'


def test_only_the_last_user_message_is_outside_the_partition() -> None:
    a = scope_of("acme", "gpt-4o-mini", chat("capital of France?"), 0.0)
    b = scope_of("acme", "gpt-4o-mini", chat("capital of Germany?"), 0.0)
    assert a is not None and b is not None
    assert a.partition == b.partition and a.exact_key != b.exact_key
    assert (a.last_user_message, b.last_user_message) == (
        "capital of France?",
        "capital of Germany?",
    )


def test_sampled_or_multi_choice_requests_have_no_scope() -> None:
    assert scope_of("acme", "gpt-4o-mini", chat(n=2), 0.0) is None
    assert scope_of("acme", "gpt-4o-mini", chat(temperature=0.7), 0.5) is None
    assert scope_of("acme", "gpt-4o-mini", {**chat(), "temperature": None}, 0.5) is None
    unsaid = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert scope_of("acme", "m", unsaid, 0.5) is None  # OpenAI's default temperature is 1
    assert scope_of("acme", "m", unsaid, 1.0) is not None


@given(betas_a=st.one_of(st.none(), st.text(max_size=12)), betas_b=st.one_of(st.none(), text))
def test_a_messages_requests_betas_split_the_partition(
    betas_a: str | None, betas_b: str | None
) -> None:
    """`anthropic-beta` reaches an endpoint a Messages request is passed through to, and may
    change its answer; no beta and an empty one are the same."""
    a = scope_of("acme", "gpt-4o-mini", chat(), 0.0, betas=betas_a)
    b = scope_of("acme", "gpt-4o-mini", chat(), 0.0, betas=betas_b)
    assert a is not None and b is not None
    assert (a.partition == b.partition) == ((betas_a or None) == (betas_b or None))
