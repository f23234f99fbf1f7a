"""Prompts and completions for the tenants that opt in (`privacy.log_content`), PII redacted.

By default no log line, span or metric carries a prompt or a completion. A tenant may want them
(debugging, evaluation): then the request's span gets `gen_ai.input.messages` and
`gen_ai.output.messages` (OpenTelemetry's GenAI attributes, as JSON) and its access-log line
`input` and `output`, with every PII value replaced by its placeholder: the request's redacted
form, and the answer with the request's values concealed and any other PII redacted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from router.cache_request import cache_hit
from router.context import RequestContext, SlotKey
from router.privacy.findings import findings
from router.privacy.json_texts import NestedTooDeeply, map_texts
from router.privacy.redaction import Redactor
from router.privacy.request_redaction import CONTENT_KEYS

_NOT_TEXT = frozenset({"role", "type", "id", "tool_call_id", "name", "finish_reason"})

# The answer as the upstream wrote it (placeholders, never a redacted value), kept by the content
# log stage for a tenant that opted in.
LOGGED_ANSWER_SLOT: SlotKey[bytes] = SlotKey("content_log.answer")


@dataclass(frozen=True, slots=True)
class LoggedContent:
    input: Any  # the request's messages (or prompt, or input), redacted
    output: Any  # the answer's choices, redacted (None: no complete answer)

    def span_attributes(self) -> dict[str, str]:
        attributes = {"gen_ai.input.messages": orjson.dumps(self.input).decode()}
        if self.output is not None:
            attributes["gen_ai.output.messages"] = orjson.dumps(self.output).decode()
        return attributes


def logged_content(ctx: RequestContext) -> LoggedContent | None:
    """The request's content as it may be logged, or None unless the tenant opted in."""
    seen = findings(ctx)
    if not seen.log_content:
        return None
    found = seen.found
    body = found.body if found is not None else ctx.parsed.body
    content = next((body[f] for f in CONTENT_KEYS if f in body), None)
    redactor = found.redactor if found is not None else Redactor()
    return LoggedContent(content, _redacted_choices(ctx, redactor))


def _redacted_choices(ctx: RequestContext, redactor: Redactor) -> Any:
    answer = ctx.slot(LOGGED_ANSWER_SLOT)
    hit = cache_hit(ctx)
    if answer is None and hit is not None:
        answer = hit.body
    if answer is None:
        return None
    try:
        choices = orjson.loads(answer).get("choices")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    # The request's values get their placeholders back; other PII gets new ones.
    try:
        concealed = map_texts(choices, redactor.conceal, _NOT_TEXT)
        return map_texts(concealed, redactor.redact, _NOT_TEXT)
    except NestedTooDeeply:
        return None
