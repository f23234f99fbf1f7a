"""`stop` and `n` reach the cloud through the router, and its answer comes back whole: every
choice, each cut at the stop sequence, as JSON and as a stream."""

from __future__ import annotations

from collections import defaultdict

import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.stack import running_stack

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]
# Every region's template answer starts "Hello from <region>.": "rom" cuts it to "Hello f".
STOP = ["rom", "lorem"]


@pytest.mark.asyncio
async def test_stop_and_n_reach_the_cloud_and_every_cut_choice_comes_back() -> None:
    async with running_stack() as stack:
        client = stack.client()
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, n=3, stop=STOP
        )
        completion = raw.parse()
        assert [c.index for c in completion.choices] == [0, 1, 2]
        assert {c.message.content for c in completion.choices} == {"Hello f"}
        assert {c.finish_reason for c in completion.choices} == {"stop"}
        assert completion.usage is not None and completion.usage.completion_tokens == 3 * 2
        received = [
            r
            for r in await stack.received(raw.headers["x-router-endpoint"])
            if r["path"] == "/v1/chat/completions"
        ]
        assert received[-1]["body"].encode() == raw.http_request.content

        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            n=3,
            stop=STOP,
            stream=True,
            stream_options={"include_usage": True},
        )
        texts: dict[int, str] = defaultdict(str)
        finishes: dict[int, list[str]] = defaultdict(list)
        usage = None
        async for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                texts[choice.index] += choice.delta.content or ""
                if choice.finish_reason is not None:
                    finishes[choice.index].append(choice.finish_reason)
        assert dict(texts) == {0: "Hello f", 1: "Hello f", 2: "Hello f"}
        assert dict(finishes) == {0: ["stop"], 1: ["stop"], 2: ["stop"]}
        assert usage is not None and usage.completion_tokens == 3 * 2
