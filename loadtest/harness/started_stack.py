"""What the runner and the disruptions use of a stack the suite started itself: the local one,
every part on loopback (`loadtest.harness.stack`), or the same parts over the network test bed,
each in a namespace of its own (`loadtest.harness.network_stack`). Every URL here is as the suite
reaches it, from its own namespace."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Protocol

from loadtest.network.testbed import TestBed


class StartedStack(Protocol):
    @property
    def base_url(self) -> str:
        """The router's OpenAI base URL (`.../v1`), where the load goes."""
        ...

    @property
    def router_url(self) -> str:
        """The router's root: `/metrics`, `/admin/...`."""
        ...

    @property
    def router_pid(self) -> int | None: ...

    @property
    def admin_token(self) -> str: ...

    @property
    def tenant_policy(self) -> Path:
        """The demo tenant's policy file in the router's (copied) policy directory."""
        ...

    @property
    def control_url(self) -> str | None:
        """The simulated cloud's one control API, for a phase's `fault:`; None when each region
        has its own (over the network)."""
        ...

    @property
    def region_names(self) -> tuple[str, ...]: ...

    @property
    def bed(self) -> TestBed | None:
        """The network test bed the stack runs over, whose links a disruption may cut or shape;
        None on loopback."""
        ...

    def region_control_url(self, region: str) -> str:
        """The region's resource of its cloud's control API (`.../control/regions/NAME`)."""
        ...

    def region_url(self, region: str) -> str:
        """The region's OpenAI base URL (`.../v1`)."""
        ...

    def start_redis(self) -> None:
        """Redis started again on its address (after a kill: empty)."""
        ...

    def signal_redis(self, signum: signal.Signals) -> None: ...

    def redis_answers(self, timeout_s: float = 0.2) -> bool: ...

    def edge_worker_pid(self) -> int | None: ...

    def edge_worker_answers(self) -> bool: ...
