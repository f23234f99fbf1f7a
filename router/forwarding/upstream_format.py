"""The wire format an endpoint speaks, by its kind: the pipeline's requests and answers are in
Chat Completions' format, and an endpoint of Anthropic's kind is spoken to in Anthropic's
Messages format (`router.wire.upstream_messages`), the request translated on the way out and the
answer (a JSON body, or a stream chunk by chunk) on the way back, before anything else reads it.

An endpoint of OpenAI's kind gets the request as it is (`ParsedRequest.body_for`) and its answer
is read as it comes: no translation, no cost.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from typing import Protocol

import orjson

from router.config.model import ProviderKind
from router.wire.requests import Operation, ParsedRequest
from router.wire.upstream_messages.answer import chat_from_message
from router.wire.upstream_messages.request import messages_body_from_chat, untranslatable_param
from router.wire.upstream_messages.stream import ChatChunksFromMessages


class UpstreamFormat(Protocol):
    translated: bool  # said in the decision's reason

    def refuses(self, parsed: ParsedRequest) -> str | None:
        """Why this format cannot carry the request (the parameter it has no form for)."""
        ...

    def path(self, operation: Operation) -> str: ...

    def body(self, parsed: ParsedRequest, upstream_model: str, *, with_logprobs: bool) -> bytes: ...

    def answer(self, body: bytes) -> bytes:
        """A JSON answer in Chat Completions' format."""
        ...

    def chunks(self, chunks: AsyncIterator[bytes], parsed: ParsedRequest) -> AsyncIterator[bytes]:
        """A stream's chunks in Chat Completions' format."""
        ...


class OpenAIFormat:
    translated = False

    def refuses(self, parsed: ParsedRequest) -> str | None:
        return None

    def path(self, operation: Operation) -> str:
        return operation.path

    def body(self, parsed: ParsedRequest, upstream_model: str, *, with_logprobs: bool) -> bytes:
        return parsed.body_for(upstream_model, with_logprobs=with_logprobs)

    def answer(self, body: bytes) -> bytes:
        return body

    def chunks(self, chunks: AsyncIterator[bytes], parsed: ParsedRequest) -> AsyncIterator[bytes]:
        return chunks


class AnthropicFormat:
    """Chat Completions requests as Messages requests: chat only, and only those whose every
    parameter has a Messages form (`untranslatable_param`); no token log-probabilities."""

    translated = True

    def refuses(self, parsed: ParsedRequest) -> str | None:
        if parsed.operation is not Operation.CHAT:
            return "operation"
        return untranslatable_param(parsed.body)

    def path(self, operation: Operation) -> str:
        return "/messages"

    def body(self, parsed: ParsedRequest, upstream_model: str, *, with_logprobs: bool) -> bytes:
        return orjson.dumps(messages_body_from_chat(parsed.body, upstream_model))

    def answer(self, body: bytes) -> bytes:
        chat = chat_from_message(orjson.loads(body), chat_id=_chat_id(), created=int(time.time()))
        return orjson.dumps(chat)

    async def chunks(
        self, chunks: AsyncIterator[bytes], parsed: ParsedRequest
    ) -> AsyncIterator[bytes]:
        translation = ChatChunksFromMessages(
            chat_id=_chat_id(),
            created=int(time.time()),
            model=parsed.model,
            # As the client asked: a chunk it did not ask for (`choices: []`) may break it.
            include_usage=parsed.include_usage,
        )
        complete = False
        try:
            async for chunk in chunks:
                translated = translation.feed(chunk)
                if translated:
                    yield translated
            complete = True
        finally:
            tail = translation.finish(complete)
        if tail:
            yield tail


def _chat_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"


FORMATS: dict[ProviderKind, UpstreamFormat] = {
    "openai": OpenAIFormat(),
    "anthropic": AnthropicFormat(),
}
