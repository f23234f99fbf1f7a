"""The policy store: the current tenant policies behind one reference, swapped whole.

A request takes the snapshot once and keeps it to the end, so a reload never changes the rules
under a request in flight. On a change in the policy directory, once its files have stopped
changing for `_STABLE_S` (an editor or a ConfigMap update writes in steps, and a half-written file
may still be valid YAML), the directory is loaded again in a worker thread, parsing only the files
that changed, and a new snapshot replaces the old one (with 1,000 tenants one edit once held every
request for 2.1 s). A file that fails validation is refused: it is logged and reported
(`GET /admin/policies`) with file, line and field, and the tenant keeps its last good policy. A
policy that no longer has a section it had (its `limits`, say) is loaded, since that may be meant,
but logged and reported under `changes`. A deleted file removes its tenant.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import watchfiles

from router.config.yaml_source import ConfigProblem
from router.policy.loader import ParseCache, contested_keys, load_policy_dir
from router.policy.model import TenantPolicy

log = logging.getLogger("edge_router.policy")

# watchfiles waits this long for more changes before reporting (an editor writes in bursts).
_DEBOUNCE_MS = 100
# A reload waits until no policy file has changed for this long, checking at most `_STABLE_TRIES`
# times (a directory that never settles is loaded as it is then).
_STABLE_S = 0.25
_STABLE_TRIES = 40


@dataclass(frozen=True)
class PolicySnapshot:
    version: int
    loaded_at: float  # wall-clock seconds, for operators
    policies: Mapping[str, TenantPolicy] = field(default_factory=dict)
    tenant_by_key: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[ConfigProblem, ...] = ()
    # Sections a tenant's policy had in the previous snapshot and no longer has.
    changes: tuple[str, ...] = ()
    parsed_files: int = 0  # files parsed to make this snapshot (the rest were unchanged)


class PolicyStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.snapshot = PolicySnapshot(0, time.time())
        self._parsed: ParseCache = {}
        self.reload()

    def reload(self) -> PolicySnapshot:
        """Load the directory (what changed since the last load) and swap the snapshot. Runs in a
        worker thread when watching: the swap is one assignment, and reloads never overlap."""
        loaded = load_policy_dir(self.directory, self._parsed)
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
            changes=_removed_sections(previous, policies),
            parsed_files=loaded.parsed,
        )
        for change in self.snapshot.changes:
            log.warning("policy changed: %s", change)
        log.info(
            "policies v%d: %d tenants, %d problems, %d files parsed",
            self.snapshot.version,
            len(policies),
            len(loaded.problems),
            loaded.parsed,
        )
        return self.snapshot

    async def watch(self) -> None:
        """Reload on every change until cancelled, off the event loop."""
        async for _changes in watchfiles.awatch(self.directory, debounce=_DEBOUNCE_MS, step=20):
            await self._until_stable()
            await asyncio.to_thread(self.reload)

    async def _until_stable(self) -> None:
        """Wait until no policy file changed for `_STABLE_S` (bounded)."""
        for _ in range(_STABLE_TRIES):
            newest_s = await asyncio.to_thread(_newest_change_s, self.directory)
            quiet_s = time.time() - newest_s
            if quiet_s >= _STABLE_S:
                return
            await asyncio.sleep(_STABLE_S - quiet_s)

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
            "changes": list(snapshot.changes),
            "parsed_files": snapshot.parsed_files,
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


def _newest_change_s(directory: Path) -> float:
    """The latest modification time of the directory's policy files (0 when it has none)."""
    newest_s = 0.0
    for path in directory.glob("*.yaml"):
        try:
            newest_s = max(newest_s, path.stat().st_mtime)
        except OSError:
            continue  # deleted meanwhile
    return newest_s


def _removed_sections(
    previous: Mapping[str, TenantPolicy], current: Mapping[str, TenantPolicy]
) -> tuple[str, ...]:
    """A line for each section a tenant's file wrote before and no longer does."""
    changes = []
    for tenant, policy in current.items():
        before = previous.get(tenant)
        if before is None or before is policy:
            continue
        for section in sorted(before.model_fields_set - policy.model_fields_set):
            changes.append(
                f"{tenant}: `{section}` was removed; its defaults apply now (restore the section "
                "if that was not meant)"
            )
    return tuple(changes)
