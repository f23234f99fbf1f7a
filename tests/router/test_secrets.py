"""Provider keys come from the environment, reach their endpoint, and appear nowhere else."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from tests.stack import DEFAULT_REGIONS, running_stack

PROVIDER_KEY = "sk-provider-secret-0123456789"


@pytest.mark.asyncio
async def test_the_provider_key_reaches_the_endpoint_and_never_leaks() -> None:
    regions = tuple(
        dataclasses.replace(r, api_key=PROVIDER_KEY) if r.name == "us-east" else r
        for r in DEFAULT_REGIONS
    )
    async with running_stack(
        regions=regions,
        endpoint_keys={"us-east": PROVIDER_KEY},
        overrides={"telemetry": {"tracing": {"exporter": "console"}}},
    ) as stack:
        client = stack.client(default_headers={"x-router-objective": "latency"})
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["x-router-endpoint"] == "us-east"
        received = [r for r in await stack.received("us-east") if r["method"] == "POST"]
        assert received[-1]["auth"] == "valid"  # the simulator saw the right Bearer key

        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        async for _ in stream:
            pass
        admin_body = orjson.dumps(await stack.admin("/admin/endpoints"))

        everywhere = [
            raw.http_response.content,
            str(raw.headers).encode(),
            admin_body,
            b"".join(line.to_json().encode() for line in stack.spans.get_finished_spans()),
        ]
        stack.access_log.flush()
        everywhere.append(stack.access_log_stream.getvalue())
        assert all(PROVIDER_KEY.encode() not in blob for blob in everywhere)


@pytest.mark.asyncio
async def test_a_wrong_provider_key_fails_over_instead_of_reaching_the_client() -> None:
    regions = tuple(
        dataclasses.replace(r, api_key=PROVIDER_KEY) if r.name == "us-east" else r
        for r in DEFAULT_REGIONS
    )
    async with running_stack(regions=regions, endpoint_keys={"us-east": "sk-wrong"}) as stack:
        client = stack.client(default_headers={"x-router-objective": "latency"})
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["x-router-endpoint"] != "us-east"
        assert "us-east:upstream_status_401" in raw.headers["x-router-reason"]
