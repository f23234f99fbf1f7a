"""The router in front of a real edge worker: the worker is one more endpoint, of locality edge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
import pytest_asyncio

from router.state import STATE
from tests.edge_worker.prepared import store
from tests.edge_worker.running_worker import running_worker
from tests.redis_server import free_port
from tests.stack import Stack, explained, running_stack
from tests.tenant_policies import ONE_MODEL, policy_yaml

LOCAL_MODEL = "smollm2-135m-instruct"
EMBEDDER = "all-minilm-l6-v2"


@pytest_asyncio.fixture
async def worker_url() -> AsyncIterator[str]:
    async with running_worker() as url:
        yield f"{url}/v1"


def _edge_endpoint(url: str) -> dict[str, object]:
    return {
        "name": "edge",
        "base_url": url,
        "region": "pop",
        "locality": "edge",
        "max_concurrency": 12,
        "models": [
            {"name": LOCAL_MODEL},
            {"name": EMBEDDER, "kind": "embedding"},
        ],
    }


@pytest.mark.asyncio
async def test_the_local_model_answers_through_the_router_marked_edge(worker_url: str) -> None:
    async with running_stack(extra_endpoints=[_edge_endpoint(worker_url)]) as stack:
        client = stack.client()
        raw = await client.chat.completions.with_raw_response.create(
            model=LOCAL_MODEL,
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            temperature=0,
        )
        assert raw.headers["x-router-served-by"] == "edge"
        assert raw.headers["x-router-endpoint"] == "edge"
        assert "Paris" in (raw.parse().choices[0].message.content or "")

        stream = await client.chat.completions.create(
            model=LOCAL_MODEL,
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        assert "Paris" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert chunks[-1].usage is not None

        vectors = await client.embeddings.create(model=EMBEDDER, input=["hello", "world"])
        assert [len(v.embedding) for v in vectors.data] == [384, 384]

        cloud = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert cloud.headers["x-router-served-by"] == "cloud"


def _policy(tenant: str, local: str) -> str:
    return policy_yaml(tenant, f"{ONE_MODEL}local:\n{local}")


def _with_local_targets(tmp_path: Path, worker: str) -> dict[str, Any]:
    for tenant, local in (
        ("pop", "  aliases: [gpt-4o-mini]\n"),
        ("eager", "  aliases: [gpt-4o-mini]\n  first: [gpt-4o-mini]\n"),
        ("terse", "  aliases: [gpt-4o-mini]\n  first: [gpt-4o-mini]\n  max_prompt_tokens: 5\n"),
        ("cloudy", "  {}\n"),
    ):
        (tmp_path / f"{tenant}.yaml").write_text(explained(_policy(tenant, local)))
    cloud_targets = [
        {"endpoint": region, "model": "gpt-4o-mini"}
        for region in ("us-east", "eu-west", "ap-south")
    ]
    return {
        "policies": {"directory": str(tmp_path), "watch": False},
        "health": {
            "probe_interval_s": 0.1,
            "probe_timeout_s": 0.3,
            "probe_failures_to_eject": 1,
            "max_ejection_percent": 100,  # every cloud region may be out at once
        },
        "models": [
            {
                "alias": "gpt-4o-mini",
                "targets": [*cloud_targets, {"endpoint": "edge", "model": LOCAL_MODEL}],
            },
        ],
    }


async def _served(stack: Stack, tenant: str) -> tuple[str, str]:
    client = stack.client(api_key=f"sk-{tenant}")
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        temperature=0,
        max_tokens=24,
    )
    return raw.headers["x-router-served-by"], raw.headers["x-router-reason"]


@pytest.mark.asyncio
async def test_the_edge_answers_a_cloud_alias_only_as_the_tenants_local_rules_say(
    worker_url: str, tmp_path: Path
) -> None:
    overrides = _with_local_targets(tmp_path, worker_url)
    async with running_stack(
        overrides=overrides, extra_endpoints=[_edge_endpoint(worker_url)]
    ) as stack:
        # Free, yet not chosen on price: the edge answers only where a policy lets it.
        for tenant in ("pop", "cloudy"):
            assert (await _served(stack, tenant))[0] == "cloud"
        served_by, reason = await _served(stack, "eager")
        assert served_by == "edge" and reason.startswith("local_first; ")
        served_by, reason = await _served(stack, "terse")  # its prompt is over the ceiling
        assert served_by == "cloud" and "local_skipped=prompt_too_long" in reason

        for region in ("us-east", "eu-west", "ap-south"):
            await stack.control(region, down=True)

        async def clouds_ejected() -> bool:
            view = await stack.admin_endpoints()
            return all(
                e["health"]["state"] == "ejected" for e in view["endpoints"] if e["name"] != "edge"
            )

        for _ in range(100):
            if await clouds_ejected():
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the regions were never ejected")
        served_by, reason = await _served(stack, "pop")
        assert served_by == "edge" and reason.startswith("offline_fallback; ")
        with pytest.raises(openai.APIError):  # no local rule: no local answer
            await _served(stack, "cloudy")


@pytest.mark.asyncio
async def test_the_cascade_keeps_a_confident_local_answer_and_escalates_an_unsure_one(
    worker_url: str, tmp_path: Path
) -> None:
    overrides = _with_local_targets(tmp_path, worker_url)
    for tenant, threshold in (("trusting", -100.0), ("cautious", 0.0)):
        local = (
            "  aliases: [gpt-4o-mini]\n"
            f"  cascade: {{aliases: [gpt-4o-mini], min_confidence: {threshold}}}\n"
        )
        (tmp_path / f"{tenant}.yaml").write_text(explained(_policy(tenant, local)))
    async with running_stack(
        overrides=overrides, extra_endpoints=[_edge_endpoint(worker_url)]
    ) as stack:
        question = [{"role": "user", "content": "What is the capital of France?"}]
        trusting = stack.client(api_key="sk-trusting")
        raw = await trusting.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=question, temperature=0, max_tokens=24
        )
        kept = raw.parse()
        assert raw.headers["x-router-served-by"] == "edge"
        assert raw.headers["x-router-reason"].startswith("cascade; ")
        assert "Paris" in (kept.choices[0].message.content or "")
        assert kept.choices[0].logprobs is None  # asked for by the router, not by the client

        cautious = stack.client(api_key="sk-cautious")
        raw = await cautious.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=question, temperature=0, max_tokens=24
        )
        reason = raw.headers["x-router-reason"]
        assert raw.headers["x-router-served-by"] == "cloud"
        assert reason.startswith("cascade; ") and "failover_after=edge:low_confidence" in reason
        cloud_usage = raw.parse().usage
        assert cloud_usage is not None
        report = await stack.admin("/admin/tenants/cautious/usage")
        for _ in range(100):  # settled in the background
            if report["today"]["requests"]:
                break
            await asyncio.sleep(0.01)
            report = await stack.admin("/admin/tenants/cautious/usage")
        # Both answers' tokens are counted: the local one the cascade rejected, and the cloud's.
        assert report["today"]["output_tokens"] > cloud_usage.completion_tokens

        stream = await cautious.chat.completions.create(
            model="gpt-4o-mini", messages=question, stream=True, max_tokens=8
        )
        async for _ in stream:  # a stream is never cascaded: the cloud answers it directly
            pass


@pytest.mark.asyncio
async def test_the_router_starts_the_worker_and_restarts_it_when_it_dies() -> None:
    port = free_port()
    endpoint = _edge_endpoint(f"http://127.0.0.1:{port}/v1")
    overrides = {
        "edge_worker": {"spawn": True, "port": port, "store": str(store()), "max_batch": 2},
        "health": {"probe_interval_s": 0.1, "probe_timeout_s": 0.5, "base_ejection_s": 0.2},
    }
    async with running_stack(overrides=overrides, extra_endpoints=[endpoint]) as stack:
        supervisor = stack.app[STATE].edge_worker
        assert supervisor is not None
        client = stack.client()

        async def answered_locally() -> bool:
            try:
                raw = await client.chat.completions.with_raw_response.create(
                    model=LOCAL_MODEL,
                    messages=[{"role": "user", "content": "Say hi."}],
                    max_tokens=4,
                )
            except openai.APIError:
                return False
            return raw.headers["x-router-served-by"] == "edge"

        await _eventually(answered_locally)
        assert supervisor.process is not None and supervisor.starts == 1
        supervisor.process.kill()  # the worker crashes
        await _eventually(lambda: _started_again(supervisor))
        await _eventually(answered_locally)


async def _started_again(supervisor: Any) -> bool:
    return bool(supervisor.starts >= 2)


async def _eventually(condition: Any, timeout_s: float = 30.0) -> None:
    """Poll with a bound; the bound is a safety net, not a speed assertion."""
    for _ in range(int(timeout_s / 0.1)):
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


@pytest.mark.asyncio
async def test_the_edge_answers_when_every_cloud_attempt_failed_before_any_ejection(
    worker_url: str, tmp_path: Path
) -> None:
    overrides = _with_local_targets(tmp_path, worker_url)
    overrides["health"] = {"probe_interval_s": 30.0}  # no probe ejects anything in this test
    overrides["routing"] = {"max_attempts": 2}
    async with running_stack(
        overrides=overrides, extra_endpoints=[_edge_endpoint(worker_url)]
    ) as stack:
        assert (await _served(stack, "pop"))[0] == "cloud"
        for region in ("us-east", "eu-west", "ap-south"):
            await stack.control(region, down=True)
        served_by, reason = await _served(stack, "pop")
        assert served_by == "edge"  # two cloud attempts failed, then the last resort
        assert reason.count("upstream_connect_error") == 2


@pytest.mark.asyncio
async def test_the_router_embeds_in_process_without_blocking_its_event_loop() -> None:
    overrides = {"edge_worker": {"embed_in_router": True, "store": str(store())}}
    async with running_stack(overrides=overrides) as stack:
        embedder = stack.app[STATE].embedder
        assert embedder is not None
        client = stack.client()
        texts = [f"question {i} about the weather" for i in range(24)]
        # Embeddings and proxied requests at once: the loop keeps serving while the model runs.
        vectors, answers = await asyncio.gather(
            asyncio.gather(*(embedder.embed([t]) for t in texts)),
            asyncio.gather(
                *(
                    client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                    )
                    for _ in range(5)
                )
            ),
        )
        assert all(v.shape == (1, 384) for v in vectors)
        assert all(a.choices for a in answers)
        assert embedder.batches < len(texts)  # concurrent calls shared model runs
