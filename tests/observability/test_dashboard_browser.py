"""The built-in dashboard in a real browser: Playwright driving Debian's Chromium (headless, never
a downloaded browser) against a live router in front of the simulated cloud.

The page loads without a console error, its numbers and charts move as traffic flows, a region
taken down through the simulator shows as ejected, and a request opened shows its decision and
the waterfall of its stages and attempts. The screenshots go to `EDGE_ROUTER_SCREENSHOTS` when
set (`docs/` for the ones in docs/observability.md), else to the test's temporary folder.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.stack import ADMIN_HEADERS, ADMIN_TOKEN, Stack, running_stack
from tests.tenant_policies import key_of, write_policies

CHROMIUM = "/usr/bin/chromium"
# As the machine's notes say: no sandbox as root, and none of Chromium's own network chatter
# (this machine's network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Which river runs through Lisbon?"}],
}
LATENCY_FIRST = {"x-router-objective": "latency"}


@asynccontextmanager
async def _browser() -> AsyncIterator[Browser]:
    assert shutil.which("chromium"), "chromium is missing: `make system-deps` installs Debian's"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


async def _traffic(stack: Stack, requests: int) -> None:
    client = stack.client(default_headers=LATENCY_FIRST)
    for index in range(requests):
        if index % 2:
            stream = await client.chat.completions.create(**CHAT, stream=True)
            async for _ in stream:
                pass
        else:
            await client.chat.completions.create(**CHAT)


async def _canvas(page: Page, chart: str) -> str:
    data: str = await page.eval_on_selector(f"#{chart} canvas", "c => c.toDataURL()")
    return data


async def _failed_over(stack: Stack) -> dict[str, Any]:
    """A recent request whose first attempt, on us-east, failed and whose last one answered."""
    async with stack.http.get(f"{stack.url}/admin/dashboard", headers=ADMIN_HEADERS) as answer:
        recent = (await answer.json())["recent"]
    for row in recent:
        path = f"{stack.url}/admin/dashboard/requests/{row['id']}"
        async with stack.http.get(path, headers=ADMIN_HEADERS) as answer:
            detail: dict[str, Any] = await answer.json()
        attempts = detail["attempts"]
        if len(attempts) >= 2 and attempts[0]["endpoint"] == "us-east":
            return detail
    raise AssertionError("no recent request failed over from us-east")


def _screenshots(tmp_path: Path) -> Path:
    configured = os.environ.get("EDGE_ROUTER_SCREENSHOTS")
    return Path(configured) if configured else tmp_path


@pytest.mark.asyncio
async def test_the_dashboard_shows_traffic_an_ejected_region_and_a_requests_waterfall(
    tmp_path: Path,
) -> None:
    errors: list[str] = []
    async with running_stack() as stack, _browser() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 1500})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{stack.url}/dashboard")
        await page.fill("#token", ADMIN_TOKEN)
        await page.click("#connect")
        await page.wait_for_selector("#status.ok", timeout=10_000)
        await page.wait_for_selector("#chart-requests canvas")
        await asyncio.sleep(2.5)  # one refresh with no traffic
        quiet = await _canvas(page, "chart-requests")

        await _traffic(stack, 12)
        await page.wait_for_function(
            "() => document.querySelectorAll('#recent tbody tr').length >= 12", timeout=10_000
        )
        await page.wait_for_function(
            "() => parseFloat(document.querySelector('#tile-rate').textContent) > 0",
            timeout=10_000,
        )
        assert await _canvas(page, "chart-requests") != quiet  # the chart moved
        tenants = await page.inner_text("#tenants tbody")
        assert tenants.split("\t")[:2] == ["node", "12"]  # the node key, its 12 requests

        # A region taken down: its failures eject it, and the map says so.
        await stack.control("us-east", error_rate=1.0)
        await _traffic(stack, 12)
        await page.wait_for_selector(
            '.endpoint[data-endpoint="us-east"][data-state="ejected"]', timeout=15_000
        )
        await page.screenshot(path=str(_screenshots(tmp_path) / "dashboard.png"), full_page=True)

        # A request that failed over, opened: its decision and its waterfall.
        failed_over = await _failed_over(stack)
        await page.click(f'#recent tbody tr[data-id="{failed_over["id"]}"]')
        await page.wait_for_selector("#detail:not([hidden]) #waterfall .row")
        waterfall = await page.inner_text("#waterfall")
        assert "stage route" in waterfall and "stage forward" in waterfall
        first, last = failed_over["attempts"][0], failed_over["attempts"][-1]
        assert f"attempt us-east ({first['outcome']})" in waterfall
        assert f"attempt {last['endpoint']} (ok)" in waterfall
        assert "objective=latency" in await page.inner_text("#detail-reason")
        assert await page.locator("#waterfall .bar").count() >= 9
        await page.locator("#detail").screenshot(
            path=str(_screenshots(tmp_path) / "dashboard-request.png")
        )
    assert not errors, errors


@pytest.mark.asyncio
async def test_the_dashboards_data_needs_the_admin_token_and_its_page_holds_none() -> None:
    async with running_stack() as stack:
        async with stack.http.get(f"{stack.url}/admin/dashboard") as answer:
            assert answer.status in (401, 403)
        async with stack.http.get(f"{stack.url}/dashboard") as page:
            assert page.status == 200
            assert "default-src 'none'" in page.headers["Content-Security-Policy"]
            assert "admin-test-token" not in await page.text()
        async with stack.http.get(f"{stack.url}/dashboard/..%2Fserver.py") as escape:
            assert escape.status == 404
        async with stack.http.get(
            f"{stack.url}/admin/dashboard/requests/nope", headers=ADMIN_HEADERS
        ) as missing:
            assert missing.status == 404


@pytest.mark.asyncio
async def test_the_dashboard_shows_how_much_of_its_budget_a_tenant_has_committed(
    tmp_path: Path,
) -> None:
    policies = write_policies(
        tmp_path / "policies",
        {"acme": {"models": [{"alias": "gpt-4o-mini"}], "limits": {"daily_budget_usd": 1.0}}},
    )
    overrides = {"policies": {"directory": str(policies), "watch": False}}
    async with running_stack(overrides=overrides) as stack:
        await stack.client(api_key=key_of("acme")).chat.completions.create(**CHAT)
        async with stack.http.get(f"{stack.url}/admin/dashboard", headers=ADMIN_HEADERS) as answer:
            tenants = {t["tenant"]: t for t in (await answer.json())["tenants"]}
    assert 0 < tenants["acme"]["budget_used"] < 0.01  # a cent of a dollar, reserved or spent
