"""Every error is an OpenAI error body with the right status, and the client raises its class."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import openai
import pytest

from tests.stack import DEFAULT_REGIONS, running_stack

CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "hello"}],
}


def _error_of(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.mark.asyncio
async def test_malformed_json_is_a_400() -> None:
    async with running_stack() as stack:
        with pytest.raises(openai.BadRequestError) as raised:
            await stack.client().post(
                "/chat/completions",
                cast_to=httpx.Response,
                content=b'{"model": "gpt-4o-mini", "messages": [',
                options={"headers": {"Content-Type": "application/json"}},
            )
        assert _error_of(raised.value)["type"] == "invalid_request_error"


@pytest.mark.asyncio
async def test_schema_violation_is_a_400_naming_the_param() -> None:
    async with running_stack() as stack:
        with pytest.raises(openai.BadRequestError) as raised:
            await stack.client().chat.completions.create(**CHAT, temperature=5)
        assert _error_of(raised.value)["param"] == "temperature"


@pytest.mark.asyncio
async def test_wrong_key_is_a_401_and_missing_key_too() -> None:
    async with running_stack() as stack:
        with pytest.raises(openai.AuthenticationError) as raised:
            await stack.client(api_key="sk-wrong").chat.completions.create(**CHAT)
        assert _error_of(raised.value)["code"] == "invalid_api_key"
        async with stack.http.post(f"{stack.url}/v1/chat/completions", json=CHAT) as response:
            assert response.status == 401
            assert (await response.json())["error"]["type"] == "invalid_request_error"
        with pytest.raises(openai.AuthenticationError):
            await stack.client(api_key="sk-wrong").models.list()
        with pytest.raises(openai.AuthenticationError):
            await stack.client(api_key="sk-wrong").models.retrieve("gpt-4o")


@pytest.mark.asyncio
async def test_unknown_model_is_a_404() -> None:
    async with running_stack() as stack:
        with pytest.raises(openai.NotFoundError) as raised:
            await stack.client().chat.completions.create(**{**CHAT, "model": "gpt-9"})
        assert _error_of(raised.value)["code"] == "model_not_found"
        with pytest.raises(openai.NotFoundError):
            await stack.client().models.retrieve("gpt-9")


@pytest.mark.asyncio
async def test_wrong_method_is_a_405_and_unknown_path_a_404() -> None:
    async with running_stack() as stack:
        with pytest.raises(openai.APIStatusError) as raised:
            await stack.client().get("/chat/completions", cast_to=httpx.Response)
        assert raised.value.status_code == 405
        assert _error_of(raised.value)["code"] == "method_not_allowed"
        assert raised.value.response.headers["allow"] == "POST"
        with pytest.raises(openai.NotFoundError):
            await stack.client().get("/no/such/thing", cast_to=httpx.Response)


@pytest.mark.asyncio
async def test_body_over_the_limit_is_a_413() -> None:
    async with running_stack(overrides={"server": {"max_body_bytes": 2000}}) as stack:
        big = [{"role": "user", "content": "x" * 3000}]
        with pytest.raises(openai.APIStatusError) as raised:
            await stack.client().chat.completions.create(model="gpt-4o-mini", messages=big)
        assert raised.value.status_code == 413
        assert _error_of(raised.value)["code"] == "request_too_large"


@pytest.mark.asyncio
async def test_no_endpoint_with_the_required_tags_is_a_503() -> None:
    async with running_stack() as stack:
        client = stack.client(default_headers={"x-router-privacy-tags": "hipaa,eu-resident"})
        with pytest.raises(openai.InternalServerError) as raised:
            await client.chat.completions.create(**CHAT)
        assert raised.value.status_code == 503
        assert _error_of(raised.value)["code"] == "no_endpoint_for_privacy_tags"


@pytest.mark.asyncio
async def test_every_upstream_failing_is_a_502() -> None:
    async with running_stack() as stack:
        for region in DEFAULT_REGIONS:
            await stack.control(region.name, error_rate=1.0)
        with pytest.raises(openai.InternalServerError) as raised:
            await stack.client().chat.completions.create(**CHAT)
        assert raised.value.status_code == 502
        assert _error_of(raised.value)["code"] == "upstream_status_500"


@pytest.mark.asyncio
async def test_every_upstream_timing_out_is_a_504() -> None:
    async with running_stack(overrides={"routing": {"first_byte_timeout_s": 0.3}}) as stack:
        for region in DEFAULT_REGIONS:
            await stack.control(region.name, timeout_rate=1.0)
        with pytest.raises(openai.APIStatusError) as raised:
            await stack.client().chat.completions.create(**CHAT)
        assert raised.value.status_code == 504
        assert _error_of(raised.value)["code"] == "upstream_timeout"


@pytest.mark.asyncio
async def test_upstream_rate_limits_everywhere_reach_the_client_as_429() -> None:
    async with running_stack() as stack:
        for region in DEFAULT_REGIONS:
            await stack.control(region.name, error_rate=1.0, error_status=429)
        with pytest.raises(openai.RateLimitError):
            await stack.client().chat.completions.create(**CHAT)


@pytest.mark.asyncio
async def test_an_upstream_refusing_the_request_relays_its_error_and_ejects_nothing() -> None:
    too_long = {**CHAT, "max_tokens": 1_000_000}  # above the simulated model's output limit
    async with running_stack() as stack:
        for _ in range(6):
            with pytest.raises(openai.BadRequestError) as raised:
                await stack.client().chat.completions.create(**too_long)
            error = _error_of(raised.value)
            assert error["param"] == "max_tokens"  # the upstream's own words reach the client
            assert "us-east" not in error["message"]
        endpoints = (await stack.admin_endpoints())["endpoints"]
        assert {e["health"]["state"] for e in endpoints} == {"healthy"}
        assert all(e["health"]["consecutive_failures"] == 0 for e in endpoints)
