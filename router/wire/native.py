"""A request in the API it arrived in (OpenAI's Responses, Anthropic's Messages), kept beside the
Chat Completions request the pipeline routes, for an endpoint that speaks that API natively.

Every stage reads the Chat Completions form (`ParsedRequest`); the forwarding stage sends this
one instead to an endpoint that lists the API in its `apis` (`router.forwarding.upstream_format`),
so that nothing the translation would lose is lost: the API's own fields, content blocks and
signed thinking, and Anthropic's `anthropic-version` and `anthropic-beta` headers, passed
through unchanged. The privacy stage scans and redacts this body as it does the other
(`router.privacy.request_redaction.redact_native`): what leaves is what was checked.

A Responses request that continues a stored one (`previous_response_id`) can only be answered by
the endpoint that produced it: it has no Chat Completions form that means the same, and is routed
to that endpoint alone (`router.stages.affinity`). A Messages `count_tokens` request is a count,
not a generation: only an endpoint that speaks Messages can count it (`router.messages_ingress`).
Neither is ever answered from the cache (`cacheable`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

import orjson

from router.errors import InvalidRequest, Untranslatable
from router.wire.event_reader import EventReader

NativeApi = Literal["responses", "messages"]
# The format an answer is in as the pipeline hands it on: Chat Completions', or a native API's.
AnswerForm = Literal["chat", "responses", "messages"]

# The request headers an API's clients set that its endpoints read: passed through unchanged.
PASSED_HEADERS: Final[dict[NativeApi, tuple[str, ...]]] = {
    "responses": (),
    "messages": ("anthropic-version", "anthropic-beta"),
}
# Each API's path under an endpoint's base URL.
PATHS: Final[dict[NativeApi, str]] = {"responses": "/responses", "messages": "/messages"}


@dataclass(frozen=True, slots=True)
class NativeRequest:
    api: NativeApi
    body: dict[str, Any]  # as decoded; redacted by the privacy stage when the policy redacts
    headers: Mapping[str, str]  # `PASSED_HEADERS` the client sent
    # The stored response this one continues: only its producer can answer it.
    previous_response_id: str | None = None
    # A Messages `count_tokens` request: counted by the endpoint, nothing generated.
    count_tokens: bool = False
    # The first part its Chat Completions form was made without (`router.wire.untranslatable`):
    # only an endpoint that speaks its API can take it, and where none does this is the answer.
    untranslatable: Untranslatable | None = None

    @classmethod
    def of(
        cls,
        api: NativeApi,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        count_tokens: bool = False,
        untranslatable: Untranslatable | None = None,
    ) -> NativeRequest:
        passed = {name: headers[name] for name in PASSED_HEADERS[api] if name in headers}
        previous = body.get("previous_response_id") if api == "responses" else None
        stored = previous if isinstance(previous, str) else None
        return cls(api, body, passed, stored, count_tokens, untranslatable)

    @property
    def cacheable(self) -> bool:
        """Whether an answer to the request's chat form answers it: not for a continued
        response (it means more than its own input says), a count, or a request whose chat form
        was made without parts it has."""
        return (
            self.previous_response_id is None
            and not self.count_tokens
            and self.untranslatable is None
        )

    @property
    def path(self) -> str:
        """Its path under an endpoint's base URL."""
        return "/messages/count_tokens" if self.count_tokens else PATHS[self.api]

    def with_body(self, body: dict[str, Any]) -> NativeRequest:
        return replace(self, body=body)

    def body_for(self, upstream_model: str, *, store: bool | None = None) -> bytes:
        """The body an endpoint gets: the upstream's model name, and `store` when given (the
        tenant's `privacy.provider_storage`)."""
        body = {**self.body, "model": upstream_model}
        if store is not None:
            body["store"] = store
        try:
            return orjson.dumps(body)
        except orjson.JSONEncodeError:  # nested past what orjson writes (254 levels)
            raise InvalidRequest("The request body is nested too deeply to forward.") from None


def native_response_id(form: AnswerForm, body: Any) -> str | None:
    """The id of a Responses answer (a `Response`), which a later request may continue."""
    if form != "responses" or not isinstance(body, dict):
        return None
    response_id = body.get("id")
    return response_id if isinstance(response_id, str) and response_id else None


def native_stream_response_id(form: AnswerForm, head: bytes) -> str | None:
    """The id of a Responses stream's response, from its first bytes (its `response.created`
    event, which the forwarding stage has read through before relaying)."""
    if form != "responses":
        return None
    for event in EventReader().feed(head):
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            continue
        if isinstance(data, dict) and data.get("type") == "response.created":
            return native_response_id(form, data.get("response"))
    return None


def previous_response_not_found(response_id: str) -> InvalidRequest:
    """OpenAI's 400 for a `previous_response_id` no endpoint here can continue."""
    return InvalidRequest(
        f"Previous response with id '{response_id}' not found. This router passes a request on "
        "only to the endpoint that produced its previous response, and has no record of that "
        "one (not made through this router by an endpoint that stores responses, or "
        "forgotten): send the whole conversation in 'input' instead.",
        param="previous_response_id",
        code="previous_response_not_found",
    )
