"""The suite exercises the production event loop."""

from __future__ import annotations

import asyncio

import pytest
import uvloop


@pytest.mark.asyncio
async def test_tests_run_on_uvloop_like_production() -> None:
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
