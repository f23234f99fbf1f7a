"""The policy store: the current tenant policies behind one reference, swapped whole.

A request takes the snapshot once and keeps it to the end, so a reload never changes the rules
under a request in flight. On every change in the policy directory the whole directory is loaded
again and a new snapshot replaces the old one. A file that fails validation is refused: it is
logged and reported (`GET /admin/policies`) with file, line and field, and the tenant keeps its
last good policy. A deleted file removes its tenant.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import watchfiles

from router.config.yaml_source import ConfigProblem
from router.policy.loader import contested_keys, load_policy_dir
from router.policy.model import TenantPolicy

log = logging.getLogger("edge_router.policy")

# watchfiles waits this long for more changes before reporting (an editor writes in bursts).
_DEBOUNCE_MS = 100


@dataclass(frozen=True)
class PolicySnapshot:
    version: int
    loaded_at: float  # wall-clock seconds, for operators
    policies: Mapping[str, TenantPolicy] = field(default_factory=dict)
    tenant_by_key: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[ConfigProblem, ...] = ()


class PolicyStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.snapshot = PolicySnapshot(0, time.time())
        self.reload()

    def reload(self) -> PolicySnapshot:
        loaded = load_policy_dir(self.directory)
        policies = dict(loaded.policies)
        previous = self.snapshot.policies
        for problem in loaded.problems:
            log.warning("policy refused: %s", problem)
            tenant = Path(problem.file).stem
            if tenant in previous and tenant not in policies and Path(problem.file).exists():
                policies[tenant] = previous[tenant]  # the last good version keeps serving
        self.snapshot = PolicySnapshot(
            version=self.snapshot.version + 1,
            loaded_at=time.time(),
            policies=MappingProxyType(policies),
            tenant_by_key=MappingProxyType(_owned_keys(policies)),
            problems=tuple(loaded.problems),
        )
        log.info(
            "policies v%d: %d tenants, %d problems",
            self.snapshot.version,
            len(policies),
            len(loaded.problems),
        )
        return self.snapshot

    async def watch(self) -> None:
        """Reload on every change until cancelled."""
        async for _changes in watchfiles.awatch(self.directory, debounce=_DEBOUNCE_MS, step=20):
            self.reload()

    def as_dict(self) -> dict[str, Any]:
        snapshot = self.snapshot
        return {
            "directory": str(self.directory),
            "version": snapshot.version,
            "loaded_at": snapshot.loaded_at,
            "tenants": sorted(snapshot.policies),
            "problems": [
                {"file": p.file, "line": p.line, "field": p.field, "message": p.message}
                for p in snapshot.problems
            ],
        }


def _owned_keys(policies: Mapping[str, TenantPolicy]) -> dict[str, str]:
    """Each key hash and its tenant, leaving out a hash listed by two tenants (also when one of
    them serves its last good version): neither gets it until it is fixed."""
    contested = contested_keys(policies)
    return {
        key: tenant
        for tenant, policy in policies.items()
        for key in policy.api_keys
        if key not in contested
    }
