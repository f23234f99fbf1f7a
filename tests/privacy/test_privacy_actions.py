"""The tenant's `privacy.on_pii` in the request path, through the `openai` client: what each
action answers, and where the request went (or did not go)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from tests.privacy.privacy_stack import (
    CLOUD_REGIONS,
    chat_bodies_received,
    privacy_stack,
)
from tests.stack import API_KEY
from tests.tenant_policies import key_of

EMAIL = "maria.silva@example.com.br"
CPF = "123.456.789-09"
PII_TEXT = f"Meu e-mail é {EMAIL} e meu CPF {CPF}, pode confirmar?"


def _chat(text: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}]}


async def _received_anywhere(stack: Any) -> list[str]:
    return [
        body
        for region in (*CLOUD_REGIONS, "pop")
        for body in await chat_bodies_received(stack, region)
    ]


@pytest.mark.asyncio
async def test_block_answers_400_naming_the_kinds_and_nothing_leaves(tmp_path: Path) -> None:
    async with privacy_stack(tmp_path) as stack:
        client = stack.client(api_key=key_of("vault"))
        with pytest.raises(openai.BadRequestError) as raised:
            await client.chat.completions.create(**_chat(PII_TEXT))
        error = raised.value
        assert error.code == "pii_detected"
        message = error.message
        assert "email" in message and "cpf" in message
        assert EMAIL not in str(error.body) and CPF not in str(error.body)
        assert "123" not in message and "maria" not in message
        assert await _received_anywhere(stack) == []
        (line,) = stack.access_log_lines()
        assert (line["status"], line["privacy"]) == (400, "block; pii=email,cpf")
        # Without PII, the same tenant is served.
        answer = await client.chat.completions.create(**_chat("Qual é a capital do Brasil?"))
        assert answer.choices[0].message.content


@pytest.mark.asyncio
async def test_redact_sends_placeholders_and_says_so(tmp_path: Path) -> None:
    async with privacy_stack(tmp_path) as stack:
        client = stack.client(api_key=key_of("scrub"))
        raw = await client.chat.completions.with_raw_response.create(**_chat(PII_TEXT))
        assert raw.headers["x-router-privacy"] == "redact; pii=email,cpf"
        bodies = await _received_anywhere(stack)
        assert len(bodies) == 1
        assert "<EMAIL_1>" in bodies[0] and "<CPF_1>" in bodies[0]
        assert EMAIL not in bodies[0] and CPF not in bodies[0]


@pytest.mark.asyncio
async def test_local_only_answers_pii_at_the_edge_and_the_rest_in_the_cloud(
    tmp_path: Path,
) -> None:
    async with privacy_stack(tmp_path) as stack:
        client = stack.client(api_key=key_of("clinic"))
        raw = await client.chat.completions.with_raw_response.create(**_chat(PII_TEXT))
        assert raw.headers["x-router-served-by"] == "edge"
        assert raw.headers["x-router-endpoint"] == "pop"
        assert raw.headers["x-router-privacy"] == "local-only; pii=email,cpf"
        assert raw.headers["x-router-reason"].startswith("local_only; ")
        for region in CLOUD_REGIONS:
            assert await chat_bodies_received(stack, region) == []
        assert EMAIL in (await chat_bodies_received(stack, "pop"))[0]  # the edge sees the data
        plain = await client.chat.completions.with_raw_response.create(**_chat("Olá!"))
        assert plain.headers["x-router-served-by"] == "cloud"
        assert "x-router-privacy" not in plain.headers


@pytest.mark.asyncio
async def test_local_only_without_a_local_model_for_the_alias_is_a_503(tmp_path: Path) -> None:
    async with privacy_stack(tmp_path) as stack:
        client = stack.client(api_key=key_of("clinic"))
        with pytest.raises(openai.InternalServerError) as raised:
            await client.chat.completions.create(**_chat(PII_TEXT, model="gpt-4o"))
        assert raised.value.status_code == 503
        assert raised.value.code == "no_local_model"
        assert "gpt-4o" in raised.value.message and EMAIL not in raised.value.message
        assert await _received_anywhere(stack) == []


@pytest.mark.asyncio
async def test_a_local_only_request_whose_edge_fails_is_never_forwarded(tmp_path: Path) -> None:
    async with privacy_stack(tmp_path) as stack:
        await stack.control("pop", error_rate=1.0, error_status=503)
        client = stack.client(api_key=key_of("clinic"))
        with pytest.raises(openai.APIStatusError):
            await client.chat.completions.create(**_chat(PII_TEXT))
        for region in CLOUD_REGIONS:
            assert await chat_bodies_received(stack, region) == []


@pytest.mark.asyncio
async def test_allow_sends_pii_only_to_endpoints_tagged_fit_for_it(tmp_path: Path) -> None:
    async with privacy_stack(tmp_path) as stack:
        for key in (key_of("shop"), API_KEY):  # a tenant's default, and a node key's
            client = stack.client(api_key=key)
            for _ in range(6):
                raw = await client.chat.completions.with_raw_response.create(**_chat(PII_TEXT))
                assert raw.headers["x-router-endpoint"] == "eu-west"
                assert raw.headers["x-router-privacy"] == "allow; pii=email,cpf"
        assert all(EMAIL in body for body in await chat_bodies_received(stack, "eu-west"))
        for region in ("us-east", "ap-south", "pop"):
            assert await chat_bodies_received(stack, region) == []


@pytest.mark.asyncio
async def test_no_endpoint_fit_for_the_pii_is_a_503_or_the_edge_as_the_policy_says(
    tmp_path: Path,
) -> None:
    async with privacy_stack(tmp_path) as stack:
        strict = stack.client(api_key=key_of("strict"))
        with pytest.raises(openai.InternalServerError) as raised:
            await strict.chat.completions.create(**_chat(PII_TEXT))
        assert raised.value.status_code == 503
        assert raised.value.code == "no_endpoint_for_pii"
        assert "nowhere" in raised.value.message and EMAIL not in raised.value.message
        # hipaa and eu-resident: no endpoint has both; the policy keeps the request local.
        fallback = stack.client(api_key=key_of("fallback"))
        raw = await fallback.chat.completions.with_raw_response.create(**_chat(PII_TEXT))
        assert raw.headers["x-router-endpoint"] == "pop"
        assert raw.headers["x-router-reason"].startswith("local_only; ")
        for region in CLOUD_REGIONS:
            assert await chat_bodies_received(stack, region) == []


@pytest.mark.asyncio
async def test_redact_covers_text_completions_and_embeddings(tmp_path: Path) -> None:
    async with privacy_stack(tmp_path) as stack:
        client = stack.client(api_key=key_of("scrub"))
        completion = await client.completions.create(model="gpt-4o-mini", prompt=PII_TEXT)
        assert completion.choices[0].text == PII_TEXT  # the echo, restored
        streamed = await client.completions.create(
            model="gpt-4o-mini", prompt=PII_TEXT, stream=True
        )
        assert "".join([c.choices[0].text async for c in streamed if c.choices]) == PII_TEXT
        await client.embeddings.create(model="text-embedding-3-small", input=[PII_TEXT, "olá"])
        received = [
            record["body"]
            for region in CLOUD_REGIONS
            for record in await stack.received(region)
            if record["method"] == "POST"
        ]
        assert len(received) == 3
        assert all(EMAIL not in body and CPF not in body for body in received)
        assert all("<EMAIL_1>" in body for body in received)


@pytest.mark.asyncio
async def test_a_body_too_deeply_nested_to_scan_is_refused_with_a_400(tmp_path: Path) -> None:
    nested: Any = f"mail {EMAIL}"
    for _ in range(150):
        nested = [nested]
    async with privacy_stack(tmp_path) as stack:
        client = stack.client(api_key=key_of("scrub"))
        with pytest.raises(openai.BadRequestError) as raised:
            await client.chat.completions.create(**_chat("hi"), extra_body={"tools": nested})
        assert "nested" in raised.value.message
        assert await _received_anywhere(stack) == []


@pytest.mark.asyncio
async def test_each_action_is_counted_by_kind_at_metrics_without_a_tenant(tmp_path: Path) -> None:
    async with privacy_stack(tmp_path) as stack:
        for tenant in ("scrub", "vault", "shop"):
            client = stack.client(api_key=key_of(tenant))
            try:
                await client.chat.completions.create(**_chat(PII_TEXT))
            except openai.BadRequestError:
                assert tenant == "vault"
        async with stack.http.get(f"{stack.url}/metrics") as response:
            text = await response.text()
    lines = [line for line in text.splitlines() if line.startswith("router_privacy_actions_total")]
    for action in ("redact", "block", "allow"):
        for kind in ("email", "cpf"):
            assert f'router_privacy_actions_total{{action="{action}",kind="{kind}"}} 1.0' in lines
    assert not [line for line in lines if "scrub" in line or "vault" in line or "shop" in line]
