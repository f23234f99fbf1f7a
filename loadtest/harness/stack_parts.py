"""What the local stack (`loadtest.harness.stack`) and the stack over the network test bed
(`loadtest.harness.network_stack`) share: their directory and processes, the router and Redis
parts, and what a `StartedStack` asks of those parts, answered the same way for both."""

from __future__ import annotations

import signal
from abc import ABC, abstractmethod
from pathlib import Path

from loadtest.harness.processes import Processes
from loadtest.harness.stack_config import DEMO_TENANT
from loadtest.harness.stack_redis import RedisServer
from loadtest.harness.stack_router import RouterProcess


class StackParts(ABC):
    """A stack's router and Redis; `router_url` is each stack's own."""

    def __init__(
        self, directory: Path, processes: Processes, router: RouterProcess, redis: RedisServer
    ) -> None:
        self.directory = directory
        self.processes = processes
        self.policy_dir = directory / "policies"
        self.router = router
        self.redis = redis

    @property
    @abstractmethod
    def router_url(self) -> str:
        """The router's root as the suite reaches it."""

    @property
    def base_url(self) -> str:
        return f"{self.router_url}/v1"

    @property
    def router_pid(self) -> int | None:
        return self.router.pid

    @property
    def admin_token(self) -> str:
        return self.router.admin_token

    @property
    def tenant_policy(self) -> Path:
        """The demo tenant's policy file in the router's (copied) policy directory."""
        return self.policy_dir / f"{DEMO_TENANT}.yaml"

    def start_redis(self) -> None:
        self.redis.start()

    def redis_answers(self, timeout_s: float = 0.2) -> bool:
        return self.redis.answers(timeout_s)

    def signal_redis(self, signum: signal.Signals) -> None:
        self.redis.signal(signum)

    def edge_worker_pid(self) -> int | None:
        return self.router.edge_worker_pid()

    def stop(self) -> None:
        """Every process stopped; a stopped Redis continued first, so that it can exit."""
        self.redis.release()
        self.processes.stop_all()
        self.router.stop_leftover_workers()
