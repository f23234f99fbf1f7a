"""`python -m loadtest.mock_cloud --config FILE [--seed N]`: serve until SIGINT or SIGTERM.

The first lines on stdout name every listening address, one per line and flushed, so a parent
process that asked for port 0 can read the ports it got:

    region us-east listening on http://127.0.0.1:9101/v1
    control on http://127.0.0.1:9100
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from .cloud import MockCloud
from .settings import CloudSettings, SettingsError, load_cloud_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.mock_cloud",
        description="Simulated multi-region OpenAI and Anthropic cloud with a control API.",
    )
    parser.add_argument("--config", type=Path, required=True, help="YAML settings file")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated randomness")
    args = parser.parse_args(argv)
    try:
        settings = load_cloud_settings(args.config)
    except (OSError, SettingsError) as exc:
        print(exc, file=sys.stderr)
        return 2
    _use_uvloop()
    try:
        asyncio.run(_serve(settings, args.seed))
    except OSError as exc:  # most likely a port that is already taken
        print(f"mock cloud could not start: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(settings: CloudSettings, seed: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with MockCloud(settings, seed=seed) as cloud:
        for region in cloud.regions.values():
            print(f"region {region.name} listening on {region.base_url}", flush=True)
        print(f"control on {cloud.control_url}", flush=True)
        await stop.wait()


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


if __name__ == "__main__":
    sys.exit(main())
