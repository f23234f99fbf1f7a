"""Admission through the real router and the official client: limits, budgets, usage, admin API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.redis_server import free_port
from tests.stack import ADMIN_HEADERS, API_KEY, Stack, running_stack
from tests.tenant_policies import write_policies

CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 20,
}


def _policies(directory: Path, **tenants: str) -> dict[str, Any]:
    models = "models:\n  - alias: gpt-4o-mini\n  - alias: gpt-4o\n"
    write_policies(directory, {t: f"{models}limits:\n{limits}" for t, limits in tenants.items()})
    return {"policies": {"directory": str(directory), "watch": False}}


async def _usage(stack: Stack, tenant: str, *, requests: int | None = None) -> dict[str, Any]:
    """The tenant's usage report, once `requests` requests have settled (settling is async)."""
    for _ in range(200):
        report: dict[str, Any] = await stack.admin(f"/admin/tenants/{tenant}/usage")
        if requests is None or report["today"]["requests"] >= requests:
            return report
        await asyncio.sleep(0.01)
    raise AssertionError(f"{tenant} never reached {requests} settled requests: {report}")


@pytest.mark.asyncio
async def test_rate_limit_replies_429_with_retry_after_and_the_openai_code(
    tmp_path: Path,
) -> None:
    async with running_stack(
        overrides=_policies(tmp_path, acme="  requests_per_minute: 2\n")
    ) as stack:
        client = stack.client(api_key="sk-acme")
        first = await client.chat.completions.with_raw_response.create(**CHAT)
        assert first.headers["x-ratelimit-limit-requests"] == "2"
        assert first.headers["x-ratelimit-remaining-requests"] == "1"
        await client.chat.completions.create(**CHAT)
        with pytest.raises(openai.RateLimitError) as raised:
            await client.chat.completions.create(**CHAT)
        response = raised.value.response
        assert response.status_code == 429
        assert 1 <= int(response.headers["retry-after"]) <= 30  # a token every 30 s
        assert raised.value.code == "rate_limit_exceeded"
        assert response.json()["error"]["type"] == "requests"
        assert response.headers["x-ratelimit-remaining-requests"] == "0"
        # Refused before routing: the cloud saw two requests, not three.
        received = [
            r
            for region in ("us-east", "eu-west", "ap-south")
            for r in await stack.received(region)
            if r["method"] == "POST"
        ]
        assert len(received) == 2
        report = await _usage(stack, "acme", requests=2)
        assert report["today"]["refused"] == {"requests_per_minute": 1}


@pytest.mark.asyncio
async def test_a_spent_daily_budget_is_insufficient_quota_until_tomorrow(tmp_path: Path) -> None:
    # gpt-4o-mini costs about $0.0000xx a request here: a tiny budget is spent by one.
    async with running_stack(
        overrides=_policies(tmp_path, acme="  daily_budget_usd: 0.000001\n")
    ) as stack:
        client = stack.client(api_key="sk-acme")
        await client.chat.completions.create(**CHAT)
        report = await _usage(stack, "acme", requests=1)
        assert report["today"]["spend_usd"] > 0.000001
        with pytest.raises(openai.RateLimitError) as raised:
            await client.chat.completions.create(**CHAT)
        assert raised.value.code == "insufficient_quota"
        assert raised.value.response.json()["error"]["type"] == "insufficient_quota"
        retry_after_s = int(raised.value.response.headers["retry-after"])
        assert 1 <= retry_after_s <= 86_400  # at most until the next UTC midnight
        # Another tenant, another budget.
        other = stack.client()  # the node key
        assert (await other.chat.completions.create(**CHAT)).choices


@pytest.mark.asyncio
async def test_streamed_tokens_are_settled_into_the_token_bucket(tmp_path: Path) -> None:
    async with running_stack(
        overrides=_policies(tmp_path, acme="  tokens_per_minute: 100000\n")
    ) as stack:
        client = stack.client(api_key="sk-acme")
        stream = await client.chat.completions.create(
            **CHAT, stream=True, stream_options={"include_usage": True}
        )
        usage = None
        async for chunk in stream:
            usage = chunk.usage or usage
        assert usage is not None
        report = await _usage(stack, "acme", requests=1)
        today = report["today"]
        assert today["input_tokens"] == usage.prompt_tokens
        assert today["output_tokens"] == usage.completion_tokens
        assert today["by_model"]["gpt-4o-mini"]["total_tokens"] == usage.total_tokens
        endpoint = next(iter(today["by_endpoint"]))
        assert today["by_endpoint"][endpoint]["requests"] == 1
        assert today["reserved_usd"] == 0  # the estimate was replaced by the real cost
        # The next request sees the bucket charged with what the stream really used.
        raw = await client.chat.completions.with_raw_response.create(**CHAT)
        remaining = int(raw.headers["x-ratelimit-remaining-tokens"])
        assert remaining <= 100000 - usage.total_tokens


@pytest.mark.asyncio
async def test_a_concurrency_limit_counts_an_open_stream(tmp_path: Path) -> None:
    async with running_stack(
        overrides=_policies(tmp_path, acme="  concurrent_requests: 1\n")
    ) as stack:
        for region in ("us-east", "eu-west", "ap-south"):
            await stack.control(region, tokens_per_s=20)  # a stream that takes a while
        client = stack.client(api_key="sk-acme")
        stream = await client.chat.completions.create(**CHAT, stream=True)
        first = await anext(aiter(stream))
        assert first.choices is not None
        with pytest.raises(openai.RateLimitError) as raised:
            await client.chat.completions.create(**CHAT)
        assert raised.value.code == "rate_limit_exceeded"
        assert "concurrent" in raised.value.message
        async for _ in stream:
            pass
        await _usage(stack, "acme", requests=1)
        assert (await client.chat.completions.create(**CHAT)).choices


