"""A tenant's routing rules on the real stack: its fail-over budget and deadline, its balanced
weights, and its experiments (weighted, sticky traffic splits between aliases)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import openai
import pytest

from loadtest.mock_cloud.settings import RegionSettings
from router.policy.keys import hash_key
from tests.stack import API_KEY, Stack, running_stack
from tests.tenant_policies import write_policies

CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 4,
}
MODELS = "models:\n  - alias: gpt-4o-mini\n  - alias: gpt-4o\n"


def _key(tenant: str) -> str:
    return f"sk-{tenant}"


def _policies(directory: Path, **bodies: str) -> dict[str, Any]:
    """One policy file per tenant (keyword = tenant id, value = everything after api_keys)."""
    write_policies(directory, bodies, explain=True)
    return {"policies": {"directory": str(directory), "watch": False}}


async def _chat_requests_received(stack: Stack) -> int:
    total = 0
    for region in stack.cloud.regions:
        received = await stack.received(region)
        total += sum(r["path"].endswith("/chat/completions") for r in received)
    return total


async def _failing_attempts(stack: Stack, api_key: str) -> tuple[int, list[str]]:
    """Upstream attempts one request made when every region fails, and its fail-over history."""
    before = await _chat_requests_received(stack)
    with pytest.raises(openai.APIStatusError) as raised:
        await stack.client(api_key=api_key).chat.completions.create(**CHAT)
    assert raised.value.status_code == 502
    reason = raised.value.response.headers["x-router-reason"]
    history = reason.split("failover_after=", 1)[1].split(",")
    return await _chat_requests_received(stack) - before, history


@pytest.mark.asyncio
async def test_max_attempts_is_the_tenants_or_else_the_nodes(tmp_path: Path) -> None:
    overrides = {
        **_policies(
            tmp_path,
            once=MODELS + "routing:\n  max_attempts: 1\n",
            thrice=MODELS + "routing:\n  max_attempts: 3\n",
            unset=MODELS,
        ),
        "routing": {"max_attempts": 2},
        "health": {"consecutive_failures": 100},
    }
    async with running_stack(overrides=overrides) as stack:
        for region in stack.cloud.regions:
            await stack.control(region, error_rate=1.0)
        attempts, history = await _failing_attempts(stack, _key("once"))
        assert attempts == 1 and len(history) == 1
        assert history[0].endswith(":upstream_status_500")
        attempts, history = await _failing_attempts(stack, _key("thrice"))
        assert attempts == 3 and len({h.split(":")[0] for h in history}) == 3
        # No max_attempts in the policy, and node keys: the node config's 2.
        assert (await _failing_attempts(stack, _key("unset")))[0] == 2
        assert (await _failing_attempts(stack, API_KEY))[0] == 2


@pytest.mark.asyncio
async def test_deadline_is_the_tenants_or_else_the_nodes(tmp_path: Path) -> None:
    overrides = {
        **_policies(
            tmp_path,
            patient=MODELS + "routing:\n  deadline_s: 20\n",
            hasty=MODELS + "routing:\n  deadline_s: 0.05\n",
            unset=MODELS,
        ),
        # Per-read timeouts out of the way: only the request's deadline decides here.
        "routing": {"deadline_s": 1.0, "first_byte_timeout_s": 30},
    }
    async with running_stack(overrides=overrides) as stack:
        patient = stack.client(api_key=_key("patient"))
        hasty = stack.client(api_key=_key("hasty"))
        unset = stack.client(api_key=_key("unset"))

        # Every answer takes 2.5 s: longer than the node's deadline, within the patient tenant's.
        for region in stack.cloud.regions:
            await stack.control(region, ttft_ms=2500)
        assert (await patient.chat.completions.create(**CHAT)).choices
        with pytest.raises(openai.APIStatusError) as raised:
            await unset.chat.completions.create(**CHAT)
        assert raised.value.status_code == 504
        assert "upstream_timeout" in raised.value.response.headers["x-router-reason"]

        # Every answer takes 0.1 s: within the node's deadline, never within the hasty tenant's.
        for region in stack.cloud.regions:
            await stack.control(region, ttft_ms=100)
        assert (await unset.chat.completions.create(**CHAT)).choices
        with pytest.raises(openai.APIStatusError) as raised:
            await hasty.chat.completions.create(**CHAT)
        assert raised.value.status_code == 504


async def _wait_until_probed(stack: Stack, endpoint: str, rtt_ms: float) -> None:
    """Poll with a bound; the bound is a safety net, not a speed assertion."""
    deadline = time.monotonic() + 10.0
    while True:
        view = await stack.admin_endpoints()
        (measured,) = [e["rtt"]["value_ms"] for e in view["endpoints"] if e["name"] == endpoint]
        if measured is not None and measured >= rtt_ms:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{endpoint} was not probed in time")
        await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_balanced_weights_change_the_pick(tmp_path: Path) -> None:
    # One alias, two ways to serve it: near and dear (gpt-4o), or far and cheap (gpt-4o-mini,
    # a 17th of the price). Under balanced, the weights decide which wins.
    regions = (RegionSettings(name="near", rtt_ms=2.0), RegionSettings(name="far", rtt_ms=120.0))
    body = "models:\n  - alias: chat\nrouting:\n  objective: balanced\n"
    overrides = {
        **_policies(
            tmp_path,
            hurried=body + "  weights: {latency: 1, cost: 0}\n",
            thrifty=body + "  weights: {latency: 1, cost: 20}\n",
        ),
        "models": [
            {
                "alias": "chat",
                "targets": [
                    {"endpoint": "near", "model": "gpt-4o"},
                    {"endpoint": "far", "model": "gpt-4o-mini"},
                ],
            }
        ],
        "estimators": {"prior_ttft_ms": 0},
    }
    async with running_stack(regions=regions, overrides=overrides) as stack:
        await _wait_until_probed(stack, "far", 100.0)
        await _wait_until_probed(stack, "near", 1.0)
        served: dict[str, Counter[str]] = defaultdict(Counter)
        reasons: dict[str, str] = {}
        for _ in range(6):
            for tenant in ("hurried", "thrifty"):
                client = stack.client(api_key=_key(tenant))
                raw = await client.chat.completions.with_raw_response.create(
                    **{**CHAT, "model": "chat"}
                )
                served[tenant][raw.headers["x-router-endpoint"]] += 1
                reasons[tenant] = raw.headers["x-router-reason"]
        assert served["hurried"] == {"near": 6}
        assert served["thrifty"] == {"far": 6}
        assert reasons["hurried"].startswith("objective=balanced(latency=1,cost=0); pick=near(")
        assert reasons["thrifty"].startswith("objective=balanced(latency=1,cost=20); pick=far(")


def _experiment(arms: str, sticky: str = "sticky_by: user", models: str = MODELS) -> str:
    return (
        models
        + "  - alias: gpt-5\n"  # in the tenant's models, but no endpoint of this node serves it
        + "experiments:\n"
        + "  - name: bigger\n"
        + "    applies_to: gpt-4o-mini\n"
        + f"    arms: {arms}\n"
        + f"    {sticky}\n"
    )


@pytest.mark.asyncio
async def test_an_experiment_splits_users_by_weight_and_forwards_the_arms_model(
    tmp_path: Path,
) -> None:
    arms = "[{alias: gpt-4o-mini, weight: 3}, {alias: gpt-4o, weight: 1}]"
    capped = MODELS + "    caps: {max_tokens: 8}\n"  # on gpt-4o, the last model listed
    policy = _experiment(arms, models=capped)
    async with running_stack(overrides=_policies(tmp_path, ab=policy)) as stack:
        client = stack.client(api_key=_key("ab"))
        arm_of: dict[str, str] = {}
        for i in range(200):
            user = f"user-{i}"
            raw = await client.chat.completions.with_raw_response.create(**CHAT, user=user)
            arm = raw.headers["x-router-experiment"]
            arm_of[user] = arm
            completion = raw.parse()
            if arm == "bigger=gpt-4o":
                # The upstream was asked for the arm's model, and answered with it.
                assert completion.model == "gpt-4o"
                assert raw.headers["x-router-reason"].startswith("experiment=bigger:gpt-4o; ")
            else:
                assert arm == "bigger=gpt-4o-mini" and completion.model == "gpt-4o-mini"
        counts = Counter(arm_of.values())
        assert 30 <= counts["bigger=gpt-4o"] <= 70, counts
        assert counts["bigger=gpt-4o"] + counts["bigger=gpt-4o-mini"] == 200

        # The arm's caps apply: gpt-4o allows 8 tokens here, gpt-4o-mini has no cap.
        on_big = next(u for u, arm in arm_of.items() if arm == "bigger=gpt-4o")
        on_mini = next(u for u, arm in arm_of.items() if arm == "bigger=gpt-4o-mini")
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(**{**CHAT, "max_tokens": 9}, user=on_big)
        assert await client.chat.completions.create(**{**CHAT, "max_tokens": 9}, user=on_mini)

        # Streams are split the same way.
        stream = await client.chat.completions.create(**CHAT, user=on_big, stream=True)
        assert {chunk.model async for chunk in stream} == {"gpt-4o"}

        server_spans = [s for s in stack.spans.get_finished_spans() if s.kind.name == "SERVER"]
        assert (server_spans[-1].attributes or {}).get("router.experiment") == "bigger=gpt-4o"
        logged = Counter(line["experiment"] for line in stack.access_log_lines())
        # The split's requests on gpt-4o, the one refused by its caps, and the stream.
        assert logged["bigger=gpt-4o"] == counts["bigger=gpt-4o"] + 2


@pytest.mark.asyncio
async def test_a_user_always_lands_on_the_same_arm(tmp_path: Path) -> None:
    arms = "[{alias: gpt-4o-mini, weight: 1}, {alias: gpt-4o, weight: 1}]"
    async with running_stack(overrides=_policies(tmp_path, ab=_experiment(arms))) as stack:
        client = stack.client(api_key=_key("ab"))
        arms_by_user: dict[str, set[str]] = defaultdict(set)
        for _ in range(5):
            for i in range(12):
                raw = await client.chat.completions.with_raw_response.create(
                    **CHAT, user=f"user-{i}"
                )
                arms_by_user[f"user-{i}"].add(raw.headers["x-router-experiment"])
        assert all(len(arms) == 1 for arms in arms_by_user.values()), arms_by_user
        assert set().union(*arms_by_user.values()) == {"bigger=gpt-4o-mini", "bigger=gpt-4o"}


@pytest.mark.asyncio
async def test_a_header_can_be_the_sticky_key_and_without_one_the_arm_is_drawn(
    tmp_path: Path,
) -> None:
    arms = "[{alias: gpt-4o-mini, weight: 1}, {alias: gpt-4o, weight: 1}]"
    policy = _experiment(arms, "sticky_by: header\n    header: x-end-user")
    async with running_stack(overrides=_policies(tmp_path, ab=policy)) as stack:
        client = stack.client(api_key=_key("ab"))
        arms_by_user: dict[str, set[str]] = defaultdict(set)
        for attempt in range(4):
            for i in range(12):
                raw = await client.chat.completions.with_raw_response.create(
                    # The body's `user` changes on every request; only the header counts.
                    **CHAT,
                    user=f"body-{attempt}-{i}",
                    extra_headers={"x-end-user": f"user-{i}"},
                )
                arms_by_user[f"user-{i}"].add(raw.headers["x-router-experiment"])
                assert "(random)" not in raw.headers["x-router-reason"]
        assert all(len(arms) == 1 for arms in arms_by_user.values()), arms_by_user
        assert set().union(*arms_by_user.values()) == {"bigger=gpt-4o-mini", "bigger=gpt-4o"}

        drawn: Counter[str] = Counter()
        for _ in range(40):
            raw = await client.chat.completions.with_raw_response.create(**CHAT)
            arm = raw.headers["x-router-experiment"].split("=")[1]
            drawn[arm] += 1
            assert raw.headers["x-router-reason"].startswith(f"experiment=bigger:{arm}(random); ")
        assert set(drawn) == {"gpt-4o-mini", "gpt-4o"}


@pytest.mark.asyncio
async def test_an_arm_this_node_does_not_serve_leaves_the_request_on_its_alias(
    tmp_path: Path,
) -> None:
    arms = "[{alias: gpt-4o-mini, weight: 1}, {alias: gpt-5, weight: 1000}]"
    async with running_stack(overrides=_policies(tmp_path, ab=_experiment(arms))) as stack:
        client = stack.client(api_key=_key("ab"))
        raw = await client.chat.completions.with_raw_response.create(**CHAT, user="user-1")
        assert raw.parse().model == "gpt-4o-mini"
        assert "x-router-experiment" not in raw.headers
        assert raw.headers["x-router-reason"].startswith("experiment=bigger:arm_not_served; ")


async def _reason(stack: Stack, api_key: str, headers: dict[str, str]) -> str:
    response = await stack.client(
        api_key=api_key, default_headers=headers
    ).chat.completions.with_raw_response.create(**CHAT)
    return response.headers["x-router-reason"]


@pytest.mark.asyncio
async def test_headers_ask_and_the_tenant_decides(tmp_path: Path) -> None:
    """A cost tenant is not routed for latency because a request says so; a stricter SLO is
    taken, a looser one is not; a policy that allows overrides lets the request choose."""
    overrides = _policies(
        tmp_path,
        thrifty=MODELS + "routing:\n  objective: cost\n",
        strict=MODELS + "routing:\n  objective: cost\n  latency_slo_ms: 500\n",
        flexible=MODELS + "routing:\n  objective: cost\n  request_overrides: true\n",
    )
    latency = {"x-router-objective": "latency"}
    async with running_stack(overrides=overrides) as stack:
        reason = await _reason(stack, _key("thrifty"), latency)
        assert reason.startswith("ignored=x-router-objective(policy); objective=cost"), reason
        reason = await _reason(stack, _key("thrifty"), {"x-router-objective": "cost"})
        assert reason.startswith("objective=cost"), reason
        reason = await _reason(stack, _key("thrifty"), {"x-router-latency-slo-ms": "50"})
        assert reason.startswith("ignored=x-router-latency-slo-ms(policy); objective=cost"), reason
        reason = await _reason(stack, _key("strict"), {"x-router-latency-slo-ms": "900"})
        assert reason.startswith("ignored=x-router-latency-slo-ms(policy); objective=slo(500ms)")
        reason = await _reason(stack, _key("strict"), {"x-router-latency-slo-ms": "50"})
        assert reason.startswith("objective=slo(50ms)"), reason
        reason = await _reason(stack, _key("flexible"), latency)
        assert reason.startswith("objective=latency"), reason
        reason = await _reason(stack, API_KEY, latency)  # node keys have no policy to keep
        assert reason.startswith("objective=latency"), reason


@pytest.mark.asyncio
async def test_a_tenant_sees_a_short_reason_without_the_topology_unless_its_policy_says_full(
    tmp_path: Path,
) -> None:
    directory = tmp_path
    for tenant, routing in (("quiet", ""), ("open", "  explain: full\n")):
        head = f'tenant: {tenant}\napi_keys: ["{hash_key(_key(tenant))}"]\n'
        body = MODELS + "routing:\n  objective: cost\n" + routing
        (directory / f"{tenant}.yaml").write_text(head + body, encoding="utf-8")
    overrides = {"policies": {"directory": str(directory), "watch": False}}
    async with running_stack(overrides=overrides) as stack:
        await stack.control("us-east", error_rate=1.0)
        await stack.control("ap-south", error_rate=1.0)
        quiet = await stack.client(api_key=_key("quiet")).chat.completions.with_raw_response.create(
            **CHAT
        )
        reason = quiet.headers["x-router-reason"]
        assert reason.startswith("objective=cost") and "failovers=" in reason, reason
        for region in stack.cloud.regions:
            assert region not in reason, reason
        assert "$" not in reason and "ms" not in reason
        assert "x-router-endpoint" not in quiet.headers
        assert quiet.headers["x-router-served-by"] == "cloud"
        full = await stack.client(api_key=_key("open")).chat.completions.with_raw_response.create(
            **CHAT
        )
        assert "pick=" in full.headers["x-router-reason"]
        assert full.headers["x-router-endpoint"] == "eu-west"
