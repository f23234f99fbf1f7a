"""What the cache's tests through the client share: the question they ask, tenant policy files
with a given `cache` section, and how many chat requests reached the simulated cloud."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.stack import Stack
from tests.tenant_policies import ONE_MODEL, write_policies

REGIONS = ("us-east", "eu-west", "ap-south")
QUESTION: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    "temperature": 0,
}


def asking(question: str, **fields: Any) -> dict[str, Any]:
    """QUESTION with another last user message (and other fields); a copy a test may change."""
    return {
        **QUESTION,
        "messages": [dict(QUESTION["messages"][0]), {"role": "user", "content": question}],
        **fields,
    }


def write_tenants(directory: Path, caches: dict[str, str]) -> None:
    """A policy file per tenant (key `sk-<tenant>`, alias gpt-4o-mini) with that `cache:`."""
    write_policies(directory, {t: f"{ONE_MODEL}cache: {cache}\n" for t, cache in caches.items()})


async def cloud_calls(stack: Stack) -> int:
    """The chat requests the cloud regions received so far."""
    calls = 0
    for region in REGIONS:
        calls += sum(r["path"].endswith("/chat/completions") for r in await stack.received(region))
    return calls
