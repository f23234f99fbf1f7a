"""How a request ended, in one definition shared by the metrics, the dashboard and the kept traces.

A request that was refused or failed before its answer started has the error's code. One whose
answer started ends with a 200 all the same; what happened shows in its last attempt: a stream
that broke after its first byte (`<code>_mid_stream`), or a client that left
(`client_disconnected`, which is no failure of the router's).
"""

from __future__ import annotations

from router.context import RequestContext

CLIENT_DISCONNECTED = "client_disconnected"
MID_STREAM = "_mid_stream"


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
