"""The wire format a request goes to an endpoint in (`format_for`), by the APIs the endpoint
speaks (`EndpointSettings.apis`) and the API the request arrived in.

- A request that arrived in Responses or Messages goes in that API, its own body passed through
  (`NativeFormat`, `router.wire.native`), to an endpoint that speaks it; its answer comes back in
  that API, and the ingress hands it to the client as it is.
- Otherwise the pipeline's request, in Chat Completions' format, goes as it is to an endpoint
  that speaks Chat Completions (`OpenAIFormat`: no translation, no cost), or translated to
  Anthropic's Messages format for one that speaks only that (`AnthropicFormat`,
  `router.wire.upstream_messages`), its answer (a JSON body, or a stream chunk by chunk)
  translated back before anything else reads it.
- A request that continues a stored response (`previous_response_id`), and a Messages
  `count_tokens` request, have no form but their own: an endpoint that does not speak their API
  refuses them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import orjson

from router.config.model import EndpointSettings
from router.wire.native import AnswerForm, NativeRequest
from router.wire.requests import Operation, ParsedRequest
from router.wire.upstream_messages.answer import chat_from_message
from router.wire.upstream_messages.request import (
    ANTHROPIC_VERSION,
    messages_body_from_chat,
    untranslatable_param,
)
from router.wire.upstream_messages.stream import ChatChunksFromMessages


class UpstreamFormat(Protocol):
    form: AnswerForm
    name: str  # said in the decision's reason when the request was translated to it

    def refuses(self, parsed: ParsedRequest) -> str | None:
        """Why this format cannot carry the request (the parameter it has no form for)."""
        ...

    def path(self, operation: Operation) -> str: ...

    def headers(self) -> Mapping[str, str] | None:
        """The request's headers beyond the endpoint's own (its key, content type)."""
        ...

    def body(
        self,
        parsed: ParsedRequest,
        upstream_model: str,
        *,
        with_logprobs: bool,
        store: bool | None,
    ) -> bytes:
        """`store`: what the tenant's policy makes of the request's `store` (None: as sent)."""
        ...

    def answer(self, body: bytes) -> bytes:
        """A JSON answer in this format's `form`."""
        ...

    def chunks(self, chunks: AsyncIterator[bytes], parsed: ParsedRequest) -> AsyncIterator[bytes]:
        """A stream's chunks in this format's `form`."""
        ...


class _AnswersAsTheyCome:
    """A format whose answers need no translation: read as they come, at no cost."""

    __slots__ = ()

    def answer(self, body: bytes) -> bytes:
        return body

    def chunks(self, chunks: AsyncIterator[bytes], parsed: ParsedRequest) -> AsyncIterator[bytes]:
        return chunks


class OpenAIFormat(_AnswersAsTheyCome):
    __slots__ = ()
    form: AnswerForm = "chat"
    name = "chat"

    def refuses(self, parsed: ParsedRequest) -> str | None:
        return None

    def path(self, operation: Operation) -> str:
        return operation.path

    def headers(self) -> Mapping[str, str] | None:
        return None

    def body(
        self,
        parsed: ParsedRequest,
        upstream_model: str,
        *,
        with_logprobs: bool,
        store: bool | None,
    ) -> bytes:
        if store is not None and parsed.body.get("store") is True:
            parsed = parsed.with_body({**parsed.body, "store": store})
        return parsed.body_for(upstream_model, with_logprobs=with_logprobs)


class AnthropicFormat:
    """Chat Completions requests as Messages requests: chat only, and only those whose every
    parameter has a Messages form (`untranslatable_param`); no token log-probabilities."""

    form: AnswerForm = "chat"
    name = "anthropic"

    def refuses(self, parsed: ParsedRequest) -> str | None:
        if parsed.operation is not Operation.CHAT:
            return "operation"
        return untranslatable_param(parsed.body)

    def path(self, operation: Operation) -> str:
        return "/messages"

    def headers(self) -> Mapping[str, str] | None:
        return _ANTHROPIC_HEADERS

    def body(
        self,
        parsed: ParsedRequest,
        upstream_model: str,
        *,
        with_logprobs: bool,
        store: bool | None,
    ) -> bytes:
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


class NativeFormat(_AnswersAsTheyCome):
    """A request passed through in the API it arrived in, its answer handed back as it comes."""

    __slots__ = ("_native", "form", "name")

    def __init__(self, native: NativeRequest) -> None:
        self._native = native
        self.form: AnswerForm = native.api
        self.name: str = native.api

    def refuses(self, parsed: ParsedRequest) -> str | None:
        return None

    def path(self, operation: Operation) -> str:
        return self._native.path

    def headers(self) -> Mapping[str, str] | None:
        native = self._native
        if native.api != "messages":
            return native.headers or None
        return {**_ANTHROPIC_HEADERS, **native.headers}

    def body(
        self,
        parsed: ParsedRequest,
        upstream_model: str,
        *,
        with_logprobs: bool,
        store: bool | None,
    ) -> bytes:
        # Messages has no `store`: Anthropic keeps no answers for later requests.
        if self._native.api != "responses":
            store = None
        return self._native.body_for(upstream_model, store=store)


class _Refusing(_AnswersAsTheyCome):
    """An endpoint that cannot take the request in any form it speaks."""

    __slots__ = ("_why", "form", "name")

    def __init__(self, why: str) -> None:
        self._why = why
        self.form: AnswerForm = "chat"
        self.name = "none"

    def refuses(self, parsed: ParsedRequest) -> str | None:
        return self._why

    def path(self, operation: Operation) -> str:
        raise AssertionError("a refusing format is never forwarded to")

    def headers(self) -> Mapping[str, str] | None:
        return None

    def body(
        self,
        parsed: ParsedRequest,
        upstream_model: str,
        *,
        with_logprobs: bool,
        store: bool | None,
    ) -> bytes:
        raise AssertionError("a refusing format is never forwarded to")


def _chat_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"


_ANTHROPIC_HEADERS: dict[str, str] = {"anthropic-version": ANTHROPIC_VERSION}
OPENAI = OpenAIFormat()
ANTHROPIC = AnthropicFormat()
_STATEFUL = _Refusing("previous_response_id")
_COUNT = _Refusing("count_tokens")
_NO_CHAT = _Refusing("api")


def format_for(settings: EndpointSettings, native: NativeRequest | None) -> UpstreamFormat:
    """The format a request goes to an endpoint in: its own API when the endpoint speaks it,
    else Chat Completions, as it is or translated to Messages."""
    apis = settings.apis
    if native is not None:
        if native.api in apis:
            return NativeFormat(native)
        if native.previous_response_id is not None:
            return _STATEFUL
        if native.count_tokens:
            return _COUNT
        if native.untranslatable is not None:
            return _Refusing(native.untranslatable.param or "untranslatable")
    if "chat" in apis:
        return OPENAI
    if "messages" in apis:
        return ANTHROPIC
    return _NO_CHAT


def translated_to(fmt: UpstreamFormat, native: NativeRequest | None) -> str | None:
    """The format's name when the request was translated to reach it (said in the reason)."""
    arrived_in = "chat" if native is None else native.api
    return None if fmt.name == arrived_in else fmt.name
