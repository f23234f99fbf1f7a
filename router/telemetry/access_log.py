"""The access log: one JSON line per request with the routing decision.

Never carries prompts, completions or keys: only what was decided and measured.
"""

from __future__ import annotations

import logging

import orjson

from router.context import RequestContext

access_logger = logging.getLogger("edge_router.access")


def log_request(ctx: RequestContext, status: int, duration_ms: float) -> None:
    if not access_logger.isEnabledFor(logging.INFO):
        return
    decision = ctx.decision
    usage = ctx.usage
    access_logger.info(
        orjson.dumps(
            {
                "method": ctx.request.method,
                "path": ctx.request.path,
                "status": status,
                "duration_ms": round(duration_ms, 3),
                "model": ctx.parsed.model,
                "stream": ctx.parsed.stream,
                "served_by": decision.served_by,
                "endpoint": decision.endpoint,
                "region": decision.region,
                "upstream_model": decision.upstream_model,
                "reason": decision.reason_text(),
                "ttft_ms": None if decision.ttft_ms is None else round(decision.ttft_ms, 3),
                "input_tokens": usage.input_tokens if usage else None,
                "output_tokens": usage.output_tokens if usage else None,
                "usage_counted": usage.counted if usage else None,
            }
        ).decode()
    )
