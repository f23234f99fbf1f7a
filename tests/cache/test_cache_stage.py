"""The exact cache through the router and the official client: hits, misses, bypass, the request
header's directives, JSON and streamed replay, and what is never stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from router.state import STATE
from tests.cache.cache_stack import QUESTION, asking, cloud_calls, write_tenants
from tests.stack import ADMIN_HEADERS, running_stack
from tests.tenant_policies import policy_yaml


def _tenants(directory: Path) -> dict[str, Any]:
    write_tenants(
        directory,
        {
            "acme": "{ttl_s: 600, semantic: true}",
            "beta": "{}",
            "nocache": "{enabled: false}",
            "payer": "{charge_hits: true}",
        },
    )
    return {
        "policies": {"directory": str(directory), "watch": False},
        "cache": {"enabled": True},
    }


@pytest.mark.asyncio
async def test_a_repeat_is_answered_from_the_cache_as_json_and_as_a_stream(
    tmp_path: Path,
) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        client = stack.client(api_key="sk-acme")
        first = await client.chat.completions.with_raw_response.create(**QUESTION)
        assert first.headers["x-router-cache"] == "miss"
        second = await client.chat.completions.with_raw_response.create(**QUESTION)
        assert second.headers["x-router-cache"] == "hit-exact"
        assert second.headers["x-router-served-by"] == "cache"
        assert int(second.headers["x-router-cache-age"]) >= 0
        assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
        assert await cloud_calls(stack) == 1

        stream = await client.chat.completions.with_raw_response.create(
            **QUESTION, stream=True, stream_options={"include_usage": True}
        )
        assert stream.headers["x-router-cache"] == "hit-exact"
        chunks = [chunk async for chunk in stream.parse()]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == first.parse().choices[0].message.content
        finish = first.parse().choices[0].finish_reason
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == finish
        assert chunks[-1].usage is not None
        assert await cloud_calls(stack) == 1


@pytest.mark.asyncio
async def test_a_streamed_answer_is_stored_and_served_to_json(tmp_path: Path) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        client = stack.client(api_key="sk-acme")
        streamed = await client.chat.completions.create(**QUESTION, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in streamed if c.choices])
        raw = await client.chat.completions.with_raw_response.create(**QUESTION)
        assert raw.headers["x-router-cache"] == "hit-exact"
        assert raw.parse().choices[0].message.content == text


@pytest.mark.asyncio
async def test_tenants_system_prompts_and_parameters_never_share_entries(tmp_path: Path) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        acme, beta = stack.client(api_key="sk-acme"), stack.client(api_key="sk-beta")
        await acme.chat.completions.create(**QUESTION)
        for client, request in (
            (beta, QUESTION),  # another tenant
            (acme, {**QUESTION, "messages": [{"role": "system", "content": "Be formal."},
                                             QUESTION["messages"][1]]}),  # another system prompt
            (acme, {**QUESTION, "seed": 17}),  # another parameter
        ):  # fmt: skip
            raw = await client.chat.completions.with_raw_response.create(**request)
            assert raw.headers["x-router-cache"] == "miss"
        assert await cloud_calls(stack) == 4


@pytest.mark.asyncio
async def test_the_request_header_directives(tmp_path: Path) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        client = stack.client(api_key="sk-acme")
        with pytest.raises(openai.APIStatusError) as missed:
            await client.chat.completions.create(
                **QUESTION, extra_headers={"x-router-cache": "only-if-cached"}
            )
        assert missed.value.status_code == 504
        assert missed.value.response.json()["error"]["code"] == "cache_miss"
        await client.chat.completions.create(
            **QUESTION, extra_headers={"x-router-cache": "no-store"}
        )
        raw = await client.chat.completions.with_raw_response.create(**QUESTION)
        assert raw.headers["x-router-cache"] == "miss"  # the no-store answer was not kept
        raw = await client.chat.completions.with_raw_response.create(
            **QUESTION, extra_headers={"x-router-cache": "no-cache"}
        )
        assert raw.headers["x-router-cache"] == "miss"  # not served from the cache...
        raw = await client.chat.completions.with_raw_response.create(
            **QUESTION, extra_headers={"x-router-cache": "only-if-cached"}
        )
        assert raw.headers["x-router-cache"] == "hit-exact"  # ...but stored
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(
                **QUESTION, extra_headers={"x-router-cache": "maybe"}
            )


@pytest.mark.asyncio
async def test_sampled_requests_bypass_and_a_tenant_can_turn_the_cache_off(
    tmp_path: Path,
) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        client = stack.client(api_key="sk-acme")
        for _ in range(2):
            raw = await client.chat.completions.with_raw_response.create(
                **{**QUESTION, "temperature": 0.9}
            )
            assert raw.headers["x-router-cache"] == "bypass"
        off = stack.client(api_key="sk-nocache")
        for _ in range(2):
            raw = await off.chat.completions.with_raw_response.create(**QUESTION)
            assert "x-router-cache" not in raw.headers
        assert await cloud_calls(stack) == 4


@pytest.mark.asyncio
async def test_a_stream_cut_by_an_error_is_never_stored(tmp_path: Path) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        for region in ("us-east", "eu-west", "ap-south"):
            await stack.control(region, tokens_per_s=50)
        client = stack.client(api_key="sk-acme")
        stream = await client.chat.completions.create(**QUESTION, stream=True)
        await anext(aiter(stream))
        await stream.close()  # the client leaves mid-stream: the answer is incomplete
        raw = await client.chat.completions.with_raw_response.create(**QUESTION)
        assert raw.headers["x-router-cache"] == "miss"


@pytest.mark.asyncio
async def test_the_admin_api_purges_one_tenants_entries(tmp_path: Path) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        acme, beta = stack.client(api_key="sk-acme"), stack.client(api_key="sk-beta")
        await acme.chat.completions.create(**QUESTION)
        await beta.chat.completions.create(**QUESTION)
        async with stack.http.delete(
            f"{stack.url}/admin/cache", params={"tenant": "acme"}, headers=ADMIN_HEADERS
        ) as response:
            assert response.status == 200
            assert (await response.json())["purged"] == 1
        raw = await acme.chat.completions.with_raw_response.create(**QUESTION)
        assert raw.headers["x-router-cache"] == "miss"
        raw = await beta.chat.completions.with_raw_response.create(**QUESTION)
        assert raw.headers["x-router-cache"] == "hit-exact"
        async with stack.http.delete(f"{stack.url}/admin/cache") as response:
            assert response.status == 401  # the admin token is required


@pytest.mark.asyncio
async def test_a_tenant_that_did_not_opt_in_is_served_exact_hits_only(tmp_path: Path) -> None:
    """The node's default is exact-only (`cache.semantic_default: false`): `beta`'s policy does
    not say, so a reworded question misses even in its own scope, and nothing is embedded."""
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        beta = stack.client(api_key="sk-beta")
        await beta.chat.completions.create(**asking("What is the capital of France?"))
        await stack.app[STATE].cache.drain()
        raw = await beta.chat.completions.with_raw_response.create(
            **asking("Which city is the capital of France?")
        )
        assert raw.headers["x-router-cache"] == "miss"
        again = await beta.chat.completions.with_raw_response.create(
            **asking("What is the capital of France?")
        )
        assert again.headers["x-router-cache"] == "hit-exact"
        assert len(stack.app[STATE].cache.semantic) == 0


@pytest.mark.asyncio
async def test_a_reworded_question_is_a_semantic_hit_but_a_near_miss_is_not(
    tmp_path: Path,
) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        acme = stack.client(api_key="sk-acme")
        first = await acme.chat.completions.create(**asking("What is the capital of France?"))
        await stack.app[STATE].cache.drain()  # its question, embedded while it was served
        raw = await acme.chat.completions.with_raw_response.create(
            **asking("Which city is the capital of France?")
        )
        assert raw.headers["x-router-cache"] == "hit-semantic"
        assert float(raw.headers["x-router-cache-similarity"]) >= 0.90
        assert raw.headers["x-router-cache-verifier"] == "guards; agree"
        assert raw.parse().choices[0].message.content == first.choices[0].message.content

        for near_miss in ("What is the capital of Germany?", "What is not the capital of France?"):
            raw = await acme.chat.completions.with_raw_response.create(**asking(near_miss))
            assert raw.headers["x-router-cache"] == "miss", near_miss

        beta = stack.client(api_key="sk-beta")  # the same reworded question, another tenant
        raw = await beta.chat.completions.with_raw_response.create(
            **asking("Which city is the capital of France?")
        )
        assert raw.headers["x-router-cache"] == "miss"

        stream = await acme.chat.completions.with_raw_response.create(
            **asking("Which city is the capital of France?"), stream=True
        )
        assert stream.headers["x-router-cache"] == "hit-semantic"
        text = "".join(
            [c.choices[0].delta.content or "" async for c in stream.parse() if c.choices]
        )
        assert text == first.choices[0].message.content


@pytest.mark.asyncio
async def test_hits_are_free_and_counted_as_saved_unless_the_policy_charges_them(
    tmp_path: Path,
) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        for tenant in ("acme", "payer"):
            client = stack.client(api_key=f"sk-{tenant}")
            await client.chat.completions.create(**QUESTION)  # a miss, served upstream
            await client.chat.completions.create(**QUESTION)  # an exact hit
            stream = await client.chat.completions.create(**QUESTION, stream=True)
            async for _chunk in stream:  # a hit replayed as a stream
                pass
        free = (await stack.admin("/admin/tenants/acme/usage"))["today"]
        charged = (await stack.admin("/admin/tenants/payer/usage"))["today"]
    first_cost = free["by_endpoint"][next(iter(free["by_endpoint"]))]["spend_usd"]
    assert first_cost > 0
    assert (free["requests"], free["cache_hits"]) == (3, 2)
    assert free["spend_usd"] == pytest.approx(first_cost)
    assert free["saved_usd"] == pytest.approx(2 * first_cost)
    assert free["by_model"]["gpt-4o-mini"]["cache_hits"] == 2
    assert (charged["requests"], charged["cache_hits"]) == (3, 2)
    assert charged["spend_usd"] == pytest.approx(3 * first_cost)
    assert charged["saved_usd"] == 0
    assert charged["input_tokens"] == 3 * free["input_tokens"]


@pytest.mark.asyncio
async def test_metrics_count_verdicts_and_entries_without_naming_tenants(tmp_path: Path) -> None:
    async with running_stack(overrides=_tenants(tmp_path)) as stack:
        client = stack.client(api_key="sk-acme")
        await client.chat.completions.create(**QUESTION)
        await client.chat.completions.create(**QUESTION)
        await stack.app[STATE].cache.drain()
        await client.chat.completions.create(**asking("Which city is the capital of France?"))
        await client.chat.completions.create(**{**QUESTION, "temperature": 1})
        async with stack.http.get(f"{stack.url}/metrics") as response:
            text = await response.text()
    for verdict in ("miss", "hit-exact", "hit-semantic", "bypass"):
        assert f'router_cache_lookups_total{{result="{verdict}"}} 1.0' in text, verdict
    assert "router_cache_entries 1.0" in text
    assert "router_cache_semantic_vectors 1.0" in text
    assert "acme" not in text


@pytest.mark.asyncio
async def test_each_experiment_arm_has_its_own_entries_and_random_draws_are_not_cached(
    tmp_path: Path,
) -> None:
    overrides = _tenants(tmp_path)
    (tmp_path / "split.yaml").write_text(
        policy_yaml(
            "split",
            "models:\n  - alias: gpt-4o-mini\n  - alias: gpt-4o\n"
            "experiments:\n  - name: bigger\n    applies_to: gpt-4o-mini\n"
            "    arms: [{alias: gpt-4o-mini, weight: 1}, {alias: gpt-4o, weight: 1}]\n"
            "    sticky_by: user\n",
        )
    )
    async with running_stack(overrides=overrides) as stack:
        client = stack.client(api_key="sk-split")
        arm_of: dict[str, str] = {}
        for i in range(40):  # one user on each arm
            raw = await client.chat.completions.with_raw_response.create(
                **{**QUESTION, "temperature": 1}, user=f"user-{i}"
            )
            arm_of.setdefault(raw.headers["x-router-experiment"], f"user-{i}")
        small, big = arm_of["bigger=gpt-4o-mini"], arm_of["bigger=gpt-4o"]

        first = await client.chat.completions.with_raw_response.create(**QUESTION, user=small)
        assert first.headers["x-router-cache"] == "miss"
        other_arm = await client.chat.completions.with_raw_response.create(**QUESTION, user=big)
        assert other_arm.headers["x-router-cache"] == "miss"  # never the other arm's answer
        assert other_arm.parse().model == "gpt-4o"
        again = await client.chat.completions.with_raw_response.create(**QUESTION, user=small)
        assert again.headers["x-router-cache"] == "hit-exact"
        assert again.parse().model == "gpt-4o-mini"
        anonymous = await client.chat.completions.with_raw_response.create(**QUESTION)
        assert anonymous.headers["x-router-cache"] == "bypass"  # its arm is drawn at random
