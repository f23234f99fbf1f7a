"""The cascade's judgement of a local answer: keep it, or let the cloud answer instead.

For a tenant whose policy cascades an alias (`local.cascade`), the edge worker answers a
non-streaming request first, with token log-probabilities. The answer is kept when the 10th
percentile of those log-probabilities reaches the policy's `min_confidence`; otherwise
`LowConfidence` sends the request on to the next endpoint in the plan, the cloud, and the local
answer's tokens are counted on top of the cloud's. docs/edge-worker.md has the measurement behind
the statistic and the default threshold. Log-probabilities the client did not ask for are removed
from the answer it gets.

`CascadeJudge` is given to the forwarding stage when the app is built (its `AttemptJudge`): the
forwarding stage asks it which attempts it judges and lets it refuse their answers, without
knowing what a cascade is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from router.context import RequestContext, SlotKey
from router.endpoints.registry import Target
from router.errors import LowConfidence
from router.wire.usage import Usage, usage_from_body

CONFIDENCE_PERCENTILE = 10


@dataclass(slots=True)
class CascadeTry:
    """A request the route stage sent to the cascade: the confidence its local answer needs,
    and the tokens of a local answer that did not reach it (counted on top of the cloud's)."""

    min_confidence: float
    rejected_usage: Usage | None = None


CASCADE_SLOT: SlotKey[CascadeTry] = SlotKey("cascade")


def rejected_usage(ctx: RequestContext) -> Usage | None:
    """The tokens of a local answer the cascade did not keep, or None."""
    cascade = ctx.slot(CASCADE_SLOT)
    return None if cascade is None else cascade.rejected_usage


def confidence(answer: Any) -> float | None:
    """The 10th percentile of the answer's token log-probabilities, or None without any."""
    try:
        content = answer["choices"][0]["logprobs"]["content"]
        values = [float(token["logprob"]) for token in content]
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return float(np.percentile(values, CONFIDENCE_PERCENTILE)) if values else None


def keep_or_escalate(ctx: RequestContext, answer: Any, body: bytes, endpoint: str) -> bytes:
    """The bytes to send the client when the local answer is kept; raises `LowConfidence`."""
    cascade = ctx.slot(CASCADE_SLOT)
    assert cascade is not None
    threshold = cascade.min_confidence
    score = confidence(answer)
    if score is None or score < threshold:
        cascade.rejected_usage = usage_from_body(answer)
        shown = "none" if score is None else f"{score:.2f}"
        raise LowConfidence(
            f"endpoint {endpoint}'s answer had confidence {shown}, below {threshold:.2f}",
            endpoint=endpoint,
        )
    if ctx.parsed.body.get("logprobs") is True:
        return body
    for choice in answer.get("choices", []):
        if isinstance(choice, dict):
            choice["logprobs"] = None
    return orjson.dumps(answer)


class CascadeJudge:
    """The cascade as the forwarding stage sees it: which attempts it judges, and its verdict."""

    def asks_logprobs(self, ctx: RequestContext, target: Target) -> bool:
        """The cascade's local try: a tenant cascading, an edge endpoint."""
        return ctx.slot(CASCADE_SLOT) is not None and target.endpoint.settings.locality == "edge"

    def judge(self, ctx: RequestContext, endpoint: str, answer: Any, body: bytes) -> bytes:
        return keep_or_escalate(ctx, answer, body, endpoint)
