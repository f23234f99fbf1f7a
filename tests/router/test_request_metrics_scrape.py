"""The per-request series at `/metrics` after real requests through the router: answered ones by
where they were answered from, a refused one under `(unrouted)`, a stream's time to first token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.stack import ADMIN_HEADERS, API_KEY, Stack, running_stack
from tests.tenant_policies import ONE_MODEL, key_of, write_policies

CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "What is the capital of Peru?"}],
}


async def _scrape(stack: Stack) -> dict[str, list[tuple[dict[str, str], float]]]:
    async with stack.http.get(f"{stack.url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def _total(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    return sum(
        value
        for seen, value in samples.get(name, [])
        if all(seen.get(key) == wanted for key, wanted in labels.items())
    )


@pytest.mark.asyncio
async def test_requests_are_counted_by_where_they_were_answered_and_refusals_by_type() -> None:
    async with running_stack() as stack:
        client = stack.client()
        await client.chat.completions.create(**CHAT)
        stream = await client.chat.completions.create(
            **CHAT, stream=True, stream_options={"include_usage": True}
        )
        async for _ in stream:
            pass
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(**{**CHAT, "model": "made-up-model-7f3a"})
        samples = await _scrape(stack)
    requests = "router_requests_total"
    assert _total(samples, requests, alias="gpt-4o-mini", served_by="cloud", outcome="ok") == 2
    assert _total(samples, requests, alias="(unrouted)", error_type="model_not_found") == 1
    assert "made-up-model-7f3a" not in repr(samples)
    ttft = "gen_ai_server_time_to_first_token_seconds_count"
    assert _total(samples, ttft, gen_ai_request_model="gpt-4o-mini") == 1  # the stream only
    tokens = "gen_ai_client_token_usage_count"
    assert _total(samples, tokens, gen_ai_token_type="output") == 2
    assert _total(samples, "router_added_latency_seconds_count", operation="chat") == 3
    duration = "gen_ai_client_operation_duration_seconds_sum"
    assert _total(samples, duration, gen_ai_request_model="gpt-4o-mini") > 0


@pytest.mark.asyncio
async def test_requests_are_counted_by_the_api_they_arrived_in() -> None:
    async with running_stack() as stack:
        client = stack.client()
        await client.chat.completions.create(**CHAT)
        await client.responses.create(model="gpt-4o-mini", input="hi")
        await client.responses.create(model="gpt-4o-mini", input="hi again")
        claude = anthropic.AsyncAnthropic(base_url=stack.url, api_key=API_KEY, max_retries=0)
        await claude.messages.create(
            model="gpt-4o-mini", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
        samples = await _scrape(stack)
    apis = "router_api_requests_total"
    counts = {api: _total(samples, apis, api=api) for api in ("chat_completions", "responses")}
    assert counts == {"chat_completions": 1, "responses": 2}
    assert _total(samples, apis, api="messages") == 1
    # Translated, they are chat requests in the other series.
    assert _total(samples, "router_requests_total", operation="chat") == 4


@pytest.mark.asyncio
async def test_an_endpoint_failing_shows_its_attempts_failovers_and_state() -> None:
    async with running_stack() as stack:
        await stack.control("us-east", error_rate=1.0)
        client = stack.client(default_headers={"x-router-objective": "latency"})
        for _ in range(3):
            await client.chat.completions.create(**CHAT)
        samples = await _scrape(stack)
    attempts = "router_endpoint_attempts_total"
    assert _total(samples, attempts, endpoint="us-east", result="5xx") >= 1
    assert _total(samples, "router_failovers_total", endpoint="us-east") >= 1
    served = [
        labels["endpoint"]
        for labels, value in samples["router_endpoint_attempts_total"]
        if labels["result"] == "ok" and value > 0
    ]
    assert served and "us-east" not in served
    assert _total(samples, "router_spend_usd_total", endpoint=served[0]) > 0
    for endpoint in ("us-east", *served):
        assert _total(samples, "router_endpoint_state", endpoint=endpoint) == 1  # one state each
        assert (endpoint, 0.0) in [
            (labels["endpoint"], value) for labels, value in samples["router_endpoint_in_flight"]
        ]
    assert _total(samples, "router_endpoint_requests_total", endpoint="us-east") >= 1
    assert _total(samples, "router_endpoint_failures_total", endpoint="us-east") >= 1


@pytest.mark.asyncio
async def test_with_tenant_labels_metrics_name_the_tenant_and_need_the_admin_token(
    tmp_path: Path,
) -> None:
    policies = write_policies(tmp_path / "policies", {"acme": ONE_MODEL})
    overrides = {
        "policies": {"directory": str(policies), "watch": False},
        "telemetry": {"metrics": {"tenant_label": True}},
    }
    async with running_stack(overrides=overrides) as stack:
        await stack.client(api_key=key_of("acme")).chat.completions.create(**CHAT)
        await stack.client().chat.completions.create(**CHAT)
        async with stack.http.get(f"{stack.url}/metrics") as refused:
            assert refused.status in (401, 403)
        async with stack.http.get(f"{stack.url}/metrics", headers=ADMIN_HEADERS) as response:
            text = await response.text()
    samples = {
        (sample.name, sample.labels.get("tenant")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("router_requests_total", "acme")] == 1
    assert samples[("router_requests_total", "node")] == 1
    assert samples[("router_spend_usd_total", "acme")] > 0


@pytest.mark.asyncio
async def test_without_tenant_labels_metrics_are_open_and_name_no_tenant(tmp_path: Path) -> None:
    policies = write_policies(tmp_path / "policies", {"acme": ONE_MODEL})
    overrides = {"policies": {"directory": str(policies), "watch": False}}
    async with running_stack(overrides=overrides) as stack:
        await stack.client(api_key=key_of("acme")).chat.completions.create(**CHAT)
        samples = await _scrape(stack)
    assert all("tenant" not in labels for series in samples.values() for labels, _ in series)
    assert "acme" not in repr(samples)
