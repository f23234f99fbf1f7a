"""PII the scan used to miss: behind a repeated key, and in object keys.

A body that repeats a key is refused before any stage, so no parser downstream can read a value
the privacy stage never saw; object keys are scanned like values and redacted the same way. Each
case goes through a running router, and what the simulated cloud and the PoP endpoint received is
searched for the values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from router.privacy.json_texts import KeysCollide, map_texts
from router.privacy.request_redaction import redact_request
from tests.privacy.privacy_stack import CLOUD_REGIONS, chat_bodies_received, privacy_stack
from tests.stack import Stack
from tests.tenant_policies import key_of

EMAIL = "maria.silva@example.com.br"
CARD = "4111111111111111"
SECRETS = (EMAIL, CARD)
CHAT_PATH = "/v1/chat/completions"


def _chat(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **fields}


async def _post(stack: Stack, tenant: str, raw: bytes) -> tuple[int, dict[str, Any], str]:
    headers = {"Authorization": f"Bearer {key_of(tenant)}", "Content-Type": "application/json"}
    async with stack.http.post(f"{stack.url}{CHAT_PATH}", data=raw, headers=headers) as response:
        body: dict[str, Any] = await response.json(content_type=None)
        return response.status, body, response.headers.get("x-router-privacy", "")


async def _received(stack: Stack, regions: tuple[str, ...]) -> list[str]:
    return [body for region in regions for body in await chat_bodies_received(stack, region)]


def test_keys_are_rewritten_in_place_and_a_collision_is_refused() -> None:
    value = {"b": {"k1": "v", "x": ["k1"]}, "a": 1}
    mapped = map_texts(value, str.upper, rewrite_key=lambda k: k.replace("k1", "K"))
    assert mapped == {"b": {"K": "V", "x": ["K1"]}, "a": 1}
    assert list(mapped["b"]) == ["K", "x"]
    assert map_texts(value, lambda t: t, rewrite_key=lambda k: k) is value
    with pytest.raises(KeysCollide):
        map_texts({"k1": 1, "K": 2}, str.upper, rewrite_key=lambda k: k.replace("k1", "K"))


def test_a_key_holding_pii_is_redacted_like_a_value() -> None:
    body = _chat(metadata={EMAIL: "vip", "note": f"card {CARD}"})
    found = redact_request(body)
    assert found is not None and found.kinds == ("email", "card")
    assert found.body["metadata"] == {"<EMAIL_1>": "vip", "note": "card <CARD_1>"}
    assert found.redactor.restore("<EMAIL_1>") == EMAIL


@pytest.mark.asyncio
@pytest.mark.parametrize("tenant", ["scrub", "clinic", "shop", "vault"])
async def test_a_repeated_key_hiding_pii_gets_400_and_nothing_leaves(
    tmp_path: Path, tenant: str
) -> None:
    raw = (
        b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"card '
        + CARD.encode()
        + b" mail "
        + EMAIL.encode()
        + b'","content":"hi"}]}'
    )
    async with privacy_stack(tmp_path) as stack:
        status, body, _ = await _post(stack, tenant, raw)
        assert status == 400, body
        error = body["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "duplicate_key"
        assert error["message"].startswith("Duplicate key 'content' in messages[0]")
        assert error["param"] == "messages[0].content"
        assert await _received(stack, (*CLOUD_REGIONS, "pop")) == []


@pytest.mark.asyncio
async def test_pii_in_an_object_key_is_redacted_before_it_leaves(tmp_path: Path) -> None:
    raw = orjson.dumps(_chat(metadata={EMAIL: "vip"}, x_vendor={"cards": {CARD: True}}))
    async with privacy_stack(tmp_path) as stack:
        status, body, privacy = await _post(stack, "scrub", raw)
        assert status == 200, body
        assert privacy == "redact; pii=email,card"
        (sent,) = await _received(stack, CLOUD_REGIONS)
        assert all(secret not in sent for secret in SECRETS)
        forwarded = orjson.loads(sent)
        assert forwarded["metadata"] == {"<EMAIL_1>": "vip"}
        assert forwarded["x_vendor"] == {"cards": {"<CARD_1>": True}}


@pytest.mark.asyncio
async def test_pii_in_an_object_key_keeps_a_local_only_request_at_the_edge(
    tmp_path: Path,
) -> None:
    raw = orjson.dumps(_chat(metadata={EMAIL: "patient"}))
    async with privacy_stack(tmp_path) as stack:
        status, body, privacy = await _post(stack, "clinic", raw)
        assert status == 200, body
        assert privacy == "local-only; pii=email"
        assert await _received(stack, CLOUD_REGIONS) == []
        assert len(await _received(stack, ("pop",))) == 1


@pytest.mark.asyncio
async def test_pii_in_an_object_key_is_blocked_under_block(tmp_path: Path) -> None:
    raw = orjson.dumps(_chat(metadata={CARD: "x"}))
    async with privacy_stack(tmp_path) as stack:
        status, body, _ = await _post(stack, "vault", raw)
        assert status == 400 and body["error"]["code"] == "pii_detected"
        assert CARD not in body["error"]["message"]
        assert await _received(stack, (*CLOUD_REGIONS, "pop")) == []


@pytest.mark.asyncio
async def test_a_redacted_key_that_would_merge_with_another_is_refused(tmp_path: Path) -> None:
    raw = orjson.dumps(_chat(metadata={EMAIL: "a", "<EMAIL_1>": "b"}))
    async with privacy_stack(tmp_path) as stack:
        status, body, _ = await _post(stack, "scrub", raw)
        assert status == 400 and body["error"]["code"] == "pii_key_collision"
        assert EMAIL not in body["error"]["message"]
        assert await _received(stack, (*CLOUD_REGIONS, "pop")) == []
