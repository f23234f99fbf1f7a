"""What `/readyz` waits for, in words an operator can act on.

Ready means a request for any configured model can be served now: every local model (an
endpoint of locality `edge`, normally the worker this router starts) has answered at least once,
the embedder the router loads for itself is open, and at least one endpoint is available. A
Kubernetes Service sends traffic only to ready pods, and the local demo's users wait for it, so
"ready" while the worker is still loading its models would hand out 502s.

After start-up, a local endpoint that breaks is the health board's business (ejection, fail-over
to the cloud): one crashed worker must not take the whole PoP out of its load balancer.
"""

from __future__ import annotations

from router.embeddings import RouterEmbedder
from router.endpoints.registry import Registry


def waiting_for(registry: Registry, embedder: RouterEmbedder | None) -> list[str]:
    """Everything the router still waits for before it is ready; empty when ready."""
    waiting: list[str] = []
    if embedder is not None and not embedder.loaded:
        waiting.append("the router's embedder is not loaded yet")
    for endpoint in registry.endpoints.values():
        if endpoint.settings.locality != "edge" or registry.health.get(endpoint.name).answered:
            continue
        models = ", ".join(endpoint.models)
        waiting.append(f"local endpoint {endpoint.name} ({models}) has not answered yet")
    if not registry.any_available():
        waiting.append("no endpoint is available")
    return waiting
