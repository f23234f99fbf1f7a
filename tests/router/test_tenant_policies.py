"""Requests belong to tenants: the key picks the tenant, and its policy shapes the routing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from router.policy.keys import hash_key
from tests.stack import API_KEY, explained, running_stack

CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}

CLINIC = f"""\
tenant: clinic
api_keys: ["{hash_key("sk-clinic")}"]
models:
  - alias: gpt-4o-mini
    caps: {{max_tokens: 100, max_n: 1, max_temperature: 1.0}}
routing:
  objective: cost
privacy:
  required_tags: [hipaa]
"""
EU_APP = f"""\
tenant: eu-app
api_keys: ["{hash_key("sk-eu")}"]
models:
  - alias: gpt-4o-mini
  - alias: gpt-4o
    targets: [{{endpoint: eu-west, model: gpt-4o}}]
routing:
  objective: latency
  allowed_regions: [eu-west, ap-south]
"""


def _policies(directory: Path) -> dict[str, Any]:
    (directory / "clinic.yaml").write_text(explained(CLINIC))
    (directory / "eu-app.yaml").write_text(explained(EU_APP))
    return {"policies": {"directory": str(directory), "watch": False}}


@pytest.mark.asyncio
async def test_a_tenants_required_tags_hold_and_a_header_cannot_remove_them(
    tmp_path: Path,
) -> None:
    async with running_stack(overrides=_policies(tmp_path)) as stack:
        clinic = stack.client(api_key="sk-clinic")
        raw = await clinic.chat.completions.with_raw_response.create(**CHAT)
        assert raw.headers["x-router-endpoint"] == "ap-south"  # the only hipaa endpoint
        assert raw.headers["x-router-reason"] == "objective=cost; only=ap-south"
        with pytest.raises(openai.InternalServerError) as raised:
            await clinic.chat.completions.create(
                **CHAT, extra_headers={"x-router-privacy-tags": "eu-resident"}
            )
        assert raised.value.status_code == 503  # hipaa and eu-resident: nobody has both


@pytest.mark.asyncio
async def test_models_outside_the_policy_are_404_and_caps_are_400(tmp_path: Path) -> None:
    async with running_stack(overrides=_policies(tmp_path)) as stack:
        clinic = stack.client(api_key="sk-clinic")
        with pytest.raises(openai.NotFoundError):
            await clinic.chat.completions.create(**{**CHAT, "model": "gpt-4o"})
        for field, value in (("max_tokens", 101), ("n", 2), ("temperature", 1.5)):
            with pytest.raises(openai.BadRequestError) as raised:
                await clinic.chat.completions.create(**CHAT, **{field: value})
            assert raised.value.body is not None
            assert raised.value.response.json()["error"]["param"] == field
        assert (await clinic.chat.completions.create(**CHAT, max_tokens=100)).choices


@pytest.mark.asyncio
async def test_allowed_regions_and_target_overrides_restrict_the_endpoints(
    tmp_path: Path,
) -> None:
    async with running_stack(overrides=_policies(tmp_path)) as stack:
        eu = stack.client(api_key="sk-eu")
        seen = set()
        for _ in range(8):
            raw = await eu.chat.completions.with_raw_response.create(**CHAT)
            seen.add(raw.headers["x-router-endpoint"])
        assert seen <= {"eu-west", "ap-south"} and "us-east" not in seen
        raw = await eu.chat.completions.with_raw_response.create(**{**CHAT, "model": "gpt-4o"})
        assert raw.headers["x-router-endpoint"] == "eu-west"


@pytest.mark.asyncio
async def test_unknown_keys_are_401_and_node_keys_still_work(tmp_path: Path) -> None:
    async with running_stack(overrides=_policies(tmp_path)) as stack:
        with pytest.raises(openai.AuthenticationError):
            await stack.client(api_key="sk-nobody").chat.completions.create(**CHAT)
        assert (await stack.client(api_key=API_KEY).chat.completions.create(**CHAT)).choices
        stack.access_log.flush()
        tenants = [line["tenant"] for line in stack.access_log_lines()]
        assert tenants == ["", "node"]


@pytest.mark.asyncio
async def test_a_tenant_lists_and_gets_only_the_models_its_policy_allows(tmp_path: Path) -> None:
    async with running_stack(overrides=_policies(tmp_path)) as stack:
        clinic = stack.client(api_key="sk-clinic")
        assert [m.id async for m in clinic.models.list()] == ["gpt-4o-mini"]
        assert (await clinic.models.retrieve("gpt-4o-mini")).id == "gpt-4o-mini"
        with pytest.raises(openai.NotFoundError):
            await clinic.models.retrieve("gpt-4o")
        eu = stack.client(api_key="sk-eu")
        assert [m.id async for m in eu.models.list()] == ["gpt-4o", "gpt-4o-mini"]
        node = stack.client()  # a node key sees every alias
        assert "text-embedding-3-small" in [m.id async for m in node.models.list()]
