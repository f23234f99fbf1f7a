"""PII in a request body: every text the client sent, scanned, and the body with its values
replaced by placeholders.

Every string in the body is scanned, wherever it is (message contents as text or parts, tool
call arguments, system prompts, `prompt`, `input`, `user`, `metadata`, unknown fields), except:
- values that name structure, not content: `model`, `role`, `type`, ids and `name`s of tools;
- binary payloads (`image_url`, `input_audio`, `file`): a data URL's base64 is no text, and
  rewriting it would corrupt it.
Object keys are scanned like values and replaced the same way (an e-mail address as a `metadata`
key, a card number as a key of tool arguments): the body forwarded is this rewritten body, so
what was scanned is what leaves. A redacted key that would land on another key of its object is
refused (`KeysCollide`) rather than merged. Keys are redacted, not refused, because a value is:
refusing only keys would make the same text pass or fail by where the client put it.
Messages come first, in order, so a value keeps its placeholder across the turns of a
conversation: an earlier turn is the same prefix in every later request.

A request that arrived in Responses or Messages is kept in that API's form too, for an endpoint
that speaks it (`router.wire.native`): `redact_with_native` scans that body first, then the Chat
Completions form made of it, with one `Redactor`, so a value has the same placeholder in both and
whichever leaves was scanned. A text of both forms is scanned once. The native body's opaque
parts are left as they are: a base64 `source` (images, PDFs), a `redacted_thinking` block's
data, a thinking block's `signature`, a reasoning item's `encrypted_content`.

A body without PII is returned as is (the same object): no copy on the common path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from router.privacy.detectors import KIND_ORDER
from router.privacy.json_texts import map_texts
from router.privacy.redaction import Redactor

# Keys whose string values are structure (names of things), never the client's content.
_STRUCTURE_KEYS = frozenset(
    {"model", "role", "type", "id", "tool_call_id", "name", "encoding_format", "service_tier"}
)
# Keys whose values are binary payloads or references to them; never scanned or rewritten.
_BINARY_KEYS = frozenset({"image_url", "input_audio", "file"})
_SKIPPED_KEYS = _STRUCTURE_KEYS | _BINARY_KEYS
# Where a request's content is, per operation: chat messages, a completion prompt, embeddings input.
CONTENT_KEYS = ("messages", "prompt", "input")
# Field names of the OpenAI API, which hold no PII: not run through the detectors, as every message
# has several (about 2 µs a key). Only a shortcut: any other key is scanned, and these would be
# found clean.
_API_KEYS = frozenset(
    {
        *_SKIPPED_KEYS, *CONTENT_KEYS, "content", "text", "tool_calls", "function", "arguments",
        "refusal", "audio", "url", "detail", "data", "format", "file_id", "filename", "file_data",
        "tools", "tool_choice", "parameters", "description", "strict", "properties", "required",
        "items", "additionalProperties", "enum", "response_format", "json_schema", "schema",
        "temperature", "top_p", "n", "stream", "stream_options", "include_usage", "stop",
        "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty",
        "logit_bias", "logprobs", "top_logprobs", "user", "seed", "metadata", "store",
        "parallel_tool_calls", "reasoning_effort", "modalities", "prediction", "voice",
        "web_search_options", "best_of", "echo", "suffix", "dimensions", "functions",
        "function_call", "cache_control",
    }
)  # fmt: skip


# The native APIs' names that hold no PII, as `_API_KEYS` (only a shortcut).
_NATIVE_API_KEYS = _API_KEYS | frozenset(
    {
        "instructions", "system", "max_output_tokens", "stop_sequences", "input_schema",
        "tool_use_id", "is_error", "thinking", "budget_tokens", "top_k", "call_id", "output",
        "summary", "reasoning", "effort", "previous_response_id", "truncation", "include",
        "source", "media_type", "signature", "encrypted_content", "citations", "title",
        "context", "disable_parallel_tool_use", "service_tier", "container", "status",
        "input_text", "input_image", "output_text",
    }
)  # fmt: skip
# Texts that are signatures or ciphertext, never the client's prose.
_NATIVE_SKIPPED_KEYS = _SKIPPED_KEYS | frozenset(
    {"signature", "encrypted_content", "call_id", "tool_use_id", "previous_response_id",
     "media_type", "file_data", "file_id", "file_url"}
)  # fmt: skip
# The conversation first, in order (so that a value keeps its placeholder across turns).
_NATIVE_CONTENT_KEYS: dict[str, tuple[str, ...]] = {
    "responses": ("instructions", "input"),
    "messages": ("system", "messages"),
}


@dataclass(frozen=True, slots=True)
class RedactedRequest:
    """A request body that carried PII, with its values replaced by placeholders."""

    body: dict[str, Any]
    redactor: Redactor  # the values and their placeholders, for restoring the answer
    kinds: tuple[str, ...]  # the kinds found, in `KIND_ORDER`

    def values_digest(self) -> str:
        """A sha256 of the values in placeholder order: two requests that differ only in their
        values have the same redacted body but not the same digest (for cache keys)."""
        digest = hashlib.sha256()
        for placeholder, value in sorted(self.redactor.value_of.items()):
            digest.update(f"{placeholder}\0{value}\0".encode("utf-8", "surrogatepass"))
        return digest.hexdigest()


def redact_request(body: dict[str, Any]) -> RedactedRequest | None:
    """The body with its PII replaced (in values and keys), or None when it carries none.
    Raises `NestedTooDeeply` and `KeysCollide` (from `router.privacy.json_texts`)."""
    redactor = Redactor()

    def redact_key(key: str) -> str:
        return key if key in _API_KEYS else redactor.redact(key)

    redacted = map_texts(body, redactor.redact, _SKIPPED_KEYS, CONTENT_KEYS, rewrite_key=redact_key)
    if not redactor.kinds:
        return None
    kinds = tuple(kind for kind in KIND_ORDER if kind in redactor.kinds)
    return RedactedRequest(redacted, redactor, kinds)


def redact_with_native(
    body: dict[str, Any], native_body: dict[str, Any], api: str
) -> tuple[RedactedRequest | None, dict[str, Any]]:
    """The Chat Completions body and the native body it was made of, each with its PII replaced by
    the same placeholders; (None, `native_body`) when neither carries any."""
    redactor = Redactor()
    done: dict[str, str] = {}  # each text's redacted form: a text of both bodies is scanned once

    def redact(text: str) -> str:
        redacted = done.get(text)
        if redacted is None:
            redacted = done[text] = redactor.redact(text)
        return redacted

    def redact_native_key(key: str) -> str:
        return key if key in _NATIVE_API_KEYS else redact(key)

    def redact_key(key: str) -> str:
        return key if key in _API_KEYS else redact(key)

    native = map_texts(
        native_body,
        redact,
        _NATIVE_SKIPPED_KEYS,
        _NATIVE_CONTENT_KEYS.get(api, ()),
        rewrite_key=redact_native_key,
        opaque=_opaque,
    )
    redacted = map_texts(body, redact, _SKIPPED_KEYS, CONTENT_KEYS, rewrite_key=redact_key)
    if not redactor.kinds:
        return None, native_body
    kinds = tuple(kind for kind in KIND_ORDER if kind in redactor.kinds)
    return RedactedRequest(redacted, redactor, kinds), native


# A media source by its bytes, URL or file (`{"type": "base64", "media_type", "data"}`; left
# alone, as a chat body's `image_url` and `file` are), and a redacted thinking block.
_OPAQUE_TYPES = frozenset(("base64", "url", "file", "redacted_thinking"))


def _opaque(value: dict[str, Any]) -> bool:
    """An object with no text of the client's, that rewritten would be corrupt."""
    return value.get("type") in _OPAQUE_TYPES
