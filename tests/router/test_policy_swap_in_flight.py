"""A request finishes under the policy it started with, while another is swapped in (STYLE, rule
10): its response and record halves read the snapshot taken when it arrived, never the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openai import AsyncStream
from openai.types.chat import ChatCompletionChunk

from loadtest.mock_cloud.settings import RegionSettings
from router.state import STATE
from tests.stack import Stack, running_stack
from tests.tenant_policies import policy_yaml

TENANT = "scrub"
KEY = "sk-scrub"
EMAIL = "ana.silva@example.com"
# The echoed question streams for about a second: still running when the new policy is swapped
# in, a few milliseconds after its first chunks.
REGION = RegionSettings(name="us-east", echo=True, echo_piece_chars=4, tokens_per_s=50.0)


def _policy(on_pii: str) -> str:
    return policy_yaml(
        TENANT, {"models": [{"alias": "gpt-4o-mini"}], "privacy": {"on_pii": on_pii}}
    )


async def _privacy_of_a_new_request(stack: Stack) -> str:
    client = stack.client(api_key=KEY)
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"mail {EMAIL}"}], max_tokens=1
    )
    return raw.headers.get("x-router-privacy", "")


@pytest.mark.asyncio
async def test_a_stream_started_under_redact_is_restored_after_allow_is_swapped_in(
    tmp_path: Path,
) -> None:
    (tmp_path / f"{TENANT}.yaml").write_text(_policy("redact"))
    settings = {"policies": {"directory": str(tmp_path), "watch": False}}
    fit_for_pii = {"us-east": {"tags": ["pii"]}}
    async with running_stack([REGION], settings, endpoint_fields=fit_for_pii) as stack:
        client = stack.client(api_key=KEY)
        question = (
            f"Please write to {EMAIL} about the meeting on the third floor tomorrow morning, "
            "and ask her to bring the signed contracts and the projector for the room."
        )
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}], stream=True
        )
        pieces = [chunk.choices[0].delta.content or "" async for chunk in _first(stream, 2)]

        (tmp_path / f"{TENANT}.yaml").write_text(_policy("allow"))
        store = stack.app[STATE].policy_store
        assert store is not None
        store.reload()  # what the watcher does when the file settles: the swap, at once
        assert (await _privacy_of_a_new_request(stack)).startswith("allow")

        pieces += [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
        answer = "".join(pieces)
        # The upstream saw a placeholder (policy A), and the client got its own value back,
        # though policy B, in force when the answer ended, restores nothing.
        (first_body, *_) = [
            r["body"]
            for r in await stack.received("us-east")
            if r["path"].endswith("/chat/completions")
        ]
        assert EMAIL not in first_body and "<EMAIL_1>" in first_body
        assert EMAIL in answer and "<EMAIL_1>" not in answer


async def _first(
    stream: AsyncStream[ChatCompletionChunk], count: int
) -> AsyncIterator[ChatCompletionChunk]:
    """The first `count` chunks of an openai stream, leaving the rest to read."""
    iterator = stream.__aiter__()
    for _ in range(count):
        yield await iterator.__anext__()
