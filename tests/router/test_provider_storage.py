"""A tenant whose policy says `privacy.provider_storage: never` has a client's `store: true`
sent as `store: false`; other tenants' requests go as their clients sent them."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from loadtest.mock_cloud.settings import RegionSettings
from tests.stack import running_stack
from tests.tenant_policies import ONE_MODEL, write_policies


@pytest.mark.asyncio
async def test_store_true_is_sent_as_false_for_a_tenant_that_forbids_provider_storage(
    tmp_path: Path,
) -> None:
    write_policies(
        tmp_path,
        {
            "private": f"{ONE_MODEL}privacy:\n  provider_storage: never\n",
            "open": ONE_MODEL,
        },
    )
    overrides = {"policies": {"directory": str(tmp_path), "watch": False}}
    regions = (RegionSettings(name="us-east", rtt_ms=1.0),)
    async with running_stack(regions=regions, overrides=overrides) as stack:
        for tenant in ("private", "open"):
            await stack.client(api_key=f"sk-{tenant}").chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], store=True
            )
        received = await stack.received("us-east")
        sent = [orjson.loads(r["body"]) for r in received if r["path"].endswith("/completions")]
        assert [body["store"] for body in sent] == [False, True]
        assert sent[0]["messages"] == sent[1]["messages"]
