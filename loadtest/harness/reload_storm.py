"""The policy reload storm: the demo tenant's policy file rewritten many times a second, valid
and invalid versions in turn, by write-and-rename as an editor saves or as Kubernetes updates a
ConfigMap volume, while the router's policy snapshot is sampled (`GET /admin/policies`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any, Final

import yaml

from loadtest.harness.disruption_actions import SAMPLE_EVERY_S, Action

_RELOADED_WAIT_S: Final = 10.0  # the router reloads 0.25 s after the files settle
_MAX_STORM_WRITES: Final = 1_000_000


class ReloadStorm(Action):
    """The demo tenant's policy file rewritten many times a second, valid and invalid versions in
    turn, by write-and-rename; the router's policy snapshot sampled meanwhile (`GET
    /admin/policies`): its version, and whether the tenant was ever missing from it."""

    async def prepare(self) -> None:
        self.path = self.stack.tenant_policy
        self.original = self.path.read_bytes()
        self.versions = _policy_versions(self.original)
        self.first_version = (await self._policies())["version"]
        self.writes = 0
        self.invalid_writes = 0
        self.tenant_missing_samples = 0
        self.refusing_samples = 0

    async def apply(self) -> None:
        self.applied = True
        if self.disruption.style == "kubernetes":
            _mount_as_configmap(self.path, self.original)
        self.watchers.append(asyncio.create_task(self._storm()))
        self.watchers.append(asyncio.create_task(self._sample_tenants()))

    async def undo(self) -> None:
        for watcher in self.watchers:
            watcher.cancel()
        await asyncio.gather(*self.watchers, return_exceptions=True)
        self.restored_version = (await self._policies())["version"]
        _write_and_rename(self.path, self.original, ".restore")
        _unmount_configmap(self.path.parent)

    async def finish(self) -> None:
        deadline = time.monotonic() + _RELOADED_WAIT_S
        policies = await self._policies()
        while time.monotonic() < deadline and not self._reloaded_clean(policies):
            await asyncio.sleep(SAMPLE_EVERY_S)
            policies = await self._policies()
        self.evidence.update(
            style=self.disruption.style,
            writes=self.writes,
            invalid_writes=self.invalid_writes,
            reloads=policies["version"] - self.first_version,
            tenant_missing_samples=self.tenant_missing_samples,
            refusing_samples=self.refusing_samples,
            reloaded_clean=self._reloaded_clean(policies),
        )

    def _reloaded_clean(self, policies: dict[str, Any]) -> bool:
        """Loaded after the original was put back, the tenant there and no file refused."""
        return (
            policies["version"] > self.restored_version
            and self.path.stem in policies["tenants"]
            and not policies["problems"]
        )

    async def _storm(self) -> None:
        interval_s = 1.0 / self.disruption.writes_per_s
        next_s = time.monotonic()
        while self.writes < _MAX_STORM_WRITES:
            valid = self.writes % 2 == 0
            text = self.versions[self.writes % len(self.versions)]
            if self.disruption.style == "kubernetes":
                _configmap_swap(self.path.parent, self.path.name, text, self.writes)
            else:
                _write_and_rename(self.path, text, f".{self.writes}")
            self.writes += 1
            self.invalid_writes += not valid
            next_s += interval_s
            await asyncio.sleep(max(0.0, next_s - time.monotonic()))

    async def _sample_tenants(self) -> None:
        """Every 0.25 s: whether the tenant is missing from the router's snapshot, and whether
        the snapshot refuses a file (it loaded an invalid version and kept the last good one)."""
        while True:
            policies = await self._policies()
            self.tenant_missing_samples += self.path.stem not in policies["tenants"]
            self.refusing_samples += bool(policies["problems"])
            await asyncio.sleep(SAMPLE_EVERY_S)

    async def _policies(self) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.stack.admin_token}"}
        policies: dict[str, Any] = await self.get_json(
            f"{self.stack.router_url}/admin/policies", headers
        )
        return policies


def _policy_versions(original: bytes) -> list[bytes]:
    """Valid versions (the routing objective changed) at even places, invalid ones at odd places:
    a half-written file that is no YAML, an unknown field, a field of the wrong type."""
    policy = yaml.safe_load(original)
    if not isinstance(policy, dict):
        raise RuntimeError("the tenant's policy file is not a mapping")

    def changed(**sections: Any) -> bytes:
        return yaml.safe_dump({**policy, **sections}, sort_keys=False).encode()

    routing = dict(policy.get("routing", {}))
    limits = dict(policy.get("limits", {}))
    half_written = original[: len(original) // 2] + b"\nmodels: [unclosed\n"
    return [
        changed(routing={**routing, "objective": "latency"}),
        half_written,
        changed(routing={**routing, "objective": "balanced"}),
        changed(limitz=limits),
        changed(routing={**routing, "objective": "cost"}),
        changed(limits={**limits, "requests_per_minute": "lots"}),
    ]


def _write_and_rename(path: Path, text: bytes, suffix: str) -> None:
    """As editors save: a temporary file beside it (never named `*.yaml`), renamed over it."""
    temporary = path.with_name(f".{path.name}{suffix}.tmp")
    temporary.write_bytes(text)
    os.replace(temporary, path)


# Kubernetes' AtomicWriter (a ConfigMap volume): the files are symlinks into `..data`, itself a
# symlink to a timestamped directory; an update writes a new directory and renames a new `..data`
# symlink over the old one, then removes the old directory.
_DATA: Final = "..data"


def _mount_as_configmap(path: Path, text: bytes) -> None:
    _configmap_swap(path.parent, path.name, text, -1)
    link = path.with_name(f".{path.name}.link.tmp")
    link.symlink_to(f"{_DATA}/{path.name}")
    os.replace(link, path)


def _configmap_swap(directory: Path, name: str, text: bytes, serial: int) -> None:
    previous = os.readlink(directory / _DATA) if (directory / _DATA).is_symlink() else None
    version = f"..storm_{serial + 1}"
    (directory / version).mkdir()
    (directory / version / name).write_bytes(text)
    link = directory / f"{_DATA}_tmp"
    link.symlink_to(version)
    os.replace(link, directory / _DATA)
    if previous is not None:
        shutil.rmtree(directory / previous, ignore_errors=True)


def _unmount_configmap(directory: Path) -> None:
    """The ConfigMap layout's directories and links removed (the file is a plain file again)."""
    for entry in directory.iterdir():
        if entry.name.startswith(".."):
            if entry.is_symlink():
                entry.unlink()
            else:
                shutil.rmtree(entry, ignore_errors=True)
