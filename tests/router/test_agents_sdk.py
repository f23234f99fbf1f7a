"""The OpenAI Agents SDK (`openai-agents`) runs a tool-calling agent through the router: with its
default Responses model (the router's `/v1/responses`, translated to Chat Completions) and with
its Chat Completions model, JSON and streamed.

The simulated cloud's `tool_call` answers call the tool on every turn, so an agent would loop
until its turn limit; the upstream here is a scripted one on loopback instead, which calls
`lookup` while the conversation has no tool result and answers in text once it has one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from agents import (
    Agent,
    Model,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    RawResponsesStreamEvent,
    RunItemStreamEvent,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from aiohttp import web
from openai import AsyncOpenAI

from loadtest.mock_cloud.settings import RegionSettings
from tests.redis_server import free_port
from tests.stack import Stack, running_stack, scripted_upstream

MODEL = "agent-model"
CALL_ID = "call_lookup_1"
QUERY = "nearest healthy endpoint"
ARGUMENTS = orjson.dumps({"q": QUERY}).decode()
FINAL_TEXT = "The router sends each request to the nearest healthy endpoint."
INSTRUCTIONS = "Answer with the help of the lookup tool."
QUESTION = "Where does the router send a request?"


def _tool_result(q: str) -> str:
    return f"found: {q}"


@dataclass
class LookupUpstream:
    """A Chat Completions upstream that calls `lookup` until the conversation holds a tool
    result, then answers `FINAL_TEXT`; it keeps every body it received."""

    bodies: list[dict[str, Any]] = field(default_factory=list)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        answered = any(m.get("role") == "tool" for m in body["messages"])
        if not body.get("stream"):
            return web.json_response(_completion(answered))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        for chunk in _chunks(answered, include_usage):
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        return response


_USAGE = {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}
_BASE = {"id": "chatcmpl-scripted", "created": 1, "model": MODEL}


def _completion(answered: bool) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": FINAL_TEXT, "refusal": None}
    if not answered:
        function = {"name": "lookup", "arguments": ARGUMENTS}
        message = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [{"id": CALL_ID, "type": "function", "function": function}],
        }
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": "stop" if answered else "tool_calls",
    }
    return {**_BASE, "object": "chat.completion", "choices": [choice], "usage": _USAGE}


def _chunks(answered: bool, include_usage: bool) -> list[dict[str, Any]]:
    """The answer as OpenAI streams it: the role, the text or the call's argument pieces (the
    call's id and name in its first), the finish, and the usage when asked for."""
    deltas: list[dict[str, Any]]
    if answered:
        words = FINAL_TEXT.split(" ")
        pieces = [word if i == 0 else " " + word for i, word in enumerate(words)]
        deltas = [{"role": "assistant", "content": ""}, *({"content": p} for p in pieces)]
        finish = "stop"
    else:
        head = {"name": "lookup", "arguments": ""}
        first = {"index": 0, "id": CALL_ID, "type": "function", "function": head}
        middle = len(ARGUMENTS) // 2
        deltas = [
            {"role": "assistant", "content": None, "tool_calls": [first]},
            *(
                {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                for piece in (ARGUMENTS[:middle], ARGUMENTS[middle:])
            ),
        ]
        finish = "tool_calls"
    extra: dict[str, Any] = {"usage": None} if include_usage else {}
    chunks = [
        {**_BASE, "object": "chat.completion.chunk", **extra, "choices": [choice]}
        for choice in (
            *({"index": 0, "delta": d, "logprobs": None, "finish_reason": None} for d in deltas),
            {"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish},
        )
    ]
    if include_usage:
        chunks.append({**_BASE, "object": "chat.completion.chunk", "choices": [], "usage": _USAGE})
    return chunks


@pytest.fixture(autouse=True)
def _no_tracing() -> None:
    # The SDK would otherwise export its traces to OpenAI.
    set_tracing_disabled(True)


@asynccontextmanager
async def _agent_stack() -> AsyncIterator[tuple[Stack, LookupUpstream]]:
    upstream = LookupUpstream()
    port = free_port()
    scripted = {
        "name": "scripted",
        "base_url": f"http://127.0.0.1:{port}/v1",
        "region": "r",
        "models": [{"name": MODEL}],
    }
    async with (
        scripted_upstream(port, upstream.chat),
        running_stack(regions=(RegionSettings("us-east"),), extra_endpoints=[scripted]) as stack,
    ):
        yield stack, upstream


def _agent(model: Model) -> tuple[Agent[Any], list[str]]:
    """An agent with one tool, `lookup`, and the list of the queries it was called with."""
    calls: list[str] = []

    @function_tool
    def lookup(q: str) -> str:
        """Look a thing up."""
        calls.append(q)
        return _tool_result(q)

    return Agent(name="router-agent", instructions=INSTRUCTIONS, model=model, tools=[lookup]), calls


ModelFactory = Callable[[AsyncOpenAI], Model]
MODELS: dict[str, ModelFactory] = {
    "responses": lambda client: OpenAIResponsesModel(model=MODEL, openai_client=client),
    "chat_completions": lambda client: OpenAIChatCompletionsModel(
        model=MODEL, openai_client=client
    ),
}
# The router path each model calls.
ROUTER_PATHS = {"responses": "/v1/responses", "chat_completions": "/v1/chat/completions"}


def _assert_the_router_served_two_model_calls(stack: Stack, kind: str) -> None:
    served = [(line["path"], line["status"]) for line in stack.access_log_lines()]
    assert served == [(ROUTER_PATHS[kind], 200)] * 2


def _assert_upstream_saw_the_tool_round_trip(upstream: LookupUpstream) -> None:
    """Two Chat Completions requests: the question with the tool offered, then the same with the
    assistant's tool call and the tool's result appended."""
    first, second = upstream.bodies
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert first["messages"][0]["content"] == INSTRUCTIONS
    assert first["messages"][1]["content"] in (QUESTION, [{"type": "text", "text": QUESTION}])
    (tool,) = first["tools"]
    assert tool["type"] == "function"
    assert tool["function"]["name"] == "lookup"
    assert tool["function"]["parameters"]["properties"]["q"]["type"] == "string"
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]
    assistant, tool_result = second["messages"][2:]
    (call,) = assistant["tool_calls"]
    assert call["id"] == CALL_ID
    assert call["type"] == "function"
    assert call["function"]["name"] == "lookup"
    assert orjson.loads(call["function"]["arguments"]) == {"q": QUERY}
    assert tool_result["tool_call_id"] == CALL_ID
    assert tool_result["content"] == _tool_result(QUERY)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", MODELS)
async def test_an_agent_calls_its_tool_once_then_answers_through_the_router(kind: str) -> None:
    async with _agent_stack() as (stack, upstream), stack.client() as client:
        agent, calls = _agent(MODELS[kind](client))
        result = await Runner.run(agent, QUESTION)
        _assert_the_router_served_two_model_calls(stack, kind)
    assert calls == [QUERY]
    assert result.final_output == FINAL_TEXT
    assert len(result.raw_responses) == 2
    _assert_upstream_saw_the_tool_round_trip(upstream)
    assert not any(body.get("stream") for body in upstream.bodies)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", MODELS)
async def test_a_streamed_agent_run_streams_the_tool_call_and_the_answer(kind: str) -> None:
    async with _agent_stack() as (stack, upstream), stack.client() as client:
        agent, calls = _agent(MODELS[kind](client))
        result = Runner.run_streamed(agent, QUESTION)
        item_events: list[str] = []
        text_deltas: list[str] = []
        async for event in result.stream_events():
            if isinstance(event, RunItemStreamEvent):
                item_events.append(event.name)
            elif (
                isinstance(event, RawResponsesStreamEvent)
                and event.data.type == "response.output_text.delta"
            ):
                text_deltas.append(event.data.delta)
        _assert_the_router_served_two_model_calls(stack, kind)
    assert calls == [QUERY]
    assert item_events == ["tool_called", "tool_output", "message_output_created"]
    assert "".join(text_deltas) == FINAL_TEXT
    assert len(text_deltas) == len(FINAL_TEXT.split(" "))
    assert result.final_output == FINAL_TEXT
    assert len(result.raw_responses) == 2
    _assert_upstream_saw_the_tool_round_trip(upstream)
    assert all(body.get("stream") for body in upstream.bodies)
