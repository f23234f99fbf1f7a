"""How many router processes `edge-router serve` runs, and how each of them is configured.

`--workers N`, or by default the CPUs this process may use (`router.usable_cpus`). The workers of
one node must agree on what a client can tell apart: a tenant's limits and budget, a conversation's
endpoint, and the answer cache (a purge or a reported wrong hit must reach every worker's copy).
What the node config already shares through Redis (`limits.backend: redis`, `cache.shared`)
stays there; the rest goes to a node-local redis-server the supervisor starts
(`router.node_redis`), and each worker runs with its config pointed at it. Without redis-server
on the PATH, an explicit `--workers N` is refused with what to do, and the default runs one
process and says why, so a machine without it still starts the router as before.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from router.config.loader import LoadedNodeConfig
from router.config.model import NodeConfig
from router.node_redis import redis_server_path
from router.pool_membership import NODE_REDIS_SOCKET, PoolMembership
from router.usable_cpus import usable_cpus

log = logging.getLogger("edge_router.workers")


@dataclass(frozen=True)
class PoolPlan:
    workers: int
    config_path: Path
    log_level: str
    # The redis-server to start for what the config does not share; None: nothing to start.
    redis_server: str | None


class WorkersRefused(Exception):
    pass


def node_redis_holds(config: NodeConfig) -> tuple[str, ...]:
    """What the workers share through the node-local Redis: `limits` (with them, conversation
    affinity) unless the config's own Redis holds them, `cache` unless it is off or shared."""
    held: list[str] = []
    if config.limits.backend == "memory":
        held.append("limits")
    if config.cache.enabled and not config.cache.shared.enabled:
        held.append("cache")
    return tuple(held)


def plan_workers(
    requested: int | None,
    loaded: LoadedNodeConfig,
    config_path: Path,
    log_level: str,
    cpus: int | None = None,
) -> PoolPlan:
    """`requested`: `--workers`, None for the default: `cpus`, or else the usable CPUs."""
    workers = requested or cpus or usable_cpus()  # each at least 1 when given
    single = PoolPlan(1, config_path, log_level, None)
    if workers == 1:
        return single
    held = node_redis_holds(loaded.config)
    if not held:
        return PoolPlan(workers, config_path, log_level, None)
    redis_server = redis_server_path()
    if redis_server is not None:
        return PoolPlan(workers, config_path, log_level, redis_server)
    why = (
        f"{workers} workers must share their {' and '.join(held)}: install redis-server "
        "(Debian: apt-get install redis-server) for a node-local one, or share them through "
        "the node config's Redis (limits.backend: redis, cache.shared)"
    )
    if requested is not None:
        raise WorkersRefused(f"{why}; or run --workers 1")
    log.warning("%s; running one process (--workers 1)", why)
    return single


def as_pool_worker(loaded: LoadedNodeConfig, pool: PoolMembership) -> LoadedNodeConfig:
    """The node config as one worker of a pool runs it: the supervisor runs the edge worker, and
    what `node_redis_holds` goes to the node-local Redis in the pool's directory."""
    config = loaded.config
    node_redis_url = f"unix://{pool.directory / NODE_REDIS_SOCKET}"
    update: dict[str, object] = {
        "edge_worker": config.edge_worker.model_copy(update={"spawn": False})
    }
    secrets = loaded.secrets
    held = node_redis_holds(config)
    if "limits" in held:
        redis = config.limits.redis.model_copy(update={"url": node_redis_url, "url_env": None})
        update["limits"] = config.limits.model_copy(update={"backend": "redis", "redis": redis})
        secrets = dataclasses.replace(secrets, redis_url=None)
    if "cache" in held:
        shared = config.cache.shared
        redis = shared.redis.model_copy(update={"url": node_redis_url, "url_env": None})
        shared = shared.model_copy(update={"enabled": True, "redis": redis})
        update["cache"] = config.cache.model_copy(update={"shared": shared})
        secrets = dataclasses.replace(secrets, cache_redis_url=None)
    return dataclasses.replace(loaded, config=config.model_copy(update=update), secrets=secrets)
