"""The auth stage: who is asking, and the request's deadline.

It takes the identity the server found from the request's headers before reading its body
(`router.authentication.Authenticator.identify`, one decision made once) and writes who is asking
(`ctx.tenant`, `ctx.policy`) and the request's deadline, which the tenant's policy may set
(`routing.deadline_s`), so every stage after it reads one deadline, set once. A request half only.
"""

from __future__ import annotations

from router.answer import Answer
from router.authentication import Authenticator
from router.context import RequestContext


class AuthStage:
    name = "auth"
    terminal = False

    def __init__(self, authenticate: Authenticator, deadline_s: float) -> None:
        """`deadline_s`: the node's budget for a request (`routing.deadline_s`)."""
        self._authenticate = authenticate
        self._deadline_s = deadline_s

    async def on_request(self, ctx: RequestContext) -> Answer | None:
        identity = self._authenticate.identify(ctx.request)
        ctx.tenant = identity.tenant
        policy = ctx.policy = identity.policy
        budget_s = self._deadline_s
        if policy is not None and policy.routing.deadline_s is not None:
            budget_s = policy.routing.deadline_s
        ctx.deadline_s = ctx.started_s + budget_s
        return None
