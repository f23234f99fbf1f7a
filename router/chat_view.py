"""A read-only response half's view of an answer, always in Chat Completions' format.

The cache stores answers, and the content log keeps them, in Chat Completions' format, whatever
API the client used. An answer passed through in a native API (`Answer.form`: a Responses or
Messages endpoint's own) is translated for them as it passes (`router.wire.upstream_responses`,
`router.wire.upstream_messages`), into a copy they read; the bytes the client gets are the
upstream's, unchanged. The translation runs only while such a half reads the answer.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from router.answer import Answer, AnswerFilter
from router.wire.chat_from_native import ChatChunksFromNative
from router.wire.native import NativeApi
from router.wire.upstream_messages.answer import chat_from_message
from router.wire.upstream_messages.stream import ChatChunksFromMessages
from router.wire.upstream_responses.answer import chat_from_response
from router.wire.upstream_responses.stream import ChatChunksFromResponses


def read_as_chat(answer: Answer, reader: AnswerFilter, model: str) -> None:
    """Wrap the answer with `reader`, which reads (never changes) it in Chat Completions'
    format; `model`: the one a translated stream's chunks name (the request's)."""
    if answer.form == "chat":
        answer.wrap(reader)
    else:
        answer.wrap(ChatView(reader, answer.form, model))


class ChatView:
    """A native answer's bytes passed on unchanged, and translated to chat for `reader`."""

    __slots__ = ("_api", "_model", "_reader", "_stream")

    def __init__(self, reader: AnswerFilter, api: NativeApi, model: str) -> None:
        self._reader = reader
        self._api = api
        self._model = model
        self._stream: ChatChunksFromNative | None = None

    def body(self, body: bytes) -> bytes:
        try:
            native = orjson.loads(body)
            chat = orjson.dumps(self._chat(native))
        except (orjson.JSONDecodeError, orjson.JSONEncodeError, AttributeError, TypeError):
            return body  # not an answer the reader could keep
        self._reader.body(chat)
        return body

    def feed(self, chunk: bytes) -> bytes:
        translated = self._translation().feed(chunk)
        if translated:
            self._reader.feed(translated)
        return chunk

    def finish(self, complete: bool) -> bytes:
        tail = self._translation().finish(complete)
        if tail:
            self._reader.feed(tail)
        self._reader.finish(complete)
        return b""

    def _chat(self, native: Any) -> dict[str, Any]:
        chat_id, created = _chat_id(), int(time.time())
        if self._api == "messages":
            return chat_from_message(native, chat_id=chat_id, created=created)
        return chat_from_response(native, chat_id=chat_id, created=created)

    def _translation(self) -> ChatChunksFromNative:
        stream = self._stream
        if stream is None:
            kind = ChatChunksFromMessages if self._api == "messages" else ChatChunksFromResponses
            # With its usage, as a chat answer kept is.
            stream = self._stream = kind(
                chat_id=_chat_id(), created=int(time.time()), model=self._model, include_usage=True
            )
        return stream


def _chat_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"
