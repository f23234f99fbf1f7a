"""What the proofs that nothing leaves share: one router stack for every hypothesis example (on an
event loop in its own thread), what the cloud regions received since the last look, and a
tenant's answer."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Awaitable, Iterable, Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import openai

from loadtest.mock_cloud.parsing import echo_text
from tests.privacy.privacy_stack import CLOUD_REGIONS, privacy_stack
from tests.stack import Stack
from tests.tenant_policies import key_of

T = TypeVar("T")

_ESCAPED_AT = re.compile(r"\\+u0040")


class BackgroundStack:
    """One router stack for every hypothesis example, on an event loop in its own thread."""

    def __init__(self, directory: Path) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._exit = AsyncExitStack()
        self.stack: Stack = self.run(self._exit.enter_async_context(privacy_stack(directory)))

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result(timeout=60)

    def close(self) -> None:
        self.run(self._exit.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


async def cloud_received(stack: Stack) -> list[str]:
    """Everything the cloud regions received since the last call, as text (then forgotten)."""
    received: list[str] = []
    for region in CLOUD_REGIONS:
        for record in await stack.received(region):
            headers = " ".join(f"{k}: {v}" for k, v in record["headers"].items())
            received.append(f"{record['path']}?{record['query']}\n{headers}\n{record['body']}")
        async with stack.http.delete(
            f"{stack.cloud.control_url}/control/regions/{region}/requests"
        ) as response:
            assert response.status < 300
    return received


def assert_nothing_leaked(received: list[str], forms: Iterable[tuple[str, str]]) -> None:
    """No (kind, form) in anything received, as written or as JSON would escape it."""
    forms = list(forms)
    for text in received:
        decoded = json.dumps(text)  # a value written with JSON escapes is still the value
        # An "@" escaped at any depth of JSON nesting (`\\u0040`) is still an "@".
        unescaped = _ESCAPED_AT.sub("@", text)
        for kind, form in forms:
            for seen in (text, decoded, unescaped):
                assert form not in seen, f"{kind} reached the cloud"


async def ask(stack: Stack, tenant: str, body: dict[str, Any], stream: bool) -> str | None:
    """The answer's text, or None when the router refused the request."""
    client = stack.client(api_key=key_of(tenant))
    try:
        if not stream:
            answer = await client.chat.completions.create(**body)
            return answer.choices[0].message.content or ""
        pieces: list[str] = []
        async for chunk in await client.chat.completions.create(**body, stream=True):
            pieces.extend(c.delta.content or "" for c in chunk.choices)
        return "".join(pieces)
    except openai.APIStatusError:
        return None


async def check_nothing_leaves(
    stack: Stack,
    body: dict[str, Any],
    forms: list[tuple[str, str]],
    piece_chars: int,
    stream: bool,
) -> None:
    """`body` sent by the `redact`, `local-only` and `block` tenants: none of `forms` reaches a
    cloud region, and the redact tenant's echoed answer is its own conversation, every
    placeholder restored across stream events cut every `piece_chars` characters."""
    for region in (*CLOUD_REGIONS, "pop"):
        await stack.control(region, echo_piece_chars=piece_chars)
    await cloud_received(stack)  # forget the probes and earlier examples
    # redact: the cloud sees placeholders; the echo comes back with the values.
    assert await ask(stack, "scrub", body, stream) == echo_text(body, "chat")
    assert_nothing_leaked(await cloud_received(stack), forms)
    # local-only: answered at the edge; block: refused. Neither reaches the cloud.
    assert await ask(stack, "clinic", body, stream) == echo_text(body, "chat")
    assert await ask(stack, "vault", body, stream) is None
    assert_nothing_leaked(await cloud_received(stack), forms)


@contextmanager
def background_stack(directory: Path) -> Iterator[BackgroundStack]:
    background = BackgroundStack(directory)
    try:
        yield background
    finally:
        background.close()
