"""A router in front of three cloud regions and a PoP endpoint, with one tenant per PII action.

The `pop` region of the simulated cloud stands in for the edge worker: an endpoint of locality
`edge`, tagged fit for PII, serving gpt-4o-mini only. `eu-west` is the one cloud endpoint tagged
`pii`. Every region records every request it receives (`Stack.received`) and answers with the
text it received (the simulated cloud's echo mode).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from loadtest.mock_cloud.settings import RegionSettings
from tests.stack import Stack, running_stack
from tests.tenant_policies import policy_yaml

CLOUD_REGIONS = ("us-east", "eu-west", "ap-south")
# Every region echoes the text it received, so a test sees what the upstream made of a request.
REGIONS = (
    RegionSettings(name="us-east", rtt_ms=1.0, echo=True),
    RegionSettings(name="eu-west", rtt_ms=1.0, echo=True),
    RegionSettings(name="ap-south", rtt_ms=1.0, echo=True),
    RegionSettings(name="pop", rtt_ms=0.0, echo=True),
)
ENDPOINT_FIELDS: dict[str, dict[str, Any]] = {
    "eu-west": {"tags": ["eu-resident", "zero-retention", "pii"]},
    "pop": {
        "locality": "edge",
        "tags": ["pii", "hipaa", "zero-retention"],
        "models": [{"name": "gpt-4o-mini"}],
    },
}
# tenant -> its `privacy` section; the key is `sk-<tenant>`.
TENANT_PRIVACY: dict[str, dict[str, Any]] = {
    "shop": {"on_pii": "allow"},
    "scrub": {"on_pii": "redact"},
    "clinic": {"on_pii": "local-only"},
    "vault": {"on_pii": "block"},
    "fallback": {
        "on_pii": "allow",
        "pii_tags": ["hipaa", "eu-resident"],
        "no_fit_endpoint": "local-only",
    },
    "strict": {"on_pii": "allow", "pii_tags": ["nowhere"]},
    # Opted in to content in spans and access logs (PII redacted).
    "diary": {"on_pii": "allow", "log_content": True},
    "audited": {"on_pii": "redact", "log_content": True},
}


def _policy(tenant: str, privacy: dict[str, Any], cache: bool) -> str:
    models = [{"alias": a} for a in ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")]
    return policy_yaml(
        tenant,
        {"models": models, "privacy": privacy, "cache": {"enabled": cache}},
        explain=True,
    )


@asynccontextmanager
async def privacy_stack(
    directory: Path,
    *,
    cache: bool = False,
    overrides: dict[str, Any] | None = None,
    endpoint_keys: dict[str, str] | None = None,
) -> AsyncIterator[Stack]:
    """`endpoint_keys`: the provider key each named region requires (and the router sends)."""
    for tenant, privacy in TENANT_PRIVACY.items():
        (directory / f"{tenant}.yaml").write_text(_policy(tenant, privacy, cache))
    settings: dict[str, Any] = {
        "policies": {"directory": str(directory), "watch": False},
        **(overrides or {}),
    }
    if cache:
        settings["cache"] = {"enabled": True, "semantic": False}
    regions = [
        dataclasses.replace(region, api_key=(endpoint_keys or {}).get(region.name))
        for region in REGIONS
    ]
    async with running_stack(
        regions, settings, endpoint_keys=endpoint_keys, endpoint_fields=ENDPOINT_FIELDS
    ) as stack:
        yield stack


async def chat_bodies_received(stack: Stack, region: str) -> list[str]:
    """The bodies of the chat completions `region` received, as it received them."""
    return [
        record["body"]
        for record in await stack.received(region)
        if record["path"].endswith("/chat/completions")
    ]
