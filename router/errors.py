"""The router's one error hierarchy.

Every error knows its HTTP status, the OpenAI error `type` and `code` a client expects, who
caused it (the client, an upstream, or the router itself) and whether another attempt elsewhere
may succeed. Failover reads `retryable`; it never parses messages. The error middleware in
`server.py` is the only place that turns these into HTTP responses.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import orjson

Origin = Literal["client", "upstream", "router"]


class RouterError(Exception):
    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "server_error"
    origin: ClassVar[Origin] = "router"
    retryable: ClassVar[bool] = False
    default_code: ClassVar[str | None] = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code

    def headers(self) -> dict[str, str]:
        return {}

    def to_body(self) -> bytes:
        return orjson.dumps(
            {
                "error": {
                    "message": self.message,
                    "type": self.error_type,
                    "param": self.param,
                    "code": self.code,
                }
            }
        )


# --- caused by the client -------------------------------------------------------------------


class ClientError(RouterError):
    origin = "client"
    error_type = "invalid_request_error"


class InvalidRequest(ClientError):
    status = 400


class Untranslatable(InvalidRequest):
    """A field, tool or item of a Responses or Messages request with no Chat Completions form:
    the request may still go, in its own API, to an endpoint that speaks it
    (`router.wire.untranslatable`), and gets this 400 where none does."""


class AuthenticationFailed(ClientError):
    status = 401
    default_code = "invalid_api_key"


class PermissionDenied(ClientError):
    status = 403
    default_code = "permission_denied"


class NotFound(ClientError):
    status = 404
    default_code = "not_found"


class ModelNotFound(NotFound):
    default_code = "model_not_found"


class MethodNotAllowed(ClientError):
    status = 405
    default_code = "method_not_allowed"

    def __init__(self, message: str, *, allow: str) -> None:
        super().__init__(message)
        self.allow = allow

    def headers(self) -> dict[str, str]:
        return {"Allow": self.allow} if self.allow else {}


class PayloadTooLarge(ClientError):
    status = 413
    default_code = "request_too_large"


class HeadersTooLarge(ClientError):
    """A request line, a header field or the whole head is over the front door's limits."""

    status = 431
    default_code = "request_header_fields_too_large"


class UnsupportedMediaType(ClientError):
    status = 415
    default_code = "unsupported_media_type"


# --- decided by the router --------------------------------------------------------------------


class LimitExceeded(ClientError):
    """The tenant is over one of its policy's limits (429). `retry_after_s` says when the limit
    admits this request again; `headers` carry it as `Retry-After` plus OpenAI's `x-ratelimit-*`."""

    status = 429

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.extra_headers = extra_headers or {}

    def headers(self) -> dict[str, str]:
        # Whole seconds, rounded up, never 0 (RFC 9110 delay-seconds); `retry-after-ms` is the
        # precise value, which the openai client prefers when present.
        whole_s = max(1, math.ceil(self.retry_after_s))
        return {
            **self.extra_headers,
            "retry-after": str(whole_s),
            "retry-after-ms": str(max(1, math.ceil(self.retry_after_s * 1000))),
        }


class RateLimited(LimitExceeded):
    """Over requests or tokens per minute, or concurrent requests: waiting helps."""

    error_type = "requests"
    default_code = "rate_limit_exceeded"


class TokensRateLimited(RateLimited):
    """Over tokens per minute (OpenAI's type for it is `tokens`)."""

    error_type = "tokens"


class QuotaExceeded(LimitExceeded):
    """Over the daily or monthly budget: waiting until the period ends helps."""

    error_type = "insufficient_quota"
    default_code = "insufficient_quota"


class CacheMiss(RouterError):
    """`x-router-cache: only-if-cached` and nothing cached answers the request (504, as RFC 9111
    has it for only-if-cached)."""

    status = 504
    error_type = "cache_miss"
    default_code = "cache_miss"


class SharedCacheUnavailable(RouterError):
    """The shared cache's Redis did not answer an admin operation (the local part was done)."""

    status = 503
    error_type = "service_unavailable"
    default_code = "shared_cache_unavailable"


