"""The app's long-lived state: built once by `build_app`, read by every handler through `STATE`."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from router.authentication import Authenticator
from router.cache.answer_cache import AnswerCache
from router.clock import Clock
from router.config.loader import LoadedNodeConfig
from router.edge_supervisor import EdgeWorkerSupervisor
from router.embeddings import RouterEmbedder
from router.endpoints.registry import Registry
from router.endpoints.transport import Transport
from router.limits.budget_watch import BudgetWatch
from router.limits.fallback import FallbackLimits
from router.limits.settlements import Settlements
from router.pipeline import Pipeline
from router.policy.hedge_budget import HedgeBudget
from router.policy.store import PolicyStore
from router.pool_membership import PoolMembership
from router.routing.shared_affinity import SharedAffinity
from router.telemetry.access_log import AccessLog
from router.telemetry.dashboard_feed import DashboardFeed
from router.telemetry.metrics import Metrics
from router.telemetry.otlp_metrics import OtlpMetricsPush
from router.telemetry.request_metrics import RequestMetrics
from router.telemetry.tracing import Tracing

JSON = "application/json"


@dataclass(frozen=True)
class RouterState:
    loaded: LoadedNodeConfig
    registry: Registry
    transport: Transport
    pipeline: Pipeline
    tracing: Tracing
    access_log: AccessLog | None
    policy_store: PolicyStore | None
    authenticate: Authenticator
    settlements: Settlements  # admission's, drained by the lifespan
    budgets: BudgetWatch  # admission's, read by /metrics and the dashboard
    cache: AnswerCache  # shared by the cache stage, the admin API, wrong-hit reports, lifespan
    limits: FallbackLimits
    hedge_budget: HedgeBudget
    edge_worker: EdgeWorkerSupervisor | None  # when the router starts the worker itself
    embedder: RouterEmbedder | None  # the worker's embedder in this process, when configured
    metrics: Metrics
    request_metrics: RequestMetrics  # recorded by the request handler, scraped at /metrics
    dashboard: DashboardFeed  # recorded by the request handler, read by /admin/dashboard
    metrics_push: OtlpMetricsPush | None  # with telemetry.metrics.otlp_endpoint
    # Conversations' endpoints shared through Redis (with the Redis limits backend); flushed and
    # closed by the lifespan.
    # Conversations' endpoints and responses' producers, when shared through Redis.
    shared_affinity: tuple[SharedAffinity, ...]
    clock: Clock
    models_created: int
    pool: PoolMembership | None  # when this process is one of `serve --workers N`


STATE = web.AppKey("router_state", RouterState)