@pytest.mark.asyncio
async def test_usage_reports_by_model_and_endpoint_and_never_mixes_tenants(
    tmp_path: Path,
) -> None:
    async with running_stack(
        overrides=_policies(tmp_path, acme="  requests_per_minute: 100\n", beta="  {}\n")
    ) as stack:
        acme, beta = stack.client(api_key="sk-acme"), stack.client(api_key="sk-beta")
        for _ in range(3):
            await acme.chat.completions.create(**CHAT)
        await acme.chat.completions.create(**{**CHAT, "model": "gpt-4o"})
        await beta.chat.completions.create(**CHAT)
        report = await _usage(stack, "acme", requests=4)
        today, month = report["today"], report["this_month"]
        assert today["requests"] == month["requests"] == 4
        assert today["by_model"]["gpt-4o-mini"]["requests"] == 3
        assert today["by_model"]["gpt-4o"]["requests"] == 1
        assert sum(e["requests"] for e in today["by_endpoint"].values()) == 4
        assert today["spend_usd"] == pytest.approx(
            sum(m["spend_usd"] for m in today["by_model"].values())
        )
        assert report["limits"] == {"requests_per_minute": 100}
        assert report["backend"] == "memory"
        beta_report = await _usage(stack, "beta", requests=1)
        assert beta_report["today"]["requests"] == 1
        await stack.admin("/admin/tenants/nobody/usage", expect_status=404)


@pytest.mark.asyncio
async def test_the_admin_api_needs_the_admin_token_not_a_tenant_key(tmp_path: Path) -> None:
    async with running_stack(overrides=_policies(tmp_path, acme="  {}\n")) as stack:
        for path in ("/admin/endpoints", "/admin/policies", "/admin/tenants/acme/usage"):
            for headers in ({}, {"Authorization": f"Bearer {API_KEY}"}, {"Authorization": "x"}):
                async with stack.http.get(f"{stack.url}{path}", headers=headers) as response:
                    assert response.status == 401, path
                    assert (await response.json())["error"]["code"] == "invalid_api_key"
            async with stack.http.get(f"{stack.url}{path}", headers=ADMIN_HEADERS) as response:
                assert response.status == 200, path


@pytest.mark.asyncio
async def test_the_admin_api_is_closed_when_no_token_is_configured() -> None:
    async with (
        running_stack(overrides={"admin": {"token_env": None}}) as stack,
        stack.http.get(f"{stack.url}/admin/endpoints", headers=ADMIN_HEADERS) as response,
    ):
        assert response.status == 403
        assert "admin.token_env" in (await response.json())["error"]["message"]


@pytest.mark.asyncio
async def test_metrics_count_refusals_by_limit_without_naming_tenants(tmp_path: Path) -> None:
    async with running_stack(
        overrides=_policies(tmp_path, acme="  requests_per_minute: 1\n")
    ) as stack:
        client = stack.client(api_key="sk-acme")
        await client.chat.completions.create(**CHAT)
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(**CHAT)
        async with stack.http.get(f"{stack.url}/metrics") as response:
            assert response.status == 200
            text = await response.text()
        assert 'router_limits_refused_total{limit="requests_per_minute"} 1.0' in text
        assert "acme" not in text


@pytest.mark.asyncio
async def test_a_router_whose_redis_is_unreachable_from_the_start_serves_on_local_limits(
    tmp_path: Path,
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    overrides = _policies(tmp_path, acme="  requests_per_minute: 2\n")
    overrides["limits"] = {"backend": "redis", "redis": {"url": closed, "timeout_ms": 200}}
    async with running_stack(overrides=overrides) as stack:
        client = stack.client(api_key="sk-acme")
        await client.chat.completions.create(**CHAT)
        await client.chat.completions.create(**CHAT)
        with pytest.raises(openai.RateLimitError):  # still enforced, locally
            await client.chat.completions.create(**CHAT)
        report = await _usage(stack, "acme", requests=2)
        assert report["backend"] == "memory" and report["degraded"] is True


@pytest.mark.asyncio
async def test_a_redis_that_never_answers_times_out_into_local_limits(tmp_path: Path) -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts commands, answers none
        writer.close()

    silent = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    overrides = _policies(tmp_path, acme="  requests_per_minute: 100\n")
    overrides["limits"] = {
        "backend": "redis",
        "redis": {"url": f"redis://127.0.0.1:{port}/0", "timeout_ms": 100},
    }
    async with silent, running_stack(overrides=overrides) as stack:
        client = stack.client(api_key="sk-acme")
        assert (await client.chat.completions.create(**CHAT)).choices
        report = await _usage(stack, "acme", requests=1)
        assert report["backend"] == "memory" and report["degraded"] is True


@pytest.mark.asyncio
async def test_usage_is_keyed_by_the_resolved_alias_never_by_a_made_up_model_name(
    tmp_path: Path,
) -> None:
    async with running_stack(overrides=_policies(tmp_path, acme="  {}\n")) as stack:
        client = stack.client(api_key="sk-acme")
        made_up = "x" * 10_000
        for suffix in "abc":
            with pytest.raises(openai.NotFoundError):
                await client.chat.completions.create(**{**CHAT, "model": made_up + suffix})
        await client.chat.completions.create(**CHAT)
        report = await _usage(stack, "acme", requests=4)
        assert set(report["today"]["by_model"]) == {"(unrouted)", "gpt-4o-mini"}
        assert report["today"]["by_model"]["(unrouted)"]["requests"] == 3
        assert set(report["this_month"]["by_model"]) == {"(unrouted)", "gpt-4o-mini"}
