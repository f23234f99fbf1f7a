"""Proof through the real router: a request whose reused upstream connection dies after the
upstream read it is failed over to another endpoint, never sent to the same endpoint again on a
fresh connection (docs/security.md, "The upstream client"). The upstream may already be
generating, and billing, the first copy.

The dying upstream is a raw asyncio server, so what happens on each connection is exactly what
the test scripts; the healthy endpoint is a mock cloud region.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import orjson
import pytest

from loadtest.mock_cloud.settings import RegionSettings
from tests.stack import API_KEY, running_stack

_WAIT_S = 20.0  # an upper bound on every wait


def _chat_answer(content: str) -> bytes:
    body = orjson.dumps(
        {
            "id": "chatcmpl-reuser",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    )
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    return head % len(body) + body


_MODEL_LIST = b'{"object":"list","data":[]}'
_MODEL_LIST_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    % len(_MODEL_LIST)
    + _MODEL_LIST
)


@dataclass
class DyingOnReuse:
    """Answers every probe (GET), and the first chat request it ever gets; a later chat request
    that arrives on a connection already used for an answer is read whole, then the connection is
    closed without a byte of answer: an upstream that went away mid-request."""

    gets: int = 0
    chat_bodies: list[bytes] = field(default_factory=list)
    killed_bodies: list[bytes] = field(default_factory=list)
    connections: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered_here = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in lines if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if request_line.startswith("GET "):
                    self.gets += 1
                    writer.write(_MODEL_LIST_ANSWER)
                else:
                    self.chat_bodies.append(body)
                    if len(self.chat_bodies) > 1 and answered_here > 0:
                        self.killed_bodies.append(body)
                        return  # closes the socket in `finally`, the request unanswered
                    writer.write(_chat_answer("from the reuser"))
                await writer.drain()
                answered_here += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@asynccontextmanager
async def _dying_upstream() -> AsyncIterator[tuple[DyingOnReuse, int]]:
    upstream = DyingOnReuse()
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", 0)
    try:
        yield upstream, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2.0)


def _chat(content: str) -> bytes:
    return orjson.dumps(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}
    )


@pytest.mark.asyncio
async def test_a_request_killed_on_a_reused_connection_fails_over_and_is_never_replayed() -> None:
    async with _dying_upstream() as (upstream, port):
        reuser = {
            "name": "reuser",
            "base_url": f"http://127.0.0.1:{port}/v1",
            "region": "reuser",
            # Free, so a cost-first router always tries it first.
            "models": [{"name": "gpt-4o-mini"}],
        }
        overrides = {
            "routing": {"default_objective": "cost", "max_attempts": 3},
            "health": {"probe_interval_s": 60, "probe_timeout_s": 2},
        }
        async with running_stack(
            regions=(RegionSettings("us-east"),), overrides=overrides, extra_endpoints=[reuser]
        ) as stack:
            for _ in range(int(_WAIT_S / 0.01)):  # the start-up probe has come and gone
                if upstream.gets:
                    break
                await asyncio.sleep(0.01)
            assert upstream.gets, "the router never probed the scripted upstream"

            async def post(content: str) -> tuple[int, dict[str, str], bytes]:
                async with stack.http.post(
                    f"{stack.url}/v1/chat/completions",
                    data=_chat(content),
                    headers={
                        "Authorization": f"Bearer {API_KEY}",
                        "Content-Type": "application/json",
                    },
                ) as response:
                    return response.status, dict(response.headers), await response.read()

            status, headers, body = await asyncio.wait_for(post("first"), _WAIT_S)
            assert status == 200, body
            assert headers["x-router-endpoint"] == "reuser"

            status, headers, body = await asyncio.wait_for(post("second"), _WAIT_S)
            assert status == 200, body
            assert headers["x-router-endpoint"] == "us-east", headers
            assert "failover_after=reuser:" in headers["x-router-reason"], headers
            assert orjson.loads(body)["choices"][0]["message"]["content"]

            # The dying upstream read the second request once, on the reused connection: no
            # second copy on a fresh one.
            assert upstream.killed_bodies == [_chat("second")]
            assert upstream.chat_bodies == [_chat("first"), _chat("second")]
            cloud_chats = [
                record["body"]
                for record in await stack.received("us-east")
                if record["path"] == "/v1/chat/completions"
            ]
            assert [orjson.loads(b)["messages"][0]["content"] for b in cloud_chats] == ["second"]
