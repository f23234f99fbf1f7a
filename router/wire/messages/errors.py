"""Router errors as Anthropic's error bodies: `{"type": "error", "error": {"type", "message"}}`.

The error `type` follows the HTTP status as Anthropic documents its errors (400
invalid_request_error, 401 authentication_error, 402 billing_error, 403 permission_error, 404
not_found_error, 413 request_too_large, 429 rate_limit_error, 500 api_error, 504 timeout_error,
529 overloaded_error). Anthropic documents no 502 or 503: 503 is read as `overloaded_error`, the
router's "no capacity for this here now" (no eligible endpoint, no local model), which clients
handle like a 529; 502 (an upstream failed) as `api_error`, Anthropic's type for a failure on
its side that is not the client's to fix.
"""

from __future__ import annotations

import orjson

from router.errors import RouterError, status_of

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error_type(status: int) -> str:
    """Anthropic's error `type` for an HTTP status: other 4xx read as `invalid_request_error`
    (a request the client must change), other 5xx as `api_error`."""
    if status in _TYPES:
        return _TYPES[status]
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def anthropic_error_body(error: RouterError) -> bytes:
    """The error as Anthropic's JSON body, typed by the status the client receives."""
    return orjson.dumps(
        {
            "type": "error",
            "error": {"type": anthropic_error_type(status_of(error)), "message": error.message},
        }
    )
