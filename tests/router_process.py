"""`edge-router serve` as a real process of its own, for the tests of what routers share."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.redis_server import free_port
from tests.stack import ADMIN_TOKEN, ADMIN_TOKEN_ENV


@asynccontextmanager
async def router_process(config: dict[str, Any], directory: Path, name: str) -> AsyncIterator[str]:
    """`edge-router serve` as its own process; yields its base URL."""
    port = free_port()
    config = {**config, "server": {"host": "127.0.0.1", "port": port, "access_log": False}}
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    log = (directory / f"{name}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "router.cli",
        "serve",
        "--config",
        str(path),
        env={**os.environ, ADMIN_TOKEN_ENV: ADMIN_TOKEN},
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(url, process)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
        log.close()


async def _wait_ready(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            assert process.returncode is None, "the router exited at start"
            try:
                async with http.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never became ready")
