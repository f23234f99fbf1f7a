"""How a request ended, in one definition shared by the metrics, the dashboard and the kept traces.

A request that was refused or failed before its answer started has the error's code. One whose
answer started ends with a 200 all the same; what happened shows in its last attempt: a stream
that broke after its first byte (`<code>_mid_stream`), or a client that left
(`client_disconnected`, which is no failure of the router's).
"""

from __future__ import annotations

from router.context import HEDGE_CANCELLED, RequestContext

CLIENT_DISCONNECTED = "client_disconnected"
MID_STREAM = "_mid_stream"
# Attempt outcomes that are no failure of the endpoint.
ATTEMPT_NOT_FAILED = frozenset({"ok", HEDGE_CANCELLED, CLIENT_DISCONNECTED})


def error_type_of(ctx: RequestContext, error_type: str) -> str:
    """`error_type` (the refusal's or failure's code, "" for an answer), or for an answer, its
    last attempt's outcome when that broke the stream or lost the client."""
    if error_type:
        return error_type
    attempts = ctx.decision.attempts
    if attempts:
        last = attempts[-1].outcome
        if last.endswith(MID_STREAM) or last == CLIENT_DISCONNECTED:
            return last
    return ""


def outcome_of(error_type: str) -> str:
    """`ok`, `cancelled` (the client left) or `error`."""
    if not error_type:
        return "ok"
    return "cancelled" if error_type == CLIENT_DISCONNECTED else "error"


def failed(error_type: str) -> bool:
    return outcome_of(error_type) == "error"


def added_s(ctx: RequestContext, duration_s: float) -> float | None:
    """What the router itself added to the request: its time outside its upstream attempts;
    None for a hedged request, whose attempts overlap."""
    attempts = ctx.decision.attempts
    if ctx.decision.hedged_after_ms is not None or any(
        a.outcome == HEDGE_CANCELLED for a in attempts
    ):
        return None
    return max(0.0, duration_s - sum(a.duration_ms for a in attempts) / 1000.0)
