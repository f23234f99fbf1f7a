"""The policy directory is watched: changes take effect whole, a broken file keeps its tenant's
last good policy and is reported, and requests flowing meanwhile never fail."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai
import pytest

from tests.stack import running_stack
from tests.tenant_policies import ONE_MODEL, admin_policies, policies_until, policy_yaml


def _policy(tenant: str, objective: str = "latency") -> str:
    return policy_yaml(tenant, f"{ONE_MODEL}routing:\n  objective: {objective}\n")


@pytest.mark.asyncio
async def test_policy_changes_are_picked_up_and_a_broken_file_keeps_the_last_good(
    tmp_path: Path,
) -> None:
    (tmp_path / "acme.yaml").write_text(_policy("acme"))
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

            (tmp_path / "zeta.yaml").write_text(_policy("zeta"))
            await policies_until(stack, lambda v: v["tenants"] == ["acme", "zeta"])

            (tmp_path / "acme.yaml").write_text(_policy("acme") + "bogus: 1\n")
            broken = await policies_until(stack, lambda v: v["problems"])
            assert broken["tenants"] == ["acme", "zeta"]  # the last good acme keeps serving
            (problem,) = broken["problems"]
            assert problem["file"].endswith("acme.yaml")
            assert (problem["line"], problem["field"]) == (7, "bogus")

            (tmp_path / "acme.yaml").write_text(_policy("acme", objective="cost"))
            await policies_until(stack, lambda v: not v["problems"])

            (tmp_path / "zeta.yaml").unlink()
            final = await policies_until(stack, lambda v: v["tenants"] == ["acme"])
            assert final["version"] > first["version"]
        finally:
            stop.set()
            await asyncio.gather(*workers)
        assert failures == []
        assert served > 0


@pytest.mark.asyncio
async def test_admin_policies_is_404_without_a_policy_directory() -> None:
    async with running_stack() as stack:
        body = await stack.admin("/admin/policies", expect_status=404)
        assert body["error"]["type"] == "invalid_request_error"


@pytest.mark.asyncio
async def test_an_edit_among_1000_tenants_parses_one_file_while_requests_flow(
    tmp_path: Path,
) -> None:
    for i in range(1000):
        (tmp_path / f"t{i:04}.yaml").write_text(_policy(f"t{i:04}"))
    async with running_stack(overrides={"policies": {"directory": str(tmp_path)}}) as stack:
        first = await admin_policies(stack)
        assert first["parsed_files"] == 1000 and len(first["tenants"]) == 1000
        client = stack.client(api_key="sk-t0001")
        (tmp_path / "t0500.yaml").write_text(_policy("t0500", objective="cost"))
        view = await policies_until(stack, lambda v: v["version"] > first["version"], timeout_s=20)
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert view["parsed_files"] == 1
        assert view["problems"] == [] and len(view["tenants"]) == 1000


@pytest.mark.asyncio
async def test_a_policy_that_loses_a_section_is_loaded_and_reported_as_a_change(
    tmp_path: Path,
) -> None:
    (tmp_path / "acme.yaml").write_text(_policy("acme") + "limits:\n  requests_per_minute: 5\n")
    async with running_stack(overrides={"policies": {"directory": str(tmp_path)}}) as stack:
        first = await admin_policies(stack)
        assert first["changes"] == []
        (tmp_path / "acme.yaml").write_text(_policy("acme"))  # the limits are gone
        view = await policies_until(stack, lambda v: v["version"] > first["version"])
        assert view["problems"] == []
        assert len(view["changes"]) == 1 and view["changes"][0].startswith(
            "acme: `limits` was removed"
        )
