"""Policies mounted from a Kubernetes ConfigMap reload live: the kubelet updates such a volume by
writing the new files into a fresh timestamped directory, pointing a `..data_tmp` symlink at it
and renaming that over `..data` (each key is a top-level symlink into `..data`, made once), then
removing the old directory (its AtomicWriter). The watcher must see that swap, reload once, and
keep a tenant's last good policy when the new version of its file is invalid, while requests
flow."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import openai
import pytest

from tests.stack import running_stack
from tests.tenant_policies import ONE_MODEL, admin_policies, policies_until, policy_yaml


def _policy(tenant: str, objective: str) -> str:
    return policy_yaml(tenant, f"{ONE_MODEL}routing:\n  objective: {objective}\n")


def _configmap_update(directory: Path, files: dict[str, str], serial: int) -> None:
    """What the kubelet does to a ConfigMap volume when the ConfigMap changes."""
    stamped = directory / f"..2026_12_07_17_00_{serial:02d}.{1000 + serial}"
    stamped.mkdir()
    for name, text in files.items():
        (stamped / name).write_text(text)
    data = directory / "..data"
    previous = os.readlink(data) if data.is_symlink() else None
    (directory / "..data_tmp").symlink_to(stamped.name)
    os.rename(directory / "..data_tmp", data)
    for name in files:
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(Path("..data") / name)
    if previous is not None:
        shutil.rmtree(directory / previous)


@pytest.mark.asyncio
async def test_a_configmap_swap_reloads_once_and_a_bad_version_keeps_the_last_good(
    tmp_path: Path,
) -> None:
    _configmap_update(tmp_path, {"acme.yaml": _policy("acme", "latency")}, serial=1)
    async with running_stack(overrides={"policies": {"directory": str(tmp_path)}}) as stack:
        client = stack.client()
        failures: list[BaseException] = []
        served = 0
        stop = asyncio.Event()

        async def steady_load() -> None:
            nonlocal served
            while not stop.is_set():
                try:
                    await client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                    )
                    served += 1
                except openai.OpenAIError as exc:
                    failures.append(exc)

        workers = [asyncio.create_task(steady_load()) for _ in range(3)]
        try:
            first = await admin_policies(stack)
            assert first["tenants"] == ["acme"] and first["problems"] == []

            # A new version, and a second tenant added to the same ConfigMap.
            _configmap_update(
                tmp_path,
                {"acme.yaml": _policy("acme", "cost"), "zeta.yaml": _policy("zeta", "cost")},
                serial=2,
            )
            swapped = await policies_until(stack, lambda v: v["tenants"] == ["acme", "zeta"])
            assert swapped["version"] == first["version"] + 1, swapped
            assert not (tmp_path / "..2026_12_07_17_00_01.1001").exists()
            # The swap's several steps were one reload: nothing more comes of them.
            await asyncio.sleep(1.0)
            assert (await admin_policies(stack))["version"] == swapped["version"]

            # An invalid version of acme's file: refused with its file, line and field, and acme
            # keeps its last good policy (zeta, unchanged, keeps its own).
            _configmap_update(
                tmp_path,
                {
                    "acme.yaml": _policy("acme", "cost") + "bogus: 1\n",
                    "zeta.yaml": _policy("zeta", "cost"),
                },
                serial=3,
            )
            broken = await policies_until(stack, lambda v: v["problems"])
            assert broken["version"] == swapped["version"] + 1, broken
            assert broken["tenants"] == ["acme", "zeta"]
            (problem,) = broken["problems"]
            assert problem["file"].endswith("acme.yaml")
            assert (problem["line"], problem["field"]) == (7, "bogus")
        finally:
            stop.set()
            await asyncio.gather(*workers)
        assert failures == []
        assert served > 0