class PiiBlocked(InvalidRequest):
    """The tenant's policy blocks requests that carry PII (`privacy.on_pii: block`). The message
    names the kinds found, never a value."""

    default_code = "pii_detected"


class NoLocalModel(RouterError):
    """The request must be answered at the edge (`privacy.on_pii: local-only`), and no local
    model here can serve its alias."""

    status = 503
    error_type = "service_unavailable"
    default_code = "no_local_model"


class NoEligibleEndpoint(RouterError):
    """No endpoint may serve this request (model, privacy tags, region). Retrying will not help
    until the catalogue or health changes, so it is a 503 but not retried here."""

    status = 503
    error_type = "service_unavailable"
    default_code = "no_eligible_endpoint"


# --- caused by an upstream ---------------------------------------------------------------------


class UpstreamError(RouterError):
    """An attempt at one endpoint failed. `retryable` says whether another endpoint may be tried;
    the last one raised reaches the client."""

    origin = "upstream"
    status = 502
    error_type = "upstream_error"
    default_code = "upstream_error"
    retryable = True

    def __init__(self, message: str, *, endpoint: str, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.endpoint = endpoint


class UpstreamConnectError(UpstreamError):
    default_code = "upstream_connect_error"


class UpstreamTimeout(UpstreamError):
    status = 504
    error_type = "timeout"
    default_code = "upstream_timeout"


class UpstreamStatusError(UpstreamError):
    """The upstream answered with a status that another endpoint may not repeat (5xx, 429, or a
    credential problem of the router's own key). 429 reaches the client as 429."""

    def __init__(
        self, message: str, *, endpoint: str, upstream_status: int, retry_after: str | None = None
    ) -> None:
        super().__init__(message, endpoint=endpoint, code=f"upstream_status_{upstream_status}")
        self.upstream_status = upstream_status
        self.retry_after = retry_after

    @property
    def client_status(self) -> int:
        return 429 if self.upstream_status == 429 else 502

    def headers(self) -> dict[str, str]:
        return {"retry-after": self.retry_after} if self.retry_after else {}


class UpstreamStreamError(UpstreamError):
    """The upstream began a stream, then sent an error in band before any content
    (`router.wire.stream_start`): a failure before the first byte, failed over."""

    default_code = "upstream_stream_error"


class LowConfidence(UpstreamError):
    """The edge worker answered, but too unsure of it for the tenant's cascade: the request goes
    on to the next endpoint (the cloud). The edge did its job, so this is no health failure."""

    default_code = "low_confidence"


class UpstreamRejected(UpstreamError):
    """The upstream refused the request itself (a 4xx other than 401/403/429). Another endpoint
    would refuse it too, so it is not retried; its status and message reach the client."""

    retryable = False

    def __init__(self, message: str, *, endpoint: str, upstream_status: int, body: bytes) -> None:
        super().__init__(message, endpoint=endpoint, code=f"upstream_status_{upstream_status}")
        self.upstream_status = upstream_status
        self.body = body

    def to_body(self) -> bytes:
        """The upstream's own error body when it is an OpenAI error object (its message and
        `param` are what the client needs to fix the request); ours otherwise."""
        try:
            relayed = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return super().to_body()
        error = relayed.get("error") if isinstance(relayed, dict) else None
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            return super().to_body()
        return orjson.dumps(
            {
                "error": {
                    "message": error["message"],
                    "type": error.get("type") or "invalid_request_error",
                    "param": error.get("param"),
                    "code": error.get("code"),
                }
            }
        )


def status_of(error: RouterError) -> int:
    if isinstance(error, UpstreamStatusError):
        return error.client_status
    if isinstance(error, UpstreamRejected):
        return error.upstream_status
    return error.status


class RequestTimeout(ClientError):
    """The client stalled sending its request body (`server.body_read_timeout_s`); the connection
    is closed after this answer."""

    status = 408
    default_code = "request_timeout"
