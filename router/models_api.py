"""`GET /v1/models` and `GET /v1/models/{id}`: the models the caller's key may use.

Like OpenAI, both need a valid key. A tenant with a policy sees the aliases its policy lists that
this node serves; a node key sees every alias. Another tenant's models are a 404, as on OpenAI.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from router.errors import ModelNotFound
from router.policy.model import TenantPolicy
from router.state import JSON, STATE


def _visible_aliases(request: web.Request) -> list[str]:
    state = request.app[STATE]
    identity = state.authenticate(request.headers)
    served = state.registry.aliases
    policy: TenantPolicy | None = identity.policy
    if policy is None:
        return sorted(served)
    return sorted({rule.alias for rule in policy.models if rule.alias in served})


def _model_object(model_id: str, created: int) -> dict[str, object]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": "edge-router"}


async def list_models(request: web.Request) -> web.Response:
    created = request.app[STATE].models_created
    data = [_model_object(alias, created) for alias in _visible_aliases(request)]
    return web.Response(body=orjson.dumps({"object": "list", "data": data}), content_type=JSON)


async def get_model(request: web.Request) -> web.Response:
    model_id = request.match_info["model_id"]
    if model_id not in _visible_aliases(request):
        raise ModelNotFound(
            f"The model `{model_id}` does not exist or you do not have access to it.",
            param="model",
        )
    body = orjson.dumps(_model_object(model_id, request.app[STATE].models_created))
    return web.Response(body=body, content_type=JSON)


def add_model_routes(app: web.Application) -> None:
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model_id}", get_model)
