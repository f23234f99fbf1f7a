"""Authentication: the request's key identifies its tenant and, with it, the tenant's policy.

Tenants with policy files are found by the SHA-256 of the presented key in the current policy
snapshot (taken once per request, so a reload never changes the rules mid-request). The node
config's `auth.api_keys` are still accepted, as the tenant `node` with no policy, compared in
constant time. Keys are never logged.

The server authenticates a request from its headers alone, before it reads a byte of the body
(docs/security.md, "Front door"), through `Authenticator.identify`; the auth stage
(`router.stages.auth`) then takes the identity found there. Both go through `identify`, so there
is one decision, made once. The `Authenticator` is an owner built once by the app.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from router.config.model import AuthSettings
from router.errors import AuthenticationFailed
from router.policy.keys import hash_key
from router.policy.model import TenantPolicy
from router.policy.store import PolicyStore

NODE_TENANT = "node"


@dataclass(frozen=True, slots=True)
class Identity:
    tenant: str
    policy: TenantPolicy | None


IDENTITY = web.RequestKey("router_identity", Identity)


class Authenticator:
    """Who a request is: `identify(request)` decides once per request and keeps the answer on it."""

    def __init__(self, settings: AuthSettings, store: PolicyStore | None) -> None:
        self._node_keys = tuple(key.encode() for key in settings.api_keys)
        self._store = store

    def __call__(self, headers: Mapping[str, str]) -> Identity:
        """The caller's identity, or 401 unless the request carries a known key: in the
        Authorization header (Bearer, as OpenAI's clients send it), else in `x-api-key` (as
        Anthropic's clients send it)."""
        scheme, _, key = headers.get("Authorization", "").partition(" ")
        key = key.strip() if scheme.lower() == "bearer" else ""
        if not key:
            key = headers.get("x-api-key", "").strip()
        if not key:
            raise AuthenticationFailed(
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
                "or in an x-api-key header.",
                code=None,
            )
        if self._store is not None:
            snapshot = self._store.snapshot
            tenant = snapshot.tenant_by_key.get(hash_key(key))
            if tenant is not None:
                return Identity(tenant, snapshot.policies[tenant])
        presented = key.encode()
        if any(hmac.compare_digest(presented, accepted) for accepted in self._node_keys):
            return Identity(NODE_TENANT, None)
        raise AuthenticationFailed("Incorrect API key provided.")

    def identify(self, request: web.Request) -> Identity:
        """The request's identity, decided on its first call and kept on the request."""
        identity = request.get(IDENTITY)
        if identity is None:
            identity = self(request.headers)
            request[IDENTITY] = identity
        return identity
