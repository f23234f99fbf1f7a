"""The cache never holds a raw PII value, and still answers requests that carry PII: with the
values of the request it answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from router.privacy.cached_form import cacheable_answer
from router.privacy.request_redaction import redact_request
from router.state import STATE
from tests.privacy.privacy_stack import privacy_stack
from tests.stack import Stack
from tests.tenant_policies import key_of

FIRST, SECOND = "ana.souza@example.com", "pedro.lima@example.org"


def _chat(text: str) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "temperature": 0,
        "messages": [{"role": "user", "content": text}],
    }


def _stored(stack: Stack) -> list[bytes]:
    return [answer.body for answer in stack.app[STATE].cache.exact.answers()]


async def _ask(stack: Stack, tenant: str, text: str, stream: bool = False) -> tuple[str, str]:
    """The answer's content and its `x-router-cache` verdict."""
    client = stack.client(api_key=key_of(tenant))
    if not stream:
        raw = await client.chat.completions.with_raw_response.create(**_chat(text))
        return raw.parse().choices[0].message.content or "", raw.headers["x-router-cache"]
    raw = await client.chat.completions.with_raw_response.create(**_chat(text), stream=True)
    pieces = [c.choices[0].delta.content or "" async for c in raw.parse() if c.choices]
    return "".join(pieces), raw.headers["x-router-cache"]


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True])
async def test_redacted_answers_are_shared_between_values_and_restored_with_each(
    tmp_path: Path, stream: bool
) -> None:
    async with privacy_stack(tmp_path, cache=True) as stack:
        first = await _ask(stack, "scrub", f"Confirme o cadastro de {FIRST}, por favor.", stream)
        assert first == (f"Confirme o cadastro de {FIRST}, por favor.", "miss")
        # The same question about someone else: the same redacted form, so the same entry, and
        # the upstream only ever saw `<EMAIL_1>`, so its answer holds for both.
        second = await _ask(stack, "scrub", f"Confirme o cadastro de {SECOND}, por favor.", stream)
        assert second == (f"Confirme o cadastro de {SECOND}, por favor.", "hit-exact")
        stored = _stored(stack)
        assert len(stored) == 1 and b"<EMAIL_1>" in stored[0]
        assert all(FIRST.encode() not in body and SECOND.encode() not in body for body in stored)


@pytest.mark.asyncio
async def test_an_answer_made_from_the_values_is_stored_concealed_and_bound_to_them(
    tmp_path: Path,
) -> None:
    async with privacy_stack(tmp_path, cache=True) as stack:
        text = f"Write to {FIRST} about the invoice."
        assert await _ask(stack, "shop", text) == (text, "miss")  # the model saw the value
        assert await _ask(stack, "shop", text) == (text, "hit-exact")
        other = f"Write to {SECOND} about the invoice."
        assert await _ask(stack, "shop", other) == (other, "miss")  # other values, other answer
        stored = _stored(stack)
        assert len(stored) == 2
        assert all(b"<EMAIL_1>" in body for body in stored)
        assert all(FIRST.encode() not in body and SECOND.encode() not in body for body in stored)


def _answer(content: str) -> bytes:
    message = {"role": "assistant", "content": content}
    return orjson.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
    )


def test_an_answer_holding_pii_the_request_did_not_is_not_cacheable() -> None:
    found = redact_request(_chat(f"Who is {FIRST}?"))
    assert found is not None
    kept = cacheable_answer(_answer(f"{FIRST} is a customer."), found)
    assert kept is not None and b"<EMAIL_1> is a customer." in kept
    assert cacheable_answer(_answer(f"Call {FIRST} at +55 11 91234-5678."), found) is None
    assert cacheable_answer(_answer("Support is at help@example.com."), None) is None
    assert cacheable_answer(_answer("Nothing personal here."), None) == _answer(
        "Nothing personal here."
    )
