"""Proofs through the real router: requests that ask for many choices (`n`) are charged for all of
them, so they cannot spend a budget or a tokens-per-minute limit many times over.

An adversary test found both open: concurrent `n=128` requests overshot a daily budget, and pushed
5.2 M tokens through a 200 k tokens-per-minute limit. Admission charges each request its input
estimate plus the larger output cap times the choices generated (router/stages/admission.py);
a budget admits while spend + reserved < budget (router/limits/backend.py). So once every admitted
request has settled, spend is at most the budget plus the charge of the last request admitted,
and a token bucket is spent at most once over, by one request that asks for more than the whole
minute. The mock cloud honours `n` and always generates `max_tokens` per choice, so every admitted
request really costs what it was charged for.

Both limits backends are proved: the in-process one and Redis (a real redis-server).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.redis_server import redis_server
from tests.stack import Stack, running_stack
from tests.tenant_policies import policy_yaml

CHOICES = 128  # the most OpenAI (and the router) accept
MAX_TOKENS = 1_000
CONCURRENT = 10
# gpt-4o in every region of tests/stack.py's node config, per million tokens.
INPUT_PRICE_PER_MTOK = 2.5
OUTPUT_PRICE_PER_MTOK = 10.0
_WAIT_S = 60.0  # an upper bound on every wait; nothing here should come close


def _body(tag: int) -> bytes:
    return orjson.dumps(
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": f"hi {tag}"}],
            "max_tokens": MAX_TOKENS,
            "n": CHOICES,
        }
    )


def _charged_tokens(body: bytes) -> int:
    """What admission charges a request: its input estimate (about four bytes a token) plus
    the output cap for every choice."""
    return max(1, len(body) // 4) + MAX_TOKENS * CHOICES


def _charged_usd(body: bytes) -> float:
    input_tokens = max(1, len(body) // 4)
    return (
        input_tokens * INPUT_PRICE_PER_MTOK + MAX_TOKENS * CHOICES * OUTPUT_PRICE_PER_MTOK
    ) / 1e6


@asynccontextmanager
async def _tenant_stack(tmp_path: Path, backend: str, limits: str) -> AsyncIterator[Stack]:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "acme.yaml").write_text(
        policy_yaml("acme", f"models:\n  - alias: gpt-4o\nlimits:\n{limits}")
    )
    overrides: dict[str, Any] = {"policies": {"directory": str(policies), "watch": False}}
    with redis_server(tmp_path) if backend == "redis" else nullcontext("") as redis_url:
        if redis_url:
            overrides["limits"] = {"backend": "redis", "redis": {"url": redis_url}}
        async with running_stack(overrides=overrides) as stack:
            yield stack


async def _post(stack: Stack, body: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    async with stack.http.post(
        f"{stack.url}/v1/chat/completions",
        data=body,
        headers={"Authorization": "Bearer sk-acme", "Content-Type": "application/json"},
    ) as response:
        payload: dict[str, Any] = orjson.loads(await response.read())
        return response.status, dict(response.headers), payload


async def _all_at_once(stack: Stack, count: int) -> list[tuple[int, dict[str, str], Any]]:
    bodies = [_body(i) for i in range(count)]
    return await asyncio.wait_for(asyncio.gather(*(_post(stack, body) for body in bodies)), _WAIT_S)


async def _settled_usage(stack: Stack, requests: int) -> dict[str, Any]:
    """Today's usage once `requests` requests have settled (settling runs after the answer)."""
    today: dict[str, Any] = {}
    for _ in range(500):
        report = await stack.admin("/admin/tenants/acme/usage")
        today = report["today"]
        if today["requests"] >= requests and today["reserved_usd"] == 0:
            return today
        await asyncio.sleep(0.02)
    raise AssertionError(f"never saw {requests} settled requests: {today}")


async def _posts_received(stack: Stack) -> int:
    count = 0
    for region in stack.cloud.regions:
        records = await stack.received(region)
        count += sum(1 for record in records if record["path"] == "/v1/chat/completions")
    return count


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_n_heavy_requests_overshoot_a_budget_by_at_most_one_admitted_charge(
    tmp_path: Path, backend: str
) -> None:
    charge_usd = _charged_usd(_body(0))  # about $1.28: 128 choices of 1,000 tokens at $10/Mtok
    budget_usd = 3.0  # spent by three such requests; counting one choice, by none of the ten
    async with _tenant_stack(tmp_path, backend, f"  daily_budget_usd: {budget_usd}\n") as stack:
        results = await _all_at_once(stack, CONCURRENT)

        served = [payload for status, _, payload in results if status == 200]
        refused = [payload for status, _, payload in results if status != 200]
        assert served, results
        for payload in served:  # each really generated every choice it was charged for
            assert len(payload["choices"]) == CHOICES
            assert payload["usage"]["completion_tokens"] == CHOICES * MAX_TOKENS
        assert {status for status, _, _ in results} <= {200, 429}
        for payload in refused:
            assert payload["error"]["code"] == "insufficient_quota", payload
        admitted = len(served)
        assert await _posts_received(stack) == admitted  # refused before routing

        today = await _settled_usage(stack, admitted)
        assert today["requests"] == admitted
        assert today["output_tokens"] == admitted * CHOICES * MAX_TOKENS
        assert today["spend_usd"] <= budget_usd + charge_usd, today
        # Admitted while spend + reserved < budget, each reserving its whole charge.
        assert admitted <= int(budget_usd // charge_usd) + 1
        assert today["refused"] == {"daily_budget_usd": len(refused)}

        status, _, payload = await _post(stack, _body(CONCURRENT))
        assert status == 429 and payload["error"]["code"] == "insufficient_quota"


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_n_heavy_requests_cannot_push_many_times_a_token_limit_through(
    tmp_path: Path, backend: str
) -> None:
    tokens_per_minute = 200_000
    charge = _charged_tokens(_body(0))  # about 128 k: a request fits the minute once
    requests = 2 * CONCURRENT  # 2.56 M tokens if `n` were not counted
    async with _tenant_stack(
        tmp_path, backend, f"  tokens_per_minute: {tokens_per_minute}\n"
    ) as stack:
        results = await _all_at_once(stack, requests)

        served = [payload for status, _, payload in results if status == 200]
        refused = [(headers, payload) for status, headers, payload in results if status != 200]
        assert served, results
        assert {status for status, _, _ in results} <= {200, 429}
        for headers, payload in refused:
            assert payload["error"]["code"] == "rate_limit_exceeded", payload
            assert payload["error"]["type"] == "tokens", payload
            assert headers["x-ratelimit-limit-tokens"] == str(tokens_per_minute)
        admitted = len(served)
        assert await _posts_received(stack) == admitted

        today = await _settled_usage(stack, admitted)
        assert today["output_tokens"] == admitted * CHOICES * MAX_TOKENS
        assert today["total_tokens"] <= tokens_per_minute + charge, today
        # A full bucket takes one such request and is left in debt; the refill during the
        # test's few seconds cannot pay for a second.
        assert admitted <= tokens_per_minute // charge + 1
        assert today["refused"] == {"tokens_per_minute": len(refused)}
