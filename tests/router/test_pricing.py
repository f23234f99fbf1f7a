"""What a request cost: input tokens the provider served from its prompt cache are priced at the
model's cached-input price (the input price when it states none)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from router.config.model import EndpointModel
from router.pricing import served_cost_usd
from router.wire.usage import Usage, usage_from_body
from tests.request_context import chat_context

CHAT = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'


def _cost(usage: Usage, pricing: EndpointModel) -> float:
    ctx = chat_context(CHAT)
    target: Any = SimpleNamespace(
        endpoint=SimpleNamespace(name="us-east"), upstream_model="m", pricing=pricing
    )
    ctx.plan = (target,)
    ctx.decision.endpoint, ctx.decision.upstream_model = "us-east", "m"
    ctx.usage = usage
    return served_cost_usd(ctx)


def test_cached_input_tokens_are_priced_at_the_cached_price() -> None:
    pricing = EndpointModel(
        name="m",
        input_price_per_mtok=2.0,
        output_price_per_mtok=8.0,
        cached_input_price_per_mtok=0.5,
    )
    usage = Usage(1_000_000, 100_000, cached_input_tokens=800_000)
    assert _cost(usage, pricing) == pytest.approx(0.2 * 2.0 + 0.8 * 0.5 + 0.1 * 8.0)
    # Without a cached price, every input token at the input price.
    plain = EndpointModel(name="m", input_price_per_mtok=2.0, output_price_per_mtok=8.0)
    assert _cost(usage, plain) == pytest.approx(2.0 + 0.8)


@pytest.mark.parametrize(
    ("details", "cached"),
    [
        ({"cached_tokens": 30}, 30),
        ({"cached_tokens": 500}, 100),  # never more than the input
        ({"cached_tokens": -3}, 0),
        ({"cached_tokens": True}, 0),
        ("not an object", 0),
        (None, 0),
    ],
)
def test_cached_tokens_are_read_from_the_usage_within_the_input(
    details: object, cached: int
) -> None:
    body = {
        "usage": {"prompt_tokens": 100, "completion_tokens": 5, "prompt_tokens_details": details}
    }
    usage = usage_from_body(body)
    assert usage is not None and usage.cached_input_tokens == cached
