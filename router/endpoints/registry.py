"""The runtime catalogue: endpoints, the models they serve, and the public aliases.

Built once from the node config. Each `Endpoint` owns the state that outlives a request (its RTT
estimate, per-model latency estimators, in-flight counts); health lives on the `HealthBoard`. The
route stage reads this; the forward stage and the prober write measurements into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from router.clock import Clock
from router.config.model import EndpointModel, EndpointSettings, NodeConfig
from router.connection_budget import endpoint_concurrency
from router.endpoints.capacity import CapacityWaiters
from router.endpoints.estimators import EndpointModelStats, RttEwma
from router.endpoints.health import HealthBoard


class Endpoint:
    __slots__ = (
        "base_url",
        "in_flight",
        "max_concurrency",
        "model_stats",
        "models",
        "name",
        "region",
        "rtt",
        "settings",
        "tags",
    )

    def __init__(self, settings: EndpointSettings, config: NodeConfig, clock: Clock) -> None:
        self.settings = settings
        self.name = settings.name
        self.region = settings.region
        self.tags = frozenset(settings.tags)
        self.base_url = settings.base_url_str
        self.max_concurrency = endpoint_concurrency(settings, config.server)
        worker = config.edge_worker
        if worker.spawn and settings.locality == "edge":
            # The worker the router runs holds at most a batch and its queue; more would be 429s.
            self.max_concurrency = min(self.max_concurrency, worker.max_batch + worker.queue)
        self.in_flight = 0
        self.rtt = RttEwma(config.estimators.rtt_alpha)
        self.models: dict[str, EndpointModel] = {m.name: m for m in settings.models}
        self.model_stats: dict[str, EndpointModelStats] = {
            m.name: EndpointModelStats(config.estimators, clock) for m in settings.models
        }

    def as_dict(self, health: HealthBoard) -> dict[str, Any]:
        return {
            "name": self.name,
            "region": self.region,
            "base_url": self.base_url,
            "tags": sorted(self.tags),
            "max_concurrency": self.max_concurrency,
            "in_flight": self.in_flight,
            "rtt": self.rtt.as_dict(),
            "health": health.get(self.name).as_dict(),
            "models": {
                name: {
                    "input_price_per_mtok": self.models[name].input_price_per_mtok,
                    "output_price_per_mtok": self.models[name].output_price_per_mtok,
                    **stats.as_dict(self.rtt.value_ms),
                }
                for name, stats in self.model_stats.items()
            },
        }


@dataclass(frozen=True, slots=True)
class Target:
    """One way to serve a public model: this endpoint, under this upstream model name."""

    endpoint: Endpoint
    upstream_model: str
    pricing: EndpointModel
    stats: EndpointModelStats


class Registry:
    def __init__(self, config: NodeConfig, clock: Clock) -> None:
        self.endpoints: dict[str, Endpoint] = {
            e.name: Endpoint(e, config, clock) for e in config.endpoints
        }
        self.health = HealthBoard(config.health, clock, self.endpoints)
        self.capacity = CapacityWaiters(config.routing.capacity_queue)
        self.clock = clock
        self.aliases: dict[str, tuple[Target, ...]] = (
            self._explicit_aliases(config) if config.models else self._implicit_aliases()
        )

    def _target(self, endpoint_name: str, upstream_model: str) -> Target:
        endpoint = self.endpoints[endpoint_name]
        return Target(
            endpoint,
            upstream_model,
            endpoint.models[upstream_model],
            endpoint.model_stats[upstream_model],
        )

    def _explicit_aliases(self, config: NodeConfig) -> dict[str, tuple[Target, ...]]:
        return {
            alias.alias: tuple(self._target(t.endpoint, t.model) for t in alias.targets)
            for alias in config.models
        }

    def _implicit_aliases(self) -> dict[str, tuple[Target, ...]]:
        aliases: dict[str, list[Target]] = {}
        for endpoint in self.endpoints.values():
            for model in endpoint.models:
                aliases.setdefault(model, []).append(self._target(endpoint.name, model))
        return {alias: tuple(targets) for alias, targets in aliases.items()}

    def targets(self, alias: str) -> tuple[Target, ...] | None:
        return self.aliases.get(alias)

    def any_available(self) -> bool:
        return any(self.health.available(name) for name in self.endpoints)

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoints": [e.as_dict(self.health) for e in self.endpoints.values()],
            "aliases": {
                alias: [{"endpoint": t.endpoint.name, "model": t.upstream_model} for t in targets]
                for alias, targets in self.aliases.items()
            },
        }
