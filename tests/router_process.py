"""`edge-router serve` as a real process of its own, for the tests of what routers share and of
the process lifecycle (signals, drain, the edge worker, busy ports)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.redis_server import free_port
from tests.stack import ADMIN_TOKEN, ADMIN_TOKEN_ENV


@dataclass
class RouterProcess:
    url: str
    process: asyncio.subprocess.Process
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def write_config(config: dict[str, Any], directory: Path, name: str, port: int) -> Path:
    server = {"host": "127.0.0.1", "port": port, "access_log": False, **config.get("server", {})}
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**config, "server": server}, sort_keys=False))
    return path


async def start_router(
    config_path: Path, log_path: Path, workers: int = 1, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """`edge-router serve` with `--workers` (one unless a test is about several); `env` replaces
    the process environment (the admin token is added)."""
    with log_path.open("wb") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "router.cli",
            "serve",
            "--config",
            str(config_path),
            "--workers",
            str(workers),
            env={**(os.environ if env is None else env), ADMIN_TOKEN_ENV: ADMIN_TOKEN},
            stdout=log,
            stderr=log,
        )


@asynccontextmanager
async def running_router(
    config: dict[str, Any], directory: Path, name: str, workers: int = 1
) -> AsyncIterator[RouterProcess]:
    """`edge-router serve` as its own process, ready; stopped with SIGTERM if still running."""
    port = free_port()
    path = write_config(config, directory, name, port)
    log_path = directory / f"{name}.log"
    process = await start_router(path, log_path, workers)
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(url, process, log_path)
        yield RouterProcess(url, process, log_path)
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


@asynccontextmanager
async def router_process(config: dict[str, Any], directory: Path, name: str) -> AsyncIterator[str]:
    """`edge-router serve` as its own process; yields its base URL."""
    async with running_router(config, directory, name) as router:
        yield router.url


async def _wait_ready(url: str, process: asyncio.subprocess.Process, log_path: Path) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if process.returncode is not None:
                raise AssertionError(f"the router exited at start; see {log_path}")
            if await answers_ready(http, url):
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never became ready; see {log_path}")


async def answers_ready(http: aiohttp.ClientSession, url: str) -> bool:
    """Whether the router at `url` answers `/readyz` with 200 now."""
    try:
        async with http.get(f"{url}/readyz") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False
