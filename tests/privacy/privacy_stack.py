"""A router in front of three cloud regions and a PoP endpoint, with one tenant per PII action.

The `pop` region of the simulated cloud stands in for the edge worker: an endpoint of locality
`edge`, tagged fit for PII, serving gpt-4o-mini only. `eu-west` is the one cloud endpoint tagged
`pii`. Every region records every request it receives (`Stack.received`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson

from loadtest.mock_cloud.settings import RegionSettings
from router.policy.keys import hash_key
from tests.stack import Stack, running_stack

CLOUD_REGIONS = ("us-east", "eu-west", "ap-south")
REGIONS = (
    RegionSettings(name="us-east", rtt_ms=1.0),
    RegionSettings(name="eu-west", rtt_ms=1.0),
    RegionSettings(name="ap-south", rtt_ms=1.0),
    RegionSettings(name="pop", rtt_ms=0.0),
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
}


def key_of(tenant: str) -> str:
    return f"sk-{tenant}"


def _policy(tenant: str, privacy: dict[str, Any], cache: bool) -> str:
    policy = {
        "tenant": tenant,
        "api_keys": [hash_key(key_of(tenant))],
        "models": [{"alias": "gpt-4o-mini"}, {"alias": "gpt-4o"}],
        "privacy": privacy,
        "cache": {"enabled": cache},
    }
    return orjson.dumps(policy).decode()  # JSON is YAML


@asynccontextmanager
async def privacy_stack(
    directory: Path, *, cache: bool = False, overrides: dict[str, Any] | None = None
) -> AsyncIterator[Stack]:
    for tenant, privacy in TENANT_PRIVACY.items():
        (directory / f"{tenant}.yaml").write_text(_policy(tenant, privacy, cache))
    settings: dict[str, Any] = {
        "policies": {"directory": str(directory), "watch": False},
        **(overrides or {}),
    }
    if cache:
        settings["cache"] = {"enabled": True, "semantic": False}
    async with running_stack(REGIONS, settings, endpoint_fields=ENDPOINT_FIELDS) as stack:
        yield stack


async def chat_bodies_received(stack: Stack, region: str) -> list[str]:
    """The bodies of the chat completions `region` received, as it received them."""
    return [
        record["body"]
        for record in await stack.received(region)
        if record["path"].endswith("/chat/completions")
    ]
