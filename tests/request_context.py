"""A request context for testing one stage without the stack: a chat request, parsed, with a
mocked aiohttp request and no span."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request
from opentelemetry.trace import INVALID_SPAN

from router.context import RequestContext
from router.policy.model import TenantPolicy
from router.wire.requests import Operation, parse_request


def chat_context(
    raw: bytes, *, tenant: str = "", policy: TenantPolicy | None = None
) -> RequestContext:
    """`raw`: the chat request's body, as a client sends it."""
    return RequestContext(
        request=make_mocked_request("POST", "/v1/chat/completions"),
        parsed=parse_request(Operation.CHAT, raw),
        span=INVALID_SPAN,
        started_s=0.0,
        deadline_s=60.0,
        tenant=tenant,
        policy=policy,
    )
