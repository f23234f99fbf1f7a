"""Authentication: the request must carry a key the node accepts.

For now the node config lists the accepted keys; tenant policy files (with hashed keys and a tenant
per key) replace this lookup in the tenants issue. Keys are compared in constant time and never
logged. The same check guards the pipeline (`AuthStage`) and the model listing routes.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from aiohttp import web

from router.config.model import AuthSettings
from router.context import RequestContext
from router.errors import AuthenticationFailed


class KeyCheck:
    def __init__(self, settings: AuthSettings) -> None:
        self._keys = tuple(key.encode() for key in settings.api_keys)

    def __call__(self, headers: Mapping[str, str]) -> None:
        """Raise 401 unless the Authorization header carries an accepted Bearer key."""
        scheme, _, key = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise AuthenticationFailed(
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code=None,
            )
        presented = key.strip().encode()
        if not any(hmac.compare_digest(presented, accepted) for accepted in self._keys):
            raise AuthenticationFailed("Incorrect API key provided.")


class AuthStage:
    name = "auth"
    terminal = False

    def __init__(self, check: KeyCheck) -> None:
        self._check = check

    async def __call__(self, ctx: RequestContext) -> web.StreamResponse | None:
        self._check(ctx.request.headers)
        return None
