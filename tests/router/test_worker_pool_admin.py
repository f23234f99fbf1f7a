"""`edge-router serve --workers 2` as real processes: the dashboard's data and `/admin/endpoints`
are the node's, whichever worker a connection reaches (router/telemetry/worker_dashboard.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.router.test_worker_pool import (
    SPREAD_REQUESTS,
    WORKERS,
    _chat_on_new_connection,
    _cloud,
    _pool,
)
from tests.stack import ADMIN_HEADERS


async def _admin_get(url: str) -> tuple[int, Any]:
    """GET an admin path on a connection of its own, so it reaches whichever worker accepts."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.get(url, headers=ADMIN_HEADERS) as response,
    ):
        body = await response.json() if response.status == 200 else None
        return response.status, body


@pytest.mark.asyncio
async def test_the_dashboard_counts_every_workers_requests_and_opens_each_from_any_worker(
    tmp_path: Path,
) -> None:
    async with _cloud() as cloud, _pool(cloud, tmp_path) as router:
        for _ in range(SPREAD_REQUESTS):
            assert (await _chat_on_new_connection(router.url)).status == 200
        status, dashboard = await _admin_get(f"{router.url}/admin/dashboard")
        assert status == 200
        assert dashboard["workers"] == {"configured": WORKERS, "answered": WORKERS}
        served = sum(sum(s["served_by"].values()) for s in dashboard["seconds"])
        assert served == SPREAD_REQUESTS
        (acme,) = [t for t in dashboard["tenants"] if t["tenant"] == "acme"]
        assert acme["requests"] == SPREAD_REQUESTS
        assert {card["worker"] for card in dashboard["endpoints"]} == {1, 2}
        recent = dashboard["recent"]
        assert len(recent) == SPREAD_REQUESTS
        # Each on a fresh connection: about half reach the worker that did not serve it.
        for row in recent:
            status, detail = await _admin_get(f"{router.url}/admin/dashboard/requests/{row['id']}")
            assert status == 200, row
            assert detail["id"] == row["id"] and detail["stages"]
        status, _ = await _admin_get(f"{router.url}/admin/dashboard/requests/{'0' * 32}")
        assert status == 404


@pytest.mark.asyncio
async def test_admin_endpoints_adds_every_workers_view_to_the_answering_workers(
    tmp_path: Path,
) -> None:
    async with _cloud() as cloud, _pool(cloud, tmp_path) as router:
        status, body = await _admin_get(f"{router.url}/admin/endpoints")
        assert status == 200
        assert [e["name"] for e in body["endpoints"]] == ["us-east"]
        assert "gpt-4o-mini" in body["aliases"]
        assert body["worker"] in (1, 2)
        assert body["workers"] == {"configured": WORKERS, "answered": WORKERS}
        views = body["by_worker"]
        assert [view["worker"] for view in views] == [1, 2]
        assert all([e["name"] for e in view["endpoints"]] == ["us-east"] for view in views)
