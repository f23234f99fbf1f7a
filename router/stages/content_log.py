"""The content log stage: keeps the answer of a tenant that opted in to content in its logs.

For a tenant whose policy has `privacy.log_content`, the upstream's answer is kept as it passes
(`router.cache.answer_capture`: a JSON body, or a stream assembled), for its span and
access-log line (`router.telemetry.content`, which redacts it). It sits after the privacy
stage, so that on the way back it sees the answer before the placeholders are restored: a value
the request's redaction replaced is never logged. A response half only; its state, the answer
kept, is in `LOGGED_ANSWER_SLOT`.
"""

from __future__ import annotations

import functools

from router.answer import Answer
from router.cache.answer_capture import AnswerCapture
from router.chat_view import read_as_chat
from router.context import RequestContext
from router.privacy.findings import findings
from router.telemetry.content import LOGGED_ANSWER_SLOT


class ContentLogStage:
    name = "content_log"
    terminal = False

    async def on_request(self, ctx: RequestContext) -> Answer | None:
        return None

    def on_answer(self, ctx: RequestContext, answer: Answer) -> None:
        if findings(ctx).log_content and answer.source == "upstream":
            read_as_chat(answer, AnswerCapture(functools.partial(_keep, ctx)), ctx.parsed.model)


def _keep(ctx: RequestContext, answer: bytes) -> None:
    ctx.put(LOGGED_ANSWER_SLOT, answer)
